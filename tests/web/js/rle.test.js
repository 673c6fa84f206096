import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { decodeCounts, decodeRle } from "../../../src/sam3_service/web/static/js/rle.js";

// Masks and the RLE that pycocotools.mask.encode gives for them.
const CASES = JSON.parse(readFileSync(new URL("./rle-cases.json", import.meta.url), "utf8"));

const rows = ({ width, height, data }) =>
  Array.from({ length: height }, (_, y) => Array.from(data.subarray(y * width, (y + 1) * width)).join(""));

for (const example of CASES) {
  test(`decodes pycocotools RLE: ${example.name}`, () => {
    const mask = decodeRle({ size: example.size, counts: example.counts });
    assert.equal(mask.height, example.size[0]);
    assert.equal(mask.width, example.size[1]);
    assert.deepEqual(rows(mask), example.rows);
  });
}

test("runs after the second are differences, and may be negative differences", () => {
  // "long runs" has runs of several chunks and negative differences.
  const runs = decodeCounts(CASES.find((c) => c.name === "long runs").counts);
  assert.equal(
    runs.reduce((a, b) => a + b, 0),
    12 * 400,
  );
  assert.ok(runs.some((run) => run > 1000));
});

test("uncompressed counts (a list of runs) decode too", () => {
  const mask = decodeRle({ size: [2, 3], counts: [1, 2, 3] });
  assert.deepEqual(rows(mask), ["010", "100"]);
});

test("malformed RLE is refused, never drawn half", () => {
  assert.throws(() => decodeCounts("a b"), RangeError);
  assert.throws(() => decodeCounts("o"), /ends inside a number/);
  assert.throws(() => decodeRle({ size: [2, 2], counts: [1, 2] }), /cover 3 of 4/);
  assert.throws(() => decodeRle({ size: [2, 2], counts: [3, 3] }), /more than 2x2/);
});
