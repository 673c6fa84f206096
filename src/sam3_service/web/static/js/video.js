// The rules of the video path, without the page: which frame is shown, what a video task is
// asked, and what the progress bar says about it.

import { addBox, addPoint } from "./state.js";

const EPSILON_FRAMES = 1e-3; // a paused time a hair before a frame's start still shows that frame

/** The frame (from 0) shown at `seconds` in a video of `fps` frames a second; 0 if unknown. */
export function frameAt(seconds, fps) {
  if (!fps || !Number.isFinite(seconds) || seconds <= 0) return 0;
  return Math.floor(seconds * fps + EPSILON_FRAMES);
}

/** A time inside frame `index`, its middle, to seek to that frame. */
export function frameTime(index, fps) {
  return fps ? (index + 0.5) / fps : 0;
}

/** The processed frame at or before `frame` when every `stride`-th frame is processed. */
export function processedFrame(frame, stride = 1) {
  return frame - (frame % Math.max(1, stride));
}

/** The video options typed in the Options disclosure: blank means the service's default. */
export function readOptions(strideText, maxFramesText) {
  const number = (text) => (String(text).trim() === "" ? null : Number(text));
  return { stride: number(strideText) ?? 1, maxFrames: number(maxFramesText) };
}

/**
 * Add a click or a box on frame `frame`. Marks made on another frame are dropped (a video
 * prompt is on one frame); a video takes one box, always positive, so a new box replaces the
 * old. Returns `{marks, markFrame}`, or null when nothing was added.
 */
export function addVideoMark({ marks, markFrame }, mark, frame, size) {
  const kept = frame === markFrame ? marks : [];
  if (mark.kind === "point") return { marks: addPoint(kept, mark, size), markFrame: frame };
  const boxed = addBox(kept, { ...mark.a, positive: true }, mark.b, size);
  if (boxed === kept) return null;
  const box = boxed.at(-1);
  return { marks: [...kept.filter((old) => old.kind !== "box"), box], markFrame: frame };
}

/** In a video, any mark follows one object, so the text is set aside. */
export function videoTextSetAside(prompt, marks) {
  return Boolean(prompt.trim()) && marks.length > 0;
}

/**
 * The request fields of a video task: marks on `frame` follow one object; otherwise the text
 * finds every instance, tracked when it scores `threshold`. Options the reader left at their
 * default are not sent.
 */
export function videoRequestFields(prompt, marks, { frame, stride, maxFrames, threshold }) {
  const fields = {};
  if (marks.length) {
    const points = marks.filter((mark) => mark.kind === "point");
    const box = marks.find((mark) => mark.kind === "box");
    if (points.length) fields.points = points.map((p) => [p.x, p.y, p.positive ? 1 : 0]);
    if (box) fields.boxes = [[box.x0, box.y0, box.x1, box.y1]];
    fields.prompt_frame = frame;
  } else {
    fields.prompt = prompt.trim();
    fields.score_threshold = threshold;
  }
  if (stride !== 1) fields.frame_stride = stride;
  if (maxFrames !== null) fields.max_frames = maxFrames;
  return fields;
}

/**
 * What the progress bar shows for a task view: how far it got, until it ends (see
 * settledProgress). A cancel asked for (`previous` says "cancelling") stays on show meanwhile.
 */
export function taskProgress(view, previous = null) {
  const running = ["queued", "running"].includes(view.status);
  const status = running && previous?.status === "cancelling" ? "cancelling" : view.status;
  const progress = { status, value: view.progress, frames: view.frames ?? null, taskId: view.task_id };
  return running ? progress : settledProgress(progress);
}

/** The progress to keep showing once a run is over: how a video task ended, else none. */
export function settledProgress(progress) {
  return progress?.frames && ["succeeded", "cancelled"].includes(progress.status) ? progress : null;
}

/**
 * How the video on the stage runs: `fps`, the `stride` between its frames (the overlay of a
 * strided task holds every stride-th frame) and its `last` frame index, from the service's
 * summary once there is one, else from the file's own header.
 */
export function videoTiming(state) {
  const summary = state.overlayUrl ? state.result?.video : null;
  const fps = summary?.fps ?? state.image?.fps ?? null;
  const frames = summary?.frames ?? state.image?.frames ?? null;
  const stride = state.overlayUrl ? (state.result?.prompt?.frame_stride ?? 1) : 1;
  return { fps, stride, last: frames ? frames - 1 : null };
}
