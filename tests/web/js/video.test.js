import assert from "node:assert/strict";
import { test } from "node:test";

import { addPoint } from "../../../src/sam3_service/web/static/js/state.js";
import {
  addVideoMark,
  frameAt,
  frameTime,
  processedFrame,
  readOptions,
  settledProgress,
  taskProgress,
  videoRequestFields,
  videoTextSetAside,
  videoTiming,
} from "../../../src/sam3_service/web/static/js/video.js";

const size = { width: 160, height: 120 };

test("the frame under the playhead comes from the time and the frame rate", () => {
  assert.equal(frameAt(0, 12), 0);
  assert.equal(frameAt(0.25, 12), 3);
  assert.equal(frameAt(3 / 12 - 1e-6, 12), 3, "a paused time a hair early still shows that frame");
  assert.equal(frameAt(0.2499, 12), 2);
  assert.equal(frameAt(10, null), 0, "an unknown frame rate means frame 0");
  assert.equal(frameAt(Number.NaN, 25), 0);
});

test("seeking to a frame lands in its middle, so it shows that frame", () => {
  for (const fps of [12, 23.976, 29.97, 60]) {
    for (const index of [0, 1, 7, 299]) assert.equal(frameAt(frameTime(index, fps), fps), index, `${fps}`);
  }
  assert.equal(frameTime(5, null), 0);
});

test("marks go on a processed frame: the one at or before, for a stride", () => {
  assert.equal(processedFrame(7, 1), 7);
  assert.equal(processedFrame(7, 3), 6);
  assert.equal(processedFrame(6, 3), 6);
  assert.equal(processedFrame(7, 0), 7, "a stride below 1 counts as 1");
});

test("options left blank are the service's defaults", () => {
  assert.deepEqual(readOptions("1", ""), { stride: 1, maxFrames: null });
  assert.deepEqual(readOptions(" 3 ", "40"), { stride: 3, maxFrames: 40 });
  assert.deepEqual(readOptions("", " "), { stride: 1, maxFrames: null });
  assert.deepEqual(readOptions("0", "-2"), { stride: 0, maxFrames: -2 }, "the service explains bad values");
});

test("marks stay on one frame: a mark on another frame starts over", () => {
  const first = addVideoMark(
    { marks: [], markFrame: null },
    { kind: "point", x: 10, y: 20, positive: true },
    4,
    size,
  );
  assert.deepEqual(first, { marks: [{ kind: "point", x: 10, y: 20, positive: true }], markFrame: 4 });
  const second = addVideoMark(first, { kind: "point", x: 30, y: 40, positive: false }, 4, size);
  assert.equal(second.marks.length, 2);
  const elsewhere = addVideoMark(second, { kind: "point", x: 5, y: 5, positive: true }, 9, size);
  assert.deepEqual(elsewhere, { marks: [{ kind: "point", x: 5, y: 5, positive: true }], markFrame: 9 });
});

test("a video takes one positive box: a new one replaces the old, a wobble adds none", () => {
  const drag = (a, b) => ({ kind: "box", a, b, positive: false });
  const state = { marks: addPoint([], { x: 1, y: 1, positive: true }, size), markFrame: 0 };
  const boxed = addVideoMark(state, drag({ x: 10, y: 10 }, { x: 50, y: 60 }), 0, size);
  assert.deepEqual(boxed.marks.at(-1), { kind: "box", x0: 10, y0: 10, x1: 50, y1: 60, positive: true });
  const again = addVideoMark(boxed, drag({ x: 70, y: 70 }, { x: 20, y: 30 }), 0, size);
  assert.deepEqual(
    again.marks.map((mark) => mark.kind),
    ["point", "box"],
  );
  assert.equal(again.marks[1].x0, 20);
  assert.equal(addVideoMark(again, drag({ x: 5, y: 5 }, { x: 6, y: 90 }), 0, size), null);
});

test("any mark sets the text aside in a video", () => {
  assert.equal(videoTextSetAside("car", []), false);
  assert.equal(videoTextSetAside("car", [{ kind: "box" }]), true);
  assert.equal(videoTextSetAside(" ", [{ kind: "point" }]), false);
});

test("text asks for every instance, with the score to track it; defaults are not sent", () => {
  const options = { frame: null, stride: 1, maxFrames: null, threshold: 0.3 };
  assert.deepEqual(videoRequestFields(" person ", [], options), { prompt: "person", score_threshold: 0.3 });
  assert.deepEqual(videoRequestFields("person", [], { ...options, stride: 2, maxFrames: 50 }), {
    prompt: "person",
    score_threshold: 0.3,
    frame_stride: 2,
    max_frames: 50,
  });
});

test("marks follow one object from their frame, and the text is set aside", () => {
  const marks = [
    { kind: "point", x: 10, y: 20, positive: true },
    { kind: "point", x: 30, y: 40, positive: false },
    { kind: "box", x0: 1, y0: 2, x1: 50, y1: 60, positive: true },
  ];
  const fields = videoRequestFields("person", marks, {
    frame: 6,
    stride: 3,
    maxFrames: null,
    threshold: 0.5,
  });
  assert.deepEqual(fields, {
    points: [
      [10, 20, 1],
      [30, 40, 0],
    ],
    boxes: [[1, 2, 50, 60]],
    prompt_frame: 6,
    frame_stride: 3,
  });
});

test("the progress bar counts frames, and keeps how a video task ended", () => {
  const running = { task_id: "t", status: "running", progress: 0.25, frames: { done: 3, total: 12 } };
  assert.deepEqual(taskProgress(running), {
    status: "running",
    value: 0.25,
    frames: { done: 3, total: 12 },
    taskId: "t",
  });
  const asked = { ...taskProgress(running), status: "cancelling" };
  assert.equal(taskProgress(running, asked).status, "cancelling", "a cancel asked for stays on show");
  const done = { ...running, status: "succeeded", progress: 1, frames: { done: 12, total: 12 } };
  assert.equal(taskProgress(done, asked).status, "succeeded");
  assert.equal(taskProgress({ ...running, status: "failed" }), null);
  assert.equal(taskProgress({ task_id: "i", status: "succeeded", progress: 1, frames: null }), null);
  assert.equal(settledProgress(taskProgress(done)).status, "succeeded");
  assert.equal(settledProgress({ status: "sending" }), null);
  assert.equal(settledProgress(taskProgress(running)), null);
});

test("the video's timing comes from its header, then from the service's summary", () => {
  const image = { kind: "video", fps: 12, frames: 24 };
  assert.deepEqual(videoTiming({ image, overlayUrl: null, result: null }), { fps: 12, stride: 1, last: 23 });
  const result = { video: { fps: 12.5, frames: 25 }, prompt: { frame_stride: 2 } };
  assert.deepEqual(videoTiming({ image, overlayUrl: "blob:x", result }), { fps: 12.5, stride: 2, last: 24 });
  assert.deepEqual(videoTiming({ image: { kind: "video", fps: null, frames: null }, overlayUrl: null }), {
    fps: null,
    stride: 1,
    last: null,
  });
});
