// web/vcz.js against the Python reader and runtime, on the same files (tests/vcz_fixtures.py).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import * as vcz from "../../web/vcz.js";
import { fileBytes, fromBase64, images, manifest, maxDifference, skip } from "./fixtures.mjs";

const NARROW = "lenet300_narrow.vcz";

/** A copy of a file with the u8/u16/u32/f32 field at `offset` (in the file) set, its CRC made right again. */
function withField(bytes, offset, type, value) {
  const changed = bytes.slice();
  const view = new DataView(changed.buffer);
  ({ u8: () => view.setUint8(offset, value), u16: () => view.setUint16(offset, value, true),
    u32: () => view.setUint32(offset, value, true), f32: () => view.setFloat32(offset, value, true) })[type]();
  return resigned(changed);
}

/** The file with its payload length and CRC-32 recomputed from its payload. */
function resigned(bytes) {
  const changed = bytes.slice();
  const view = new DataView(changed.buffer);
  view.setUint32(10, changed.length - vcz.HEADER_BYTES, true);
  view.setUint32(14, vcz.crc32(changed.subarray(vcz.HEADER_BYTES)), true);
  return changed;
}

const offset = (name, field) => manifest.files[name].offsets[field];

describe("Huffman codes", { skip }, () => {
  test("decode every stream the Python encoder wrote", () => {
    for (const { lengths, symbols, data } of manifest.huffman) {
      assert.deepEqual([...new vcz.HuffmanCode(lengths).decode(fromBase64(data), symbols.length)], symbols);
    }
  });

  test("canonical codes: lengths [1, 0, 2, 2] are 0, -, 10, 11", () => {
    assert.deepEqual([...new vcz.HuffmanCode([1, 0, 2, 2]).decode(new Uint8Array([0b00111000]), 4)], [0, 0, 3, 2]);
  });

  test("refuse tables that are no prefix code, and bits that are no code", () => {
    assert.throws(() => new vcz.HuffmanCode([58, 1]), /code lengths must be in \[0, 57\]/);
    assert.throws(() => new vcz.HuffmanCode([1, 1, 1]), /Kraft sum > 1/);
    assert.throws(() => new vcz.HuffmanCode([1, 0]).decode(new Uint8Array([0x80]), 1), /truncated or corrupt/);
    assert.throws(() => new vcz.HuffmanCode([1, 1]).decode(new Uint8Array([0]), 9), /truncated or corrupt/);
    assert.throws(() => new vcz.HuffmanCode([0, 0]).decode(new Uint8Array([0]), 1), /empty code table/);
    assert.equal(new vcz.HuffmanCode([0, 0]).decode(new Uint8Array(0), 0).length, 0);
  });

  test("a 57-bit code decodes and one bit more is refused", () => {
    const lengths = Array.from({ length: 58 }, (_, s) => Math.min(s + 1, 57)); // 1, 2, ..., 57, 57: complete
    const bits = new Uint8Array(8).fill(0xff); // 57 ones: the last symbol's code
    assert.deepEqual([...new vcz.HuffmanCode(lengths).decode(bits, 1)], [57]);
    assert.throws(() => new vcz.HuffmanCode([...lengths.slice(0, -1)]).decode(bits, 1), /corrupt/);
  });
});

