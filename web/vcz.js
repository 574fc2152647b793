// Read a .vcz file and run its LeNet: the twin of vietai_compress/vcz.py and runtime.py, written from
// docs/vcz_format.md. load(bytes).logProbs(images): N x 784 normalised pixels -> N x 10. A bad file throws an
// Error that says what is wrong; decoding takes time linear in the file's size.

// ---- the byte format (vcz.py)
export const MAGIC = "VIETAIC\0";
export const VERSION = 1;
export const HEADER_BYTES = 18; // magic (8) | version u16 | payload length u32 | CRC-32 of the payload u32
export const KINDS = ["linear", "conv"]; // the kind byte indexes this list
export const NDIM = { linear: 2, conv: 4 };
export const MAX_GAP_BITS = 16;
export const MAX_CENTROIDS = 2 ** 16;
export const MAX_CODE_LENGTH = 57;
const MAX_INT32 = 2 ** 31 - 1;

const CRC_TABLE = new Uint32Array(256).map((_, c) => {
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

/** zlib's CRC-32. @param {Uint8Array} bytes @returns {number} */
export function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const tuple = (shape) => `(${shape.join(", ")})`;
const product = (shape) => shape.reduce((a, b) => a * b, 1);

function inRange(value, what, low, high) {
  if (!(value >= low && value <= high)) throw new Error(`${what} is ${value}, outside its range [${low}, ${high}]`);
  return value;
}

/** A canonical prefix code for the symbols 0 .. A-1, given by each symbol's code length (0: no code). */
export class HuffmanCode {
  constructor(lengths) {
    let kraft = 0, longest = 0;
    for (const length of lengths) {
      if (!(length >= 0 && length <= MAX_CODE_LENGTH)) throw new Error(`code lengths must be in [0, ${MAX_CODE_LENGTH}]`);
      if (length) kraft += 2 ** -length;
      longest = Math.max(longest, length);
    }
    if (kraft > 1) throw new Error("code lengths do not form a prefix code (Kraft sum > 1)");
    this.count = new Int32Array(longest + 2); // count[l]: codes of length l
    for (const length of lengths) if (length) this.count[length]++;
    this.longer = new Int32Array(longest + 2); // longer[l]: codes longer than l
    for (let l = longest - 1; l >= 0; l--) this.longer[l] = this.longer[l + 1] + this.count[l + 1];
    // the order in which canonical codes are handed out: shorter first, then by symbol
    this.sorted = Int32Array.from(lengths.keys()).filter((s) => lengths[s]).sort((a, b) => lengths[a] - lengths[b] || a - b);
  }

  /** Decode n symbols, reading bits one at a time, most significant first. d = the bits read minus the first code
   * of their length: a code of length l ends when d < count[l]; else d - count[l] must leave room for a longer code,
   * so d stays small and a bad pattern is caught at once. @param {Uint8Array} data @returns {Int32Array} */
  decode(data, n) {
    const { count, longer, sorted } = this, bits = 8 * data.length, symbols = new Int32Array(n);
    if (n && !sorted.length) throw new Error("cannot decode symbols with an empty code table");
    for (let i = 0, p = 0; i < n; i++) {
      for (let length = 1, d = 0, first = 0; ; length++) {
        if (p >= bits || d >= longer[length - 1]) throw new Error("Huffman stream is truncated or corrupt");
        d = 2 * d + ((data[p >> 3] >> (7 - (p & 7))) & 1);
        p++;
        if (d < count[length]) {
          symbols[i] = sorted[first + d];
          break;
        }
        d -= count[length];
        first += count[length];
      }
    }
    return symbols;
  }
}

/** Gap symbols -> positions of the nonzero weights: s skips s zeros, then a weight; the filler 2**gapBits - 1
 * skips that many zeros, no weight. @returns {Float64Array} */
export function gapsToPositions(symbols, gapBits) {
  const filler = 2 ** gapBits - 1, positions = [];
  for (let i = 0, at = -1; i < symbols.length; i++) {
    at += symbols[i] === filler ? filler : symbols[i] + 1;
    if (symbols[i] !== filler) positions.push(at);
  }
  return Float64Array.from(positions);
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Reads little-endian fields from a payload (a Uint8Array); running out of bytes is a clear error. */
export class Reader {
  constructor(bytes) {
    [this.bytes, this.offset] = [bytes, 0];
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  take(n) {
    if (this.offset + n > this.bytes.length) throw new Error("compressed file is truncated");
    this.offset += n;
    return this.bytes.subarray(this.offset - n, this.offset);
  }

  u8() { return this.take(1)[0]; }
  u16() { this.take(2); return this.view.getUint16(this.offset - 2, true); }
  u32() { this.take(4); return this.view.getUint32(this.offset - 4, true); }

  string(what) {
    const raw = this.take(this.u8());
    try {
      return UTF8.decode(raw);
    } catch {
      throw new Error(`the ${what} in the file is not valid UTF-8`);
    }
  }

  /** n float32, each finite. @returns {Float32Array} */
  floats(n, what) {
    const start = this.take(4 * n).byteOffset - this.bytes.byteOffset;
    const values = Float32Array.from({ length: n }, (_, i) => this.view.getFloat32(start + 4 * i, true));
    if (!values.every(Number.isFinite)) throw new Error(`${what} holds a value that is not a finite number`);
    return values;
  }

  /** A Huffman stream: code lengths (a byte per symbol), symbol count u32, byte count u32, coded bits. */
  stream(alphabet, what) {
    const lengths = this.take(alphabet), n = this.u32(), size = this.u32(), data = this.take(size);
    if (n > 8 * size) throw new Error(`${what}: ${n} symbols cannot fit in ${size} bytes`);
    return { symbols: new HuffmanCode(lengths).decode(data, n), bytes: size };
  }
}

/** Read one layer record, as vcz.LayerRecord, checking every field before it is used; positions are row-major
 * indices of the nonzero weights, labels their centroids. */
export function readLayer(reader) {
  const start = reader.offset, name = reader.string("layer name"), at = `layer '${name}'`;
  const kind = KINDS[inRange(reader.u8(), `${at}: kind byte`, 0, KINDS.length - 1)];
  const ndim = inRange(reader.u8(), `${at}: number of dimensions of a ${kind} weight`, NDIM[kind], NDIM[kind]);
  const shape = Array.from({ length: ndim }, () => reader.u32());
  for (const size of shape) inRange(size, `${at}: a dimension of the weight`, 1, MAX_INT32);
  const weights = inRange(product(shape), `${at}: number of weights`, 1, MAX_INT32);
  const gapBits = inRange(reader.u8(), `${at}: gap bits`, 1, MAX_GAP_BITS);
  const k = inRange(reader.u32(), `${at}: number of centroids`, 0, Math.min(MAX_CENTROIDS, weights));
  const hasBias = inRange(reader.u8(), `${at}: bias flag`, 0, 1);
  const centroids = reader.floats(k, `${at}: codebook`);
  const bias = hasBias ? reader.floats(shape[0], `${at}: bias`) : null;
  const gaps = reader.stream(2 ** gapBits, `${at}: gap stream`);
  const index = reader.stream(Math.max(k, 1), `${at}: index stream`);
  const positions = gapsToPositions(gaps.symbols, gapBits), labels = index.symbols;
  if (positions.length !== labels.length || positions.at(-1) >= weights) {
    throw new Error(`${at}: positions and indices do not fit its shape ${tuple(shape)}`);
  }
  if (labels.length && !k) throw new Error(`${at}: ${labels.length} weights but no centroid`);
  return { name, kind, shape, gapBits, centroids, bias, positions, labels, recordBytes: reader.offset - start };
}

/** Check a file's magic and version. @param {Uint8Array} bytes */
export function readHeader(bytes, source = "the data") {
  if (bytes.length < HEADER_BYTES || [...MAGIC].some((c, i) => bytes[i] !== c.charCodeAt(0))) {
    throw new Error(`${source} is not a vietai-compress file (wrong magic)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES), version = view.getUint16(8, true);
  if (version > VERSION) throw new Error(`${source} has format version ${version}, newer than this reader's (${VERSION})`);
  return { version, payloadLength: view.getUint32(10, true), crc: view.getUint32(14, true) };
}

/** Check and decode a whole file (a Uint8Array), as vcz.decode: {modelName, layers}. */
export function decode(bytes, source = "the data") {
  const { payloadLength, crc } = readHeader(bytes, source), payload = bytes.subarray(HEADER_BYTES);
  if (payload.length !== payloadLength) {
    throw new Error(`${source} is truncated or has extra bytes (${payload.length} payload bytes, header says ` +
      `${payloadLength})`);
  }
  if (crc32(payload) !== crc) throw new Error(`${source} is corrupt (checksum mismatch)`);
  const reader = new Reader(payload), modelName = reader.string("model name");
  const layers = Array.from({ length: reader.u16() }, () => readLayer(reader));
  const left = payload.length - reader.offset;
  if (left) throw new Error(`${source} has ${left} unread bytes after its last layer`);
  return { modelName, layers };
}

/** A record's nonzero weights, by row: row r (output r) has value[j] at column[j] for rowStart[r] <= j < rowEnd[r].
 * Stored zeros (a centroid 0) are left out. */
export function sparseWeight({ shape, positions, labels, centroids }) {
  const width = product(shape) / shape[0], rowStart = new Int32Array(shape[0]), rowEnd = new Int32Array(shape[0]);
  const column = new Int32Array(positions.length), value = new Float32Array(positions.length);
  for (let i = 0, n = 0; i < positions.length; i++) { // positions increase: row by row
    const row = Math.floor(positions[i] / width), weight = centroids[labels[i]];
    if (weight === 0) continue;
    if (!rowEnd[row]) rowStart[row] = n; // the row's first weight
    column[n] = positions[i] - row * width;
    value[n++] = weight;
    rowEnd[row] = n;
  }
  return { rowStart, rowEnd, column, value };
}

// ---- the models (runtime.py)
/** Each model's layers and the operations after them (the torch models of models.py). */
export const ARCHITECTURES = {
  lenet300: [["fc1", "relu"], ["fc2", "relu"], ["fc3"]],
  lenet5: [["conv1", "maxpool"], ["conv2", "maxpool", "flatten"], ["fc1", "relu"], ["fc2"]],
};
/** Output units of the full models' layers: a file may hold fewer (structured pruning), never more. */
export const FULL_UNITS = { lenet300: [300, 100, 10], lenet5: [20, 50, 500, 10] };
export const CONV_INPUT = [1, 28, 28]; // (channels, height, width)
export const CONV_KERNEL = 5;
export const IMAGE_SIZE = 784;

/** The weight shape of every layer of a model whose layers have these output units. */
export function architectureShapes(modelName, units) {
  let [channels, side] = CONV_INPUT, features = IMAGE_SIZE;
  return ARCHITECTURES[modelName].map(([name, ...after], i) => {
    const out = units[i], conv = name.startsWith("conv");
    const shape = conv ? [out, channels, CONV_KERNEL, CONV_KERNEL] : [out, features];
    if (conv) side = (side - CONV_KERNEL + 1) / (after.includes("maxpool") ? 2 : 1);
    [channels, features] = [out, conv ? out * side * side : out];
    return shape;
  });
}

/** Refuse a model the runtime does not run, or layers that do not fit its architecture. */
export function checkArchitecture(modelName, records, source = "the data") {
  if (!Object.hasOwn(ARCHITECTURES, modelName)) {
    throw new Error(`${source} holds a '${modelName}' model; the runtime runs ${Object.keys(ARCHITECTURES)}`);
  }
  const names = ARCHITECTURES[modelName].map((ops) => ops[0]);
  if (records.length !== names.length || records.some((r, i) => r.name !== names[i])) {
    throw new Error(`${source}: layers ${records.map((r) => r.name)} are not those of ${modelName}`);
  }
  const expected = architectureShapes(modelName, [...records.slice(0, -1).map((r) => r.shape[0]), 10]);
  records.forEach(({ name, shape }, i) => {
    const full = FULL_UNITS[modelName][i], what = `${source}: layer '${name}' has`;
    if (shape[0] > full) throw new Error(`${what} ${shape[0]} output units, more than the ${full} of the full ${modelName}`);
    const needs = tuple(expected[i]);
    if (tuple(shape) !== needs) throw new Error(`${what} shape ${tuple(shape)}, ${modelName} needs ${needs}`);
  });
}

/** A decoded file's layers, checked against the architecture, as runtime.Layer: the weights (sparseWeight), a
 * bias, and the operations after it ("relu", "maxpool" 2 x 2, "flatten"). */
export function readLayers(modelName, records, source = "the data") {
  checkArchitecture(modelName, records, source);
  return records.map((r, i) => ({ name: r.name, kind: r.kind, shape: [...r.shape], ...sparseWeight(r),
    bias: r.bias ?? new Float32Array(r.shape[0]), after: ARCHITECTURES[modelName][i].slice(1) }));
}

// ---- dead units, removed exactly (runtime.py)
// Column c of a layer reads unit floor(c / group) of the layer before: group is a conv kernel, or the inputs one
// unit feeds after a flatten (16 for LeNet-5's fc1), else 1.
const rowSize = (layer) => product(layer.shape) / layer.shape[0];

/** read[u] = 1 if a weight of `layer` reads unit u of the layer before. */
function unitsRead(layer, units, group) {
  const { rowStart, rowEnd, column } = layer, read = new Uint8Array(units);
  for (let r = 0; r < rowStart.length; r++) {
    for (let j = rowStart[r]; j < rowEnd[r]; j++) read[Math.floor(column[j] / group)] = 1;
  }
  return read;
}

/** Keep only the inputs `keep` (groups of `group` columns) of every output of `layer`. */
function keepInputs(layer, keep, group) {
  const { rowStart, rowEnd, column, value } = layer, newColumn = new Int32Array(rowSize(layer)).fill(-1);
  keep.forEach((unit, i) => { for (let g = 0; g < group; g++) newColumn[unit * group + g] = i * group + g; });
  for (let r = 0, n = 0; r < rowStart.length; r++) { // in place: rows are in order, weights only move towards the start
    const from = rowStart[r];
    rowStart[r] = n;
    for (let j = from; j < rowEnd[r]; j++) {
      if (newColumn[column[j]] < 0) continue;
      column[n] = newColumn[column[j]];
      value[n++] = value[j];
    }
    rowEnd[r] = n;
  }
  layer.shape[1] = layer.kind === "conv" ? keep.length : keep.length * group;
}

/** Keep only the units `keep` of `layer` (rows and biases) and the weights of `following` that read them. */
function keepUnits(layer, following, keep, group) {
  const { rowStart, rowEnd, bias } = layer;
  layer.rowStart = Int32Array.from(keep, (u) => rowStart[u]);
  layer.rowEnd = Int32Array.from(keep, (u) => rowEnd[u]);
  [layer.bias, layer.shape[0]] = [Float64Array.from(keep, (u) => bias[u]), keep.length];
  keepInputs(following, keep, group);
}

/** bias[o] += constant[u] * (the weights of row o that read unit u), for all o and u. */
function addConstants(layer, constant, group) {
  const { rowStart, rowEnd, column, value, bias } = layer;
  for (let o = 0; o < rowStart.length; o++) {
    const sums = new Float64Array(constant.length);
    for (let j = rowStart[o]; j < rowEnd[o]; j++) sums[Math.floor(column[j] / group)] += value[j];
    sums.forEach((sum, unit) => { bias[o] += constant[unit] * sum; });
  }
}

/** For a fully connected first layer, drop the pixels no weight reads; returns the kept ones (else null). */
function dropUnreadPixels(first) {
  if (first.kind !== "linear") return null;
  const read = unitsRead(first, rowSize(first), 1);
  let inputs = Int32Array.from(read.keys()).filter((j) => read[j]);
  if (!inputs.length) inputs = new Int32Array(1); // one pixel, read by no weight
  keepInputs(first, inputs, 1);
  return inputs;
}

/** Drop the units that cannot change the output, as runtime.remove_dead_units, changing `layers` in place: a unit
 * with no weights in is a constant, absorbed by the next bias; one with no weights out goes too. Repeats until
 * nothing changes. Returns {layers, inputs: the pixels a fully connected first layer still reads, or null}. */
export function removeDeadUnits(layers) {
  for (const layer of layers) layer.bias = Float64Array.from(layer.bias);
  for (let changed = true; changed;) {
    changed = false;
    for (let i = 0; i + 1 < layers.length; i++) {
      const layer = layers[i], following = layers[i + 1], units = layer.shape[0], group = rowSize(following) / units;
      const read = unitsRead(following, units, group), constant = new Float64Array(units), keep = [];
      const relu = layer.after.includes("relu"); // (a max-pool keeps a constant)
      for (let unit = 0; unit < units; unit++) {
        if (!read[unit]) continue; // nothing reads it
        if (layer.rowStart[unit] < layer.rowEnd[unit]) keep.push(unit);
        else constant[unit] = relu ? Math.max(layer.bias[unit], 0) : layer.bias[unit]; // no weights in: a constant
      }
      if (constant.some((c) => c)) addConstants(following, constant, group);
      if (!keep.length) { // keep unit 0 as a unit that changes nothing: no weights in or out, bias 0
        for (const l of [layer, following]) l.rowEnd = l.rowStart.slice();
        layer.bias[0] = 0;
        keep.push(0);
      }
      if (keep.length < units) {
        keepUnits(layer, following, keep, group);
        changed = true;
      }
    }
  }
  const inputs = dropUnreadPixels(layers[0]);
  for (const layer of layers) layer.bias = Float32Array.from(layer.bias);
  return { layers, inputs };
}

// ---- running
/** A fully connected layer, multiplying only nonzero weights. */
function sparseLinear({ shape: [out], rowStart, rowEnd, column, value, bias }) {
  const result = new Float32Array(out);
  return { outShape: [out], run(x) {
    for (let r = 0; r < out; r++) {
      let sum = 0;
      for (let j = rowStart[r], end = rowEnd[r]; j < end; j++) sum += value[j] * x[column[j]];
      result[r] = sum + bias[r];
    }
    return result;
  } };
}

/** A convolution (stride 1, no padding) of (channels, height, width) images, multiplying only nonzero weights.
 * Its sums are rows as wide as the input (the last k - 1 columns are dropped), so that each weight runs one loop
 * over contiguous pixels. */
function sparseConv({ shape: [out, , k], rowStart, rowEnd, column, value, bias }, [, height, width]) {
  const [outHeight, outWidth] = [height - k + 1, width - k + 1], plane = outHeight * width;
  const span = plane - k + 1; // from a weight's first pixel to its last
  const start = column.map((j) => (Math.floor(j / (k * k)) * height + Math.floor(j / k) % k) * width + j % k);
  const sums = new Float64Array(plane), result = new Float32Array(out * outHeight * outWidth);
  return { outShape: [out, outHeight, outWidth], run(x) {
    for (let o = 0; o < out; o++) {
      sums.fill(bias[o]);
      let t = rowStart[o];
      for (; t + 3 < rowEnd[o]; t += 4) { // four weights per pass: fewer loads and stores of the sums
        const w0 = value[t], w1 = value[t + 1], w2 = value[t + 2], w3 = value[t + 3];
        const a = start[t], b = start[t + 1], c = start[t + 2], d = start[t + 3];
        for (let i = 0; i < span; i++) sums[i] += w0 * x[a + i] + w1 * x[b + i] + w2 * x[c + i] + w3 * x[d + i];
      }
      for (; t < rowEnd[o]; t++) for (let i = 0, w = value[t], a = start[t]; i < span; i++) sums[i] += w * x[a + i];
      for (let y = 0; y < outHeight; y++) {
        result.set(sums.subarray(y * width, y * width + outWidth), (o * outHeight + y) * outWidth);
      }
    }
    return result;
  } };
}

/** 2 x 2 max-pooling of (channels, height, width), height and width even. */
function maxPool([channels, height, width]) {
  const result = new Float32Array(channels * height * width / 4);
  return { outShape: [channels, height / 2, width / 2], run(x) {
    for (let row = 0, i = 0; row < channels * height; row += 2) { // every channel's rows, two at a time
      for (let at = row * width; at < (row + 1) * width; at += 2) {
        result[i++] = Math.max(x[at], x[at + 1], x[at + width], x[at + width + 1]);
      }
    }
    return result;
  } };
}

function relu(shape) {
  return { outShape: shape, run(x) {
    for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] = 0;
    return x;
  } };
}

/** The pixels a fully connected first layer reads, in its order. */
function gather(inputs) {
  const result = new Float32Array(inputs.length);
  return { outShape: [inputs.length], run(x) {
    for (let i = 0; i < inputs.length; i++) result[i] = x[inputs[i]];
    return result;
  } };
}

function logSoftmax(z, out, image) {
  const top = Math.max(...z), logSum = Math.log(z.reduce((sum, v) => sum + Math.exp(v - top), 0));
  z.forEach((v, i) => { out[i] = v - top - logSum; });
  if (!out.every(Number.isFinite)) throw new Error(`the model's output for image ${image} is not a finite number`);
}

/** A decoded model, ready to run: logProbs(images) and predict(images), as runtime.Runtime. */
export class Runtime {
  /** layers: without dead units; inputs: the pixels a fully connected first layer reads, or null */
  constructor(modelName, layers, inputs) {
    [this.modelName, this.layers, this.inputs, this.steps] = [modelName, layers, inputs, []];
    let shape = CONV_INPUT;
    const add = (step) => { this.steps.push(step); shape = step.outShape; };
    if (inputs) add(gather(inputs));
    for (const layer of layers) {
      add(layer.kind === "conv" ? sparseConv(layer, shape) : sparseLinear(layer));
      if (layer.after.includes("maxpool")) add(maxPool(shape));
      if (layer.after.includes("relu")) add(relu(shape));
    } // "flatten" needs nothing: (channels, height, width) is already the order torch flattens in
  }

  /** Nonzero weights multiplied per image, the dead units removed. */
  get nonzeros() {
    return this.layers.reduce((n, l) => n + l.rowEnd.reduce((sum, end, r) => sum + end - l.rowStart[r], 0), 0);
  }

  /** Normalised images, N x 784 values -> log-probabilities, N x 10. @returns {Float32Array} */
  logProbs(images) {
    if (!(images instanceof Float32Array)) images = Float32Array.from(images);
    if (images.length % IMAGE_SIZE) throw new RangeError(`images must be 784 values each, got ${images.length} values`);
    const count = images.length / IMAGE_SIZE, out = new Float32Array(10 * count);
    for (let n = 0; n < count; n++) {
      let x = images.subarray(n * IMAGE_SIZE, (n + 1) * IMAGE_SIZE);
      for (const step of this.steps) x = step.run(x);
      logSoftmax(x, out.subarray(10 * n, 10 * n + 10), n);
    }
    return out;
  }

  /** Every image's digit and its probability. @returns {{digits: Int32Array, probabilities: Float32Array}} */
  predict(images) {
    const logProbs = this.logProbs(images), rows = Array.from({ length: logProbs.length / 10 },
      (_, n) => logProbs.subarray(10 * n, 10 * n + 10));
    const digits = Int32Array.from(rows, (row) => row.indexOf(Math.max(...row)));
    return { digits, probabilities: Float32Array.from(rows, (row, n) => Math.exp(row[digits[n]])) };
  }
}

/** A .vcz file's bytes (LeNet-300-100 or LeNet-5) as a Runtime: weights built once, dead units removed. Throws an
 * Error for a bad file or a model the runtime does not run. @param {Uint8Array} bytes */
export function load(bytes, source = "the data") {
  const { modelName, layers } = decode(bytes, source);
  const small = removeDeadUnits(readLayers(modelName, layers, source));
  return new Runtime(modelName, small.layers, small.inputs);
}
