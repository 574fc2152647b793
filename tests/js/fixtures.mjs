// The files and Python answers that tests/vcz_fixtures.py writes (pytest tests/test_web_node.py runs these tests
// with VCZ_FIXTURES pointing at them).
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const folder = process.env.VCZ_FIXTURES;
/** The reason to skip every test when the fixtures were not written, else false. */
export const skip = folder ? false : "VCZ_FIXTURES is not set: run `pytest tests/test_web_node.py`, which writes them";
export const manifest = folder ? JSON.parse(readFileSync(join(folder, "manifest.json"), "utf8")) : null;

export const fromBase64 = (text) => new Uint8Array(Buffer.from(text, "base64"));
export const fileBytes = (name) => new Uint8Array(readFileSync(join(folder, name)));
export const images = () => new Float32Array(fromBase64(manifest.images).buffer);

/** Largest |a - b| over two arrays of numbers. */
export function maxDifference(a, b) {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} and ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}
