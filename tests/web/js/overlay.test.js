import assert from "node:assert/strict";
import { test } from "node:test";

import {
  FILL_ALPHA,
  inkFor,
  layerAt,
  makeLayer,
  maskBox,
  maskRim,
  paintLayers,
  palette,
  rimThickness,
} from "../../../src/sam3_service/web/static/js/overlay.js";

/** A mask from rows of "0"/"1", and back. */
const mask = (...lines) => ({
  width: lines[0].length,
  height: lines.length,
  data: Uint8Array.from(lines.join(""), Number),
});
const rows = (data, width) =>
  Array.from({ length: data.length / width }, (_, y) =>
    Array.from(data.subarray(y * width, (y + 1) * width)).join(""),
  );

test("the palette is the service's (sam3_service.media.palette)", () => {
  assert.deepEqual(palette(6), [
    [242, 48, 48],
    [48, 105, 242],
    [162, 242, 48],
    [242, 48, 218],
    [48, 242, 210],
    [242, 153, 48],
  ]);
  assert.deepEqual(palette(40)[3], palette(4)[3], "colour i does not depend on how many there are");
});

test("label ink is black on light colours and white on dark ones", () => {
  assert.equal(inkFor([162, 242, 48]), "#000");
  assert.equal(inkFor([48, 105, 242]), "#fff");
});

test("maskBox is tight with exclusive ends, null when empty", () => {
  const m = mask("0000", "0110", "0100");
  assert.deepEqual(maskBox(m.data, m.width, m.height), { x0: 1, y0: 1, x1: 3, y1: 3 });
  const empty = mask("00", "00");
  assert.equal(maskBox(empty.data, 2, 2), null);
});

test("the rim is the inner band of the given thickness", () => {
  const m = mask("11111", "11111", "11111", "11111", "11111");
  assert.deepEqual(rows(maskRim(m.data, 5, 5, 1), 5), ["11111", "10001", "10001", "10001", "11111"]);
  assert.deepEqual(rows(maskRim(m.data, 5, 5, 2), 5), ["11111", "11111", "11011", "11111", "11111"]);
});

test("the picture's border is not outlined, as in the service's overlay", () => {
  const m = mask("1110", "1110", "1110");
  const rim = maskRim(m.data, 4, 3, 1, { left: true, top: true, bottom: true, right: false });
  assert.deepEqual(rows(rim, 4), ["0010", "0010", "0010"]);
});

test("a layer keeps only its box: the mask and rim cropped", () => {
  const m = mask("000000", "001110", "001110", "000000");
  const layer = makeLayer({ id: 4, colour: [1, 2, 3], mask: m.data, width: 6, height: 4, thickness: 1 });
  assert.deepEqual(layer.box, { x0: 2, y0: 1, x1: 5, y1: 3 });
  assert.deepEqual(rows(layer.mask, 3), ["111", "111"]);
  assert.deepEqual(rows(layer.rim, 3), ["111", "111"]);
  const empty = makeLayer({
    id: 0,
    colour: [0, 0, 0],
    mask: new Uint8Array(4),
    width: 2,
    height: 2,
    thickness: 1,
  });
  assert.equal(empty.box, null);
});

function twoLayers() {
  const a = mask("1110", "1110", "1110", "0000");
  const b = mask("0000", "0111", "0111", "0111");
  const common = { width: 4, height: 4, thickness: 1 };
  return [
    makeLayer({ id: 0, colour: [255, 0, 0], mask: a.data, ...common }),
    makeLayer({ id: 1, colour: [0, 0, 255], mask: b.data, ...common }),
  ];
}

const pixel = (pixels, x, y, width = 4) =>
  Array.from(pixels.subarray((y * width + x) * 4, (y * width + x) * 4 + 4));

test("paint: translucent fill, opaque rim, later layers on top, background clear", () => {
  const pixels = new Uint8ClampedArray(4 * 4 * 4).fill(7);
  const layers = twoLayers();
  paintLayers(pixels, layers, { width: 4 });
  assert.deepEqual(pixel(pixels, 3, 0), [0, 0, 0, 0], "background is transparent");
  assert.deepEqual(pixel(pixels, 2, 0), [255, 0, 0, 255], "a rim pixel is opaque");
  assert.equal(pixel(pixels, 0, 0)[3], Math.round(FILL_ALPHA.normal * 255), "no rim on the border");
  assert.deepEqual(pixel(pixels, 2, 2).slice(0, 3), [0, 0, 255], "the later layer covers the earlier");
  const big = new Uint8Array(36).fill(1);
  const inside = makeLayer({ id: 2, colour: [9, 9, 9], mask: big, width: 6, height: 6, thickness: 1 });
  const canvas = new Uint8ClampedArray(36 * 4);
  paintLayers(canvas, [inside], { width: 6 });
  assert.equal(pixel(canvas, 3, 3, 6)[3], Math.round(FILL_ALPHA.normal * 255), "the inside is translucent");
});

test("highlighting one object fades the others", () => {
  const layers = twoLayers();
  const pixels = new Uint8ClampedArray(4 * 4 * 4);
  paintLayers(pixels, layers, { width: 4, highlight: 1 });
  assert.ok(pixel(pixels, 2, 0)[3] < 255, "the other object's rim fades");
  assert.ok(pixel(pixels, 0, 1)[3] < Math.round(FILL_ALPHA.normal * 255), "and so does its fill");
  assert.equal(pixel(pixels, 1, 2)[3], 255, "the highlighted rim stays opaque");
});

test("layerAt finds the topmost object under a point", () => {
  const layers = twoLayers();
  assert.equal(layerAt(layers, 2.5, 2.5), 1);
  assert.equal(layerAt(layers, 0.2, 0.9), 0);
  assert.equal(layerAt(layers, 3.5, 0.5), null);
  assert.equal(layerAt(layers.slice(0, 1), 2, 2), 0);
});

test("outlines thicken on large pictures", () => {
  assert.equal(rimThickness(451, 300), 2);
  assert.equal(rimThickness(4000, 3000), 10);
});