describe("the format", { skip }, () => {
  test("CRC-32 is zlib's", () => {
    assert.equal(vcz.crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  });

  test("gap symbols become positions; the filler skips without a weight", () => {
    assert.deepEqual([...vcz.gapsToPositions([1, 7, 7, 4], 3)], [1, 20]);
    assert.equal(vcz.gapsToPositions([], 5).length, 0);
  });

  test("every record decodes to what the Python reader reads", () => {
    for (const [name, expected] of Object.entries(manifest.files)) {
      const { modelName, layers } = vcz.decode(fileBytes(name), name);
      assert.equal(modelName, expected.model);
      layers.forEach((layer, i) => {
        const want = expected.layers[i];
        assert.deepEqual([layer.name, layer.kind, layer.shape, layer.gapBits, layer.recordBytes],
          [want.name, want.kind, want.shape, want.gapBits, want.recordBytes]);
        assert.deepEqual([...layer.centroids], want.centroids);
        assert.deepEqual([...layer.positions], want.positions);
        assert.deepEqual([...layer.labels], want.labels);
      });
    }
  });

  test("the header is read as the document says", () => {
    const header = vcz.readHeader(fileBytes(NARROW));
    assert.deepEqual(header.version, 1);
    assert.equal(header.payloadLength, manifest.files[NARROW].bytes - 18);
  });
});

describe("a bad file is a clear Error", { skip }, () => {
  const good = () => fileBytes(NARROW);
  const layer = (field) => offset(NARROW, `layers[0].${field}`);
  const cases = {
    "wrong magic": [() => { const b = good(); b[0] = 0x50; return b; }, /wrong magic/],
    "shorter than a header": [() => good().subarray(0, 10), /wrong magic/],
    "newer version": [() => { const b = good(); b[8] = 2; return b; }, /format version 2, newer than/],
    "truncated": [() => good().subarray(0, -1), /truncated or has extra bytes/],
    "extra bytes": [() => Uint8Array.from([...good(), 0]), /truncated or has extra bytes/],
    "checksum": [() => { const b = good(); b[b.length - 1] ^= 1; return b; }, /checksum mismatch/],
    "cut inside a stream, re-signed": [() => resigned(good().subarray(0, -3)), /compressed file is truncated/],
    "bytes after the last layer, re-signed": [() => resigned(Uint8Array.from([...good(), 0])), /1 unread bytes/],
    "model name not UTF-8": [() => withField(good(), offset(NARROW, "model_name"), "u8", 0xff), /model name .* not valid UTF-8/],
    "layer name not UTF-8": [() => withField(good(), layer("name"), "u8", 0xff), /layer name .* not valid UTF-8/],
    "kind": [() => withField(good(), layer("kind"), "u8", 7), /kind byte is 7, outside its range \[0, 1\]/],
    "ndim": [() => withField(good(), layer("ndim"), "u8", 3), /number of dimensions of a linear weight is 3/],
    "a zero dimension": [() => withField(good(), layer("shape"), "u32", 0), /a dimension of the weight is 0/],
    "too many weights": [() => withField(good(), layer("shape"), "u32", 2 ** 31 - 1), /number of weights/],
    "shape too small for the positions": [() => withField(good(), layer("shape") + 4, "u32", 5), /do not fit its shape \(8, 5\)/],
    "gap bits 0": [() => withField(good(), layer("gap_bits"), "u8", 0), /gap bits is 0/],
    "gap bits 17": [() => withField(good(), layer("gap_bits"), "u8", 17), /gap bits is 17/],
    "more centroids than weights": [() => withField(good(), layer("k"), "u32", 8 * 784 + 1), /number of centroids/],
    "bias flag": [() => withField(good(), layer("has_bias"), "u8", 2), /bias flag is 2/],
    "NaN centroid": [() => withField(good(), layer("centroids"), "f32", NaN), /codebook holds a value that is not a finite/],
    "infinite bias": [() => withField(good(), layer("bias"), "f32", -Infinity), /bias holds a value that is not a finite/],
    "code length above 57": [() => withField(good(), layer("gap_code_lengths"), "u8", 60), /code lengths must be/],
    "more symbols than bits": [() => withField(good(), layer("gap_symbol_count"), "u32", 1e9), /cannot fit in/],
    "not a prefix code": [() => {
      const b = good();
      b.fill(1, layer("gap_code_lengths"), layer("gap_code_lengths") + 32); // 32 codes of 1 bit
      return resigned(b);
    }, /Kraft sum > 1/],
  };
  for (const [what, [make, error]] of Object.entries(cases)) {
    test(what, () => assert.throws(() => vcz.load(make(), "the file"), error));
  }

  test("models the runtime does not run, or layers that do not fit the architecture", () => {
    for (const [what, { data, error }] of Object.entries(manifest.refused)) {
      assert.throws(() => vcz.load(fromBase64(data)), (err) => err.message.includes(error), what);
    }
  });

  test("images that are not whole 28 x 28 images", () => {
    assert.throws(() => vcz.load(good()).logProbs(new Float32Array(783)), RangeError);
  });
});

describe("the runtime", { skip }, () => {
  test("gives the Python runtime's log-probabilities and digits", () => {
    const x = images();
    for (const [name, expected] of Object.entries(manifest.files)) {
      const runtime = vcz.load(fileBytes(name), name);
      const logProbs = runtime.logProbs(x);
      assert.ok(maxDifference(logProbs, expected.logProbs.flat()) < 1e-4, name);
      const { digits, probabilities } = runtime.predict(x);
      digits.forEach((digit, n) => {
        const row = expected.logProbs[n];
        assert.equal(digit, row.indexOf(Math.max(...row)), `${name}, image ${n}`);
        assert.ok(Math.abs(probabilities[n] - Math.exp(row[digit])) < 1e-4);
      });
    }
  });

  test("removes the same dead units and unread pixels as runtime.remove_dead_units", () => {
    for (const [name, expected] of Object.entries(manifest.files)) {
      const runtime = vcz.load(fileBytes(name), name);
      assert.deepEqual(runtime.layers.map((layer) => layer.shape), expected.smallShapes, name);
      assert.deepEqual(runtime.inputs && [...runtime.inputs], expected.inputs, name);
    }
  });
});

describe("every single-byte change of a small file", { skip }, () => {
  const x = images().subarray(0, 2 * 784);
  for (const name of Object.keys(manifest?.flips ?? {})) {
    test(`${name}: refused exactly when Python refuses it, else the same finite answer, quickly`, () => {
      const data = fileBytes(name);
      let slowest = 0;
      manifest.flips[name].forEach((expected, position) => {
        const changed = data.slice();
        changed[position] ^= 0xff;
        if (position >= vcz.HEADER_BYTES) new DataView(changed.buffer).setUint32(14, vcz.crc32(changed.subarray(18)), true);
        const start = performance.now();
        let logProbs = null;
        try {
          logProbs = vcz.load(changed).logProbs(x);
        } catch (err) {
          assert.ok(err instanceof Error && err.message.length > 0);
        }
        slowest = Math.max(slowest, performance.now() - start);
        assert.equal(logProbs === null, expected === null, `byte ${position}: JS ${logProbs ? "ran" : "refused"}`);
        if (logProbs) {
          assert.ok(logProbs.every(Number.isFinite), `byte ${position}`);
          const want = expected.flat();
          assert.ok(maxDifference(logProbs, want) <= 1e-4 * Math.max(1, ...want.map(Math.abs)), `byte ${position}`);
        }
      });
      assert.ok(slowest < 1000, `the slowest file took ${slowest.toFixed(0)} ms`);
    });
  }
});
