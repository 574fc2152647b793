// The page: draw a digit, the .vcz model guesses it after every stroke, all in the browser.
import { greyPixels, normalizePixels, prepareDigit } from "./digit.js";
import { IMAGE_SIZE, load } from "./vcz.js";

const DEFAULT_MODEL = "lenet300.vcz"; // beside this page; ?model=other.vcz loads another
const MODEL_NAMES = { lenet300: "LeNet-300-100", lenet5: "LeNet-5" };
const $ = (id) => document.getElementById(id);
const pad = $("pad"), pen = pad.getContext("2d", { willReadFrequently: true });
const number = (value, digits = 0) =>
  value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const milliseconds = (ms) => `${number(ms, ms < 1 ? 3 : 1)} ms`;

/** What the page holds, for the console and the tests. */
const page = window.vczPage = { runtime: null, drawn: false, pixels: null, input: null, logProbs: null, useModel };

function clearPad() {
  pen.fillStyle = "#000"; // opaque: the canvas's PNG has no transparency for read_digit to interpret
  pen.fillRect(0, 0, pad.width, pad.height);
  page.drawn = false;
  page.pixels = page.input = page.logProbs = null;
  $("top3").replaceChildren();
  $("hint").hidden = false;
  showPreview(new Float32Array(IMAGE_SIZE));
}

// ---- drawing with a mouse, a pen or a finger
let last = null; // the pointer's last point while a stroke is drawn

function drawTo(event) {
  const box = pad.getBoundingClientRect();
  const point = [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
  Object.assign(pen, { strokeStyle: "#fff", lineWidth: pad.width / 14, lineCap: "round", lineJoin: "round" });
  pen.beginPath();
  pen.moveTo(...(last ?? point));
  pen.lineTo(...point);
  pen.stroke();
  last = point;
}

pad.addEventListener("pointerdown", (event) => {
  pad.setPointerCapture(event.pointerId);
  [last, page.drawn] = [null, true];
  drawTo(event);
});
pad.addEventListener("pointermove", (event) => last && drawTo(event));
for (const end of ["pointerup", "pointercancel"]) {
  pad.addEventListener(end, () => {
    if (!last) return;
    last = null;
    predict();
  });
}
$("clear").addEventListener("click", clearPad);

// ---- predicting
/** Mean time of a call of fn, over enough calls to measure it (the clock ticks coarsely). */
function timePerCall(fn) {
  const start = performance.now();
  let calls = 0;
  do fn(), calls++; while (performance.now() - start < 20 && calls < 1000);
  return (performance.now() - start) / calls;
}

/** Prepare the drawing as images.read_digit does, run the model, show the three likeliest digits. */
function predict() {
  if (!page.runtime || !page.drawn) return;
  try {
    page.pixels = prepareDigit(greyPixels(pen.getImageData(0, 0, pad.width, pad.height).data), pad.width, pad.height);
  } catch {
    return; // nothing drawn yet
  }
  page.input = normalizePixels(page.pixels);
  try {
    page.logProbs = page.runtime.logProbs(page.input);
  } catch (err) {
    return showError(`Mô hình không tính được kết quả cho hình này. Lý do kỹ thuật: ${err.message}`);
  }
  $("predict-time").textContent = milliseconds(timePerCall(() => page.runtime.logProbs(page.input)));
  showPreview(page.pixels);
  const ranked = [...page.logProbs].map((logProb, digit) => [digit, Math.exp(logProb)]).sort((a, b) => b[1] - a[1]);
  $("hint").hidden = true;
  $("top3").replaceChildren(...ranked.slice(0, 3).map(([digit, p]) => {
    const row = document.createElement("li");
    row.innerHTML = `<b>${digit}</b><div class="bar" style="width: ${100 * p}%"></div><span>${number(100 * p, 1)} %</span>`;
    return row;
  }));
}

function showPreview(pixels) {
  const image = new ImageData(28, 28);
  pixels.forEach((p, i) => image.data.set([255 * p, 255 * p, 255 * p, 255], 4 * i));
  $("preview").getContext("2d").putImageData(image, 0, 0);
}

// ---- loading a model
function showError(message) {
  Object.assign($("error"), { textContent: message, hidden: !message });
  if (message) document.body.dataset.state = "error";
  if (message && !page.runtime) $("model").textContent = "chưa có";
}

/** Decode a .vcz file's bytes and use it from now on; a bad file leaves the model before it in place. */
function useModel(bytes, name) {
  try {
    const start = performance.now(), runtime = load(bytes, name);
    page.decodeTime = performance.now() - start;
    runtime.logProbs(normalizePixels(new Float32Array(IMAGE_SIZE))); // a first prediction, on a blank image
    page.firstPrediction ??= performance.now(); // ms since navigation began
    page.runtime = runtime;
  } catch (err) {
    const kept = page.runtime ? " Trang vẫn dùng mô hình trước đó." : "";
    showError(`Không đọc được tệp mô hình «${name}».${kept} Lý do kỹ thuật: ${err.message}`);
    return false;
  }
  const { modelName, nonzeros } = page.runtime;
  $("decode-time").textContent = milliseconds(page.decodeTime);
  $("model").textContent = `${MODEL_NAMES[modelName]} («${name}»), ${number(nonzeros)} trọng số khác 0`;
  $("model-bytes").textContent = `${number(bytes.length)} byte`;
  showError("");
  document.body.dataset.state = "ready";
  predict();
  return true;
}

/** Bytes the page loaded: document, scripts, model (when embedded, the document alone). */
function pageBytes() {
  const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")];
  return entries.reduce((sum, entry) => sum + (entry.decodedBodySize || 0), 0) ||
    new Blob([document.documentElement.outerHTML]).size;
}

async function modelBytes() {
  const embedded = $("vcz-model"); // web.show() writes the model into the page, in base64
  if (embedded) return [Uint8Array.from(atob(embedded.textContent.trim()), (c) => c.charCodeAt(0)), embedded.dataset.name];
  const url = new URLSearchParams(location.search).get("model") || DEFAULT_MODEL;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`«${url}» (HTTP ${response.status})`);
  return [new Uint8Array(await response.arrayBuffer()), url];
}

async function start() {
  $("file").addEventListener("change", async () => {
    const file = $("file").files[0];
    if (file) useModel(new Uint8Array(await file.arrayBuffer()), file.name);
  });
  try {
    if (!useModel(...await modelBytes())) return;
  } catch (err) {
    return showError(`Không tải được tệp mô hình: ${err.message}.`);
  } finally {
    if (!page.drawn) clearPad(); // not earlier: painting the canvases would delay the first prediction
  }
  page.pageBytes = pageBytes();
  $("page-bytes").textContent = `${number(page.pageBytes)} byte`;
}

start();
