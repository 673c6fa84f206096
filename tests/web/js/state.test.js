import assert from "node:assert/strict";
import { test } from "node:test";

import {
  addBox,
  addPoint,
  createStore,
  describeStep,
  filterObjects,
  hasPrompt,
  initialState,
  requestFields,
  REQUEST_SCORE_FLOOR,
  summarisePrompt,
  textSetAside,
  toggleHidden,
} from "../../../src/sam3_service/web/static/js/state.js";

const picture = { width: 400, height: 300 };

test("points are rounded to a tenth of a pixel and kept inside the picture", () => {
  let marks = addPoint([], { x: 10.04, y: 20.06, positive: true }, picture);
  marks = addPoint(marks, { x: -5, y: 999, positive: false }, picture);
  assert.deepEqual(marks, [
    { kind: "point", x: 10, y: 20.1, positive: true },
    { kind: "point", x: 0, y: 300, positive: false },
  ]);
});

test("a box takes its corners in any order; a wobble is no box", () => {
  const marks = addBox([], { x: 300, y: 250, positive: true }, { x: 100.26, y: 50 }, picture);
  assert.deepEqual(marks, [{ kind: "box", x0: 100.3, y0: 50, x1: 300, y1: 250, positive: true }]);
  assert.equal(addBox(marks, { x: 10, y: 10 }, { x: 11, y: 40 }, picture), marks);
  const clamped = addBox([], { x: -20, y: -20 }, { x: 500, y: 20 }, picture);
  assert.deepEqual(clamped[0], { kind: "box", x0: 0, y0: 0, x1: 400, y1: 20, positive: true });
});

test("request fields follow the API: labelled points, boxes, and the score floor", () => {
  let marks = addPoint([], { x: 10, y: 20, positive: true }, picture);
  marks = addPoint(marks, { x: 30, y: 40, positive: false }, picture);
  marks = addBox(marks, { x: 1, y: 2, positive: false }, { x: 50, y: 60 }, picture);
  assert.deepEqual(requestFields("", marks), {
    score_threshold: REQUEST_SCORE_FLOOR,
    points: [
      [10, 20, 1],
      [30, 40, 0],
    ],
    boxes: [[1, 2, 50, 60, 0]],
  });
  assert.deepEqual(requestFields("", []), { score_threshold: REQUEST_SCORE_FLOOR });
});

test("text goes with boxes (concept), but is set aside while there are clicks (interactive)", () => {
  const box = addBox([], { x: 1, y: 2 }, { x: 50, y: 60 }, picture);
  assert.deepEqual(requestFields("  red car ", box), {
    score_threshold: REQUEST_SCORE_FLOOR,
    prompt: "red car",
    boxes: [[1, 2, 50, 60]],
  });
  assert.equal(textSetAside("red car", box), false);
  const click = addPoint(box, { x: 10, y: 20, positive: true }, picture);
  assert.equal(requestFields("red car", click).prompt, undefined);
  assert.equal(textSetAside("red car", click), true);
  assert.equal(textSetAside(" ", click), false);
});

test("a prompt is text, a click or a box", () => {
  assert.equal(hasPrompt("   ", []), false);
  assert.equal(hasPrompt("dog", []), true);
  assert.equal(hasPrompt("", addPoint([], { x: 1, y: 1, positive: true }, picture)), true);
});

const objects = [
  { id: 0, score: 0.9 },
  { id: 1, score: 0.6 },
  { id: 2, score: 0.3 },
];

test("the threshold filters without asking again; hidden objects stay listed", () => {
  const { listed, belowThreshold } = filterObjects(objects, 0.5, new Set([1]));
  assert.deepEqual(
    listed.map((o) => [o.id, o.shown]),
    [
      [0, true],
      [1, false],
    ],
  );
  assert.equal(belowThreshold, 1);
  assert.equal(filterObjects(objects, 0.3, new Set()).listed.length, 3, "the threshold is inclusive");
  assert.equal(filterObjects(objects, 1, new Set()).belowThreshold, 3);
});

test("toggling visibility returns a new set", () => {
  const hidden = new Set([2]);
  assert.deepEqual([...toggleHidden(hidden, 1)].sort(), [1, 2]);
  assert.deepEqual([...toggleHidden(hidden, 2)], []);
  assert.deepEqual([...hidden], [2], "the given set is unchanged");
});

test("a step says how long it took and what was reused", () => {
  const result = {
    objects: [{}, {}],
    vision_cache_hit: true,
    timings_ms: { decode: 1.2, encode_image: 0, postprocess: 3.4 },
  };
  assert.deepEqual(describeStep(result, 41.6, 2), {
    number: 2,
    totalMs: 42,
    serverMs: 5,
    encodeImageMs: 0,
    cached: true,
    reused: false,
    objects: 2,
  });
  assert.equal(describeStep(result, 3, 3).reused, true, "a stored result reports its first timings");
});

test("a run is summarised in a few words", () => {
  let marks = addPoint([], { x: 1, y: 1, positive: true }, picture);
  marks = addPoint(marks, { x: 2, y: 2, positive: true }, picture);
  marks = addPoint(marks, { x: 3, y: 3, positive: false }, picture);
  assert.equal(summarisePrompt(" dog ", marks), "“dog” +2 −1");
  assert.equal(summarisePrompt("", []), "");
});

test("the store merges patches and tells subscribers what changed", () => {
  const store = createStore(initialState());
  const seen = [];
  const stop = store.subscribe((state, change) => seen.push([state.threshold, change]));
  store.update({ threshold: 0.3 });
  store.update((state) => ({ threshold: state.threshold + 0.1 }));
  stop();
  store.update({ threshold: 0.9 });
  assert.deepEqual(seen, [
    [0.3, { threshold: 0.3 }],
    [0.4, { threshold: 0.4 }],
  ]);
  assert.equal(store.get().threshold, 0.9);
  assert.equal(store.get().readOnly, false, "other fields are kept");
});
