// The video path of the page: show and probe a video, mark the paused frame, submit a tracking
// task, play its overlay, and cancel it. Errors are left to the caller (see actions.js).

import { probeMp4 } from "./mp4.js";
import { summarisePrompt, taskResult } from "./state.js";
import { addVideoMark, frameAt, processedFrame, readOptions, videoRequestFields } from "./video.js";

/** Play a video file on the stage and read its frame rate; resolves with what was learnt. */
export async function openVideo({ stage }, image) {
  const [shown, probed] = await Promise.all([stage.showVideo(image.url), probeMp4(image.file)]);
  const frames = probed?.frames ?? null;
  return { width: shown.width, height: shown.height, fps: probed?.fps ?? null, frames };
}

function options({ $ }) {
  return readOptions($("frame-stride").value, $("max-frames").value);
}

/**
 * A click or box on the video: it goes on the processed frame under the playhead (frame 0 when
 * the frame rate is unknown), which the stage then shows. Returns the state patch, or null.
 */
export function markVideo(page, mark) {
  const state = page.store.get();
  const { fps } = state.image;
  const shown = frameAt(page.player.status().time, fps);
  const frame = processedFrame(shown, options(page).stride);
  const patch = addVideoMark(state, mark, frame, state.image);
  if (patch && (frame !== shown || !fps)) page.player.showFrame(frame);
  return patch;
}

/** Queue a tracking task for the open video; remembers it in the recent list. Returns its id. */
export async function submitVideo(page, image, prompt, marks) {
  const { client, store, recent } = page;
  const { markFrame, threshold } = store.get();
  const fields = videoRequestFields(prompt, marks, { ...options(page), frame: markFrame, threshold });
  const view = await client.submitTask(fields, { file: image.file });
  recent.remember({
    id: view.task_id,
    name: image.name,
    label: `${image.name} ${marks.length ? summarisePrompt("", marks) : summarisePrompt(prompt, [])}`.trim(),
    status: view.status,
    kind: "video",
  });
  store.update({ recentTasks: recent.list() });
  return view.task_id;
}

/** Play a finished video task's overlay on the stage and list its tracks. */
export async function showVideoResult(page, view, { auth = true } = {}) {
  const { client, store, stage } = page;
  const { image } = store.get();
  const blob = await client.blob(view.links.overlay_mp4, { auth });
  if (store.get().image !== image) return;
  const overlayUrl = URL.createObjectURL(blob);
  forgetOverlay(store.get());
  store.update({ result: taskResult(view), taskId: view.task_id, overlayUrl });
  await stage.showVideo(overlayUrl);
}

/** Go back from a result's overlay to the video itself. */
export function closeOverlay({ store, stage }) {
  const state = store.get();
  if (!state.overlayUrl) return;
  forgetOverlay(state);
  store.update({ overlayUrl: null });
  if (state.image?.url) stage.showVideo(state.image.url).catch(() => {});
}

/** Release the overlay's memory once the stage no longer plays it. */
export function forgetOverlay({ overlayUrl }) {
  if (overlayUrl) URL.revokeObjectURL(overlayUrl);
}

/** Ask the service to cancel the task being followed; the poll then sees it end. */
export async function cancelTask({ client, store }) {
  const { progress } = store.get();
  if (!progress?.taskId) return;
  store.update({ progress: { ...progress, status: "cancelling" } });
  try {
    await client.cancelTask(progress.taskId);
  } catch (error) {
    if (error.code !== "conflict") throw error; // it finished meanwhile: the poll shows how
  }
}
