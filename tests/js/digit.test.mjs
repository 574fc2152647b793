// web/digit.js against images.prepare_digit (Pillow and numpy) on the same pictures (tests/vcz_fixtures.py).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import * as digit from "../../web/digit.js";
import { fromBase64, manifest, maxDifference, skip } from "./fixtures.mjs";

describe("a drawing becomes the pixels Python computes", { skip }, () => {
  test("grey levels are Pillow's convert('L') of RGBA", () => {
    const { data, grey } = manifest.rgba;
    assert.deepEqual([...digit.greyPixels(fromBase64(data))].map((p) => Math.round(p * 255)), grey);
  });

  test("sums are numpy's float32 sums, bit for bit", () => {
    for (const { values, sum } of manifest.sums) {
      assert.equal(digit.float32Sum(new Float32Array(fromBase64(values).buffer)), sum);
    }
  });

  test("every picture is prepared as images.prepare_digit prepares it", () => {
    for (const { name, width, height, grey, prepared } of manifest.pictures) {
      const pixels = Float32Array.from(fromBase64(grey), (level) => level / 255);
      const got = digit.prepareDigit(pixels, width, height);
      assert.ok(maxDifference(got, prepared) <= 1e-6, `${name}: ${maxDifference(got, prepared)}`);
    }
  });

  test("normalised as numpy normalises in float32", () => {
    const levels = Float32Array.from({ length: 256 }, (_, k) => k / 255);
    assert.deepEqual([...digit.normalizePixels(levels)], manifest.normalized);
  });
});

describe("small pieces", () => {
  test("Python's round: halves to even", () => {
    assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6, -2.6].map(digit.roundHalfEven), [0, 2, 2, 0, -2, 2, 3, -3]);
  });

  test("a picture with no digit is an error", () => {
    assert.throws(() => digit.prepareDigit(new Float32Array(100), 10, 10), /holds no digit/);
  });

  test("a resize that keeps the size copies the pixels", () => {
    const pixels = Float32Array.from({ length: 6 }, (_, i) => i / 7);
    assert.deepEqual(digit.resizeLanczos(pixels, 3, 2, 3, 2), pixels);
  });
});
