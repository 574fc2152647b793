// A drawing of one digit -> the 28 x 28 normalised image an MNIST model reads: the twin of
// vietai_compress/images.py, computing what Pillow and numpy compute, in the same float32 steps.
export const MNIST_MEAN = 0.1307; // the models read (pixel - mean) / std
export const MNIST_STD = 0.3081;
export const DIGIT_BOX = 20; // the longer side of a digit inside the 28 x 28 image
export const SIZE = 28;
export const INK = 0.1; // a pixel brighter than this (after inversion) is ink

const f32 = Math.fround; // numpy computes in float32: every step rounds to float32

/** RGBA bytes (getImageData) -> grey pixels in [0, 1], as Pillow's convert("L") (ITU-R 601-2 luma in integers,
 * alpha ignored) then / 255. @returns {Float32Array} */
export function greyPixels(rgba) {
  const grey = new Float32Array(rgba.length / 4);
  for (let i = 0, j = 0; i < grey.length; i++, j += 4) {
    grey[i] = ((rgba[j] * 19595 + rgba[j + 1] * 38470 + rgba[j + 2] * 7471 + 0x8000) >> 16) / 255;
  }
  return grey;
}

/** numpy's sum of a float32 array: pairwise, in blocks of up to 128 with 8 running sums, each add in float32.
 * @param {Float32Array} values */
export function float32Sum(values) {
  const n = values.length, half = Math.floor(n / 2) - (Math.floor(n / 2) % 8);
  if (n > 128) return f32(float32Sum(values.subarray(0, half)) + float32Sum(values.subarray(half)));
  if (n < 8) return values.reduce((sum, v) => f32(sum + v), 0);
  const r = Array.from(values.subarray(0, 8));
  let i = 8;
  for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] = f32(r[j] + values[i + j]);
  let sum = f32(f32(f32(r[0] + r[1]) + f32(r[2] + r[3])) + f32(f32(r[4] + r[5]) + f32(r[6] + r[7])));
  for (; i < n; i++) sum = f32(sum + values[i]);
  return sum;
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x) {
  const nearest = Math.round(x); // halves go up
  return (nearest - x === 0.5 && nearest % 2 ? nearest - 1 : nearest) || 0; // || 0: no negative zero
}

const sinc = (x) => (x === 0 ? 1 : Math.sin(x * Math.PI) / (x * Math.PI));
const lanczos = (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0);

/** Pillow's precompute_coeffs (LANCZOS): per output pixel, its first input and the normalised weights from there.
 * Shrinking widens the filter by the reduction factor. */
function coefficients(inSize, outSize) {
  const scale = inSize / outSize, filterScale = Math.max(scale, 1), support = 3 * filterScale;
  return Array.from({ length: outSize }, (_, out) => {
    const centre = (out + 0.5) * scale, step = 1 / filterScale;
    const first = Math.max(0, Math.trunc(centre - support + 0.5)); // C's (int) cast truncates
    const end = Math.min(inSize, Math.trunc(centre + support + 0.5));
    const weights = Array.from({ length: end - first }, (_, i) => lanczos((first + i - centre + 0.5) * step));
    const total = weights.reduce((a, b) => a + b, 0);
    return { first, weights: total === 0 ? weights : weights.map((w) => w / total) };
  });
}

/** Resample along one axis: each output pixel is a weighted sum (in double, stored as float32). */
function resample(pixels, width, height, outSize, horizontal) {
  const taps = coefficients(horizontal ? width : height, outSize);
  const [outWidth, outHeight] = horizontal ? [outSize, height] : [width, outSize];
  const out = new Float32Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const { first, weights } = taps[horizontal ? x : y];
      let sum = 0;
      for (let i = 0; i < weights.length; i++) {
        sum += weights[i] * (horizontal ? pixels[y * width + first + i] : pixels[(first + i) * width + x]);
      }
      out[y * outWidth + x] = sum;
    }
  }
  return out;
}

/** Pillow's resize(LANCZOS) of a float ("F") image: a horizontal pass, then a vertical one, each only when that
 * side changes. @returns {Float32Array} */
export function resizeLanczos(pixels, width, height, outWidth, outHeight) {
  let image = Float32Array.from(pixels);
  if (outWidth !== width) image = resample(image, width, height, outWidth, true);
  if (outHeight !== height) image = resample(image, outWidth, height, outHeight, false);
  return image;
}

/** Grey pixels (height, width) in [0, 1] -> MNIST-like pixels (28, 28), as images.prepare_digit: invert a light
 * picture, crop to the ink, fit the longer side to 20 pixels, centre the mass. Throws when there is no ink.
 * @param {Float32Array} pixels @returns {Float32Array} */
export function prepareDigit(pixels, width, height) {
  if (f32(float32Sum(pixels) / pixels.length) > 0.5) pixels = pixels.map((p) => 1 - p);
  let [top, bottom, left, right] = [height, -1, width, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (pixels[y * width + x] > f32(INK)) {
        [top, bottom, left, right] = [Math.min(top, y), y, Math.min(left, x), Math.max(right, x)];
      }
    }
  }
  if (bottom < 0) throw new Error("the image holds no digit: every pixel has the background's brightness");
  const [cropWidth, cropHeight] = [right - left + 1, bottom - top + 1];
  const digit = new Float32Array(cropWidth * cropHeight);
  for (let y = 0; y < cropHeight; y++) {
    digit.set(pixels.subarray((top + y) * width + left, (top + y) * width + right + 1), y * cropWidth);
  }
  const scale = DIGIT_BOX / Math.max(cropWidth, cropHeight);
  const [smallWidth, smallHeight] = [cropWidth, cropHeight].map((side) => Math.max(1, roundHalfEven(side * scale)));
  const small = resizeLanczos(digit, cropWidth, cropHeight, smallWidth, smallHeight).map((p) => Math.min(Math.max(p, 0), 1));
  return centreByMass(small, smallWidth, smallHeight);
}

/** Place a digit (height, width <= 20) in a 28 x 28 black image, its centre of mass at the centre. */
function centreByMass(digit, width, height) {
  const mass = float32Sum(digit); // numpy sums the mass in float32, the moments in float64
  let rowMoment = 0, columnMoment = 0;
  digit.forEach((p, i) => { rowMoment += Math.floor(i / width) * p; columnMoment += (i % width) * p; });
  const place = (moment, side) => Math.min(Math.max(roundHalfEven(SIZE / 2 - 0.5 - moment / mass), 0), SIZE - side);
  const [top, left] = [place(rowMoment, height), place(columnMoment, width)];
  const out = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < height; y++) out.set(digit.subarray(y * width, (y + 1) * width), (top + y) * SIZE + left);
  return out;
}

/** Pixels in [0, 1] -> the models' input: (pixel - mean) / std, in float32 as numpy computes it. */
export function normalizePixels(pixels) {
  return pixels.map((p) => f32(p - f32(MNIST_MEAN)) / f32(MNIST_STD));
}
