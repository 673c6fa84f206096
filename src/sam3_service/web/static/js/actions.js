// What the reader can do: open a picture, mark it, run a segmentation; and what the page does
// with the answers, errors included.

import { pollTask } from "./api.js";
import { explainError } from "./errors.js";
import { KEY_STORAGE } from "./page.js";
import {
  addBox,
  addPoint,
  describeStep,
  hasPrompt,
  requestFields,
  summarisePrompt,
  taskResult,
} from "./state.js";
import { settledProgress, taskProgress } from "./video.js";
import {
  closeOverlay,
  forgetOverlay,
  markVideo,
  openVideo,
  showVideoResult,
  submitVideo,
} from "./videotask.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const noDetail = (key) => ({ key, params: {}, detail: "" });

/** Poll /ready until the service can segment, showing a calm banner meanwhile. */
export async function watchReadiness(page) {
  if (page.watchingReadiness) return;
  page.watchingReadiness = true;
  page.store.update({ ready: false });
  for (;;) {
    let answer = null;
    try {
      answer = await page.client.ready();
    } catch {
      answer = null;
    }
    showReadiness(page, answer);
    if (answer?.ready) break;
    await sleep(answer?.body?.status === "failed" ? 5000 : 1000);
  }
  page.watchingReadiness = false;
  page.store.update({ ready: true });
}

function showReadiness({ $, t }, answer) {
  const status = answer?.body?.status;
  $("starting-banner").hidden = Boolean(answer?.ready) || status !== "starting";
  $("failed-banner").hidden = Boolean(answer) && !["failed", "degraded"].includes(status);
  $("failed-banner").querySelector("strong").textContent = t(answer ? "ready.failed" : "ready.offline");
  $("failed-reason").textContent = answer?.body?.reason ?? "";
  if (answer?.ready) $("random-banner").hidden = !answer.body.model?.random;
}

/**
 * Show a file (picked, dropped, an example, a stored picture or a task's video) and forget the
 * last result; a task still followed is left to run, unwatched.
 */
export async function openPicture(page, file, { name = file.name, sha256 = null } = {}) {
  const { store, stage } = page;
  const previous = store.get();
  if (previous.image?.url) URL.revokeObjectURL(previous.image.url);
  forgetOverlay(previous);
  page.following?.abort();
  const kind = file.type.startsWith("video/") ? "video" : "image";
  const image = { url: URL.createObjectURL(file), file, name, kind, sha256, width: null, height: null };
  showFileName(page, file);
  page.pendingRun = false;
  store.update({
    image,
    marks: [],
    markFrame: null,
    result: null,
    overlayUrl: null,
    taskId: null,
    steps: [],
    hidden: new Set(),
    highlight: null,
    errors: {},
    progress: null,
  });
  try {
    Object.assign(image, kind === "video" ? await openVideo(page, image) : await stage.showImage(image.url));
  } catch {
    showError(page, "file", noDetail("error.preview"));
  }
  if (store.get().image === image) store.update({ image });
  return image;
}

/** Show which file is open in the file field, whichever way it came. */
function showFileName({ $ }, file) {
  const input = $("file");
  if (input.files?.[0] === file) return;
  const transfer = new DataTransfer();
  transfer.items.add(file);
  input.files = transfer.files;
}

/** Add a click or a box made on the stage; a picture is segmented again at once. */
export function addMark(page, mark) {
  const { store, $, t } = page;
  const { image, readOnly } = store.get();
  if (readOnly || !image?.width) return;
  const patch = image.kind === "video" ? markVideo(page, mark) : markPicture(store.get(), mark);
  if (!patch) return;
  $("marks-status").textContent = describeMark(t, patch.marks.at(-1));
  store.update(patch);
  if (image.kind === "image") requestRun(page);
}

function markPicture({ marks, image }, mark) {
  const next =
    mark.kind === "point"
      ? addPoint(marks, mark, image)
      : addBox(marks, { ...mark.a, positive: mark.positive }, mark.b, image);
  return next === marks ? null : { marks: next };
}

/** A mark in words, for screen readers. */
function describeMark(t, mark) {
  const r = Math.round;
  if (mark.kind === "box")
    return t("marks.box", { x0: r(mark.x0), y0: r(mark.y0), x1: r(mark.x1), y1: r(mark.y1) });
  const kind = t(mark.positive ? "tools.positive" : "tools.negative");
  return t("marks.point", { kind, x: r(mark.x), y: r(mark.y) });
}

/** Remove the last mark; a picture is segmented again while something is left to segment with. */
export function undoMark(page) {
  const { store, $, t } = page;
  const { marks, image } = store.get();
  if (!marks.length) return;
  const left = marks.slice(0, -1);
  store.update({ marks: left, ...(left.length ? {} : { markFrame: null }) });
  $("marks-status").textContent = t("marks.removed");
  if (image.kind === "video") return;
  if (hasPrompt($("prompt").value, left)) requestRun(page);
  else store.update({ result: null });
}

/** Forget the marks and the result; a video shows itself again instead of its overlay. */
export function clearPrompt(page) {
  closeOverlay(page);
  page.store.update((state) => ({
    marks: [],
    markFrame: null,
    result: null,
    errors: {},
    ...(state.busy ? {} : { progress: null }),
  }));
}

/** Run now, or once the run in flight has answered (clicks arriving quickly coalesce). */
export function requestRun(page) {
  const state = page.store.get();
  if (!state.ready || state.cooldown > 0) return;
  if (state.busy) {
    page.pendingRun = true;
    return;
  }
  run(page);
}

async function run(page) {
  const { store, $ } = page;
  const { image, marks } = store.get();
  const prompt = $("prompt").value;
  if (!image) return showError(page, "file", noDetail("error.noImage"));
  const video = image.kind === "video";
  if (!hasPrompt(prompt, marks))
    return showError(page, "prompt", noDetail(video ? "error.noVideoPrompt" : "error.noPrompt"));
  store.update({ busy: true, errors: {}, progress: { status: "sending", video } });
  const started = performance.now();
  try {
    if (video) {
      await followTask(page, await submitVideo(page, image, prompt, marks));
    } else {
      const result = await segmentImage(page, requestFields(prompt, marks), image);
      if (store.get().image === image) acceptResult(page, result, performance.now() - started, prompt, marks);
    }
  } catch (error) {
    if (store.get().image === image) await handleError(page, error, { video, retry: () => run(page) });
  } finally {
    store.update((state) => ({ busy: false, progress: settledProgress(state.progress) }));
  }
  if (page.pendingRun) {
    page.pendingRun = false;
    requestRun(page);
  }
}

/** Refine by `image_id` once the service has the picture; upload it when it does not. */
async function segmentImage({ client }, fields, image) {
  if (image.sha256) {
    try {
      return await client.segment(fields, { imageId: image.sha256 });
    } catch (error) {
      if (error.code !== "not_found") throw error;
    }
  }
  return client.segment(fields, { file: image.file });
}

/**
 * Follow a queued task with the progress bar (a video's in frames, with a cancel button), then
 * show its result or its error. Opening another file stops following (resolves with null).
 */
export async function followTask(page, taskId) {
  const { store, recent } = page;
  const { image } = store.get();
  page.following?.abort();
  const following = new AbortController();
  page.following = following;
  const view = await pollTask(page.client, taskId, {
    signal: following.signal,
    onProgress: (update) => store.update((state) => ({ progress: taskProgress(update, state.progress) })),
  });
  if (!view) return null;
  recent.update(taskId, { status: view.status });
  store.update({ recentTasks: recent.list() });
  if (store.get().image !== image) return view;
  if (view.status === "succeeded" && view.kind === "video") {
    await showVideoResult(page, view);
  } else if (view.status === "succeeded") {
    store.update({ result: taskResult(view), taskId });
  } else if (view.error) {
    showError(page, "general", explainError(view.error, { video: view.kind === "video" }));
  }
  return view;
}

function acceptResult(page, result, roundTripMs, prompt, marks) {
  const { store, recent } = page;
  const state = store.get();
  const image = { ...state.image, sha256: result.image.sha256, stored: true };
  if (!state.image.stored) page.pictures.put(image.sha256, image.file);
  const steps = [...state.steps, describeStep(result, roundTripMs, state.steps.length + 1)];
  store.update({ image, result, taskId: result.task_id, steps, hidden: new Set(), highlight: null });
  recent.remember({
    id: result.task_id,
    name: image.name,
    label: `${image.name} ${summarisePrompt(prompt, marks)}`.trim(),
    status: "succeeded",
    sha256: image.sha256,
  });
  store.update({ recentTasks: recent.list() });
}

/** Show an explained error next to its field (see errors.js). */
export function showError({ store }, field, explained) {
  store.update((state) => ({ errors: { ...state.errors, [field]: explained } }));
}

/** Put an API error next to its field; ask for a key on 401; wait out 429 and 503. */
export async function handleError(page, error, { video = false, retry = null } = {}) {
  const explained = explainError(error, { video, sentKey: Boolean(page.storage.getItem(KEY_STORAGE)) });
  if (explained.field === "key") {
    askForKey(page, page.t(explained.key), retry);
    return;
  }
  if (error.code === "model_not_ready") watchReadiness(page);
  if (error.code === "rate_limited" || error.code === "busy") coolDown(page, explained);
  if (error.code === "timed_out" && error.details?.task_id) {
    await followTask(page, error.details.task_id);
    return;
  }
  showError(page, explained.field, explained);
}

/** Keep Run disabled while the service asks to wait, counting down in the error banner. */
async function coolDown({ store }, explained) {
  for (let left = explained.params.seconds; left > 0; left -= 1) {
    store.update((state) => ({
      cooldown: left,
      errors: { ...state.errors, general: { ...explained, params: { seconds: left } } },
    }));
    await sleep(1000);
  }
  store.update((state) => ({ cooldown: 0, errors: { ...state.errors, general: undefined } }));
}

/** Open the API key dialog; `retry` runs once a key is saved. */
export function askForKey(page, message, retry) {
  const { $ } = page;
  page.retryAfterKey = retry;
  $("key-message").textContent = message;
  $("key-message").hidden = !message;
  $("key-input").value = page.storage.getItem(KEY_STORAGE) ?? "";
  $("key-button").hidden = false;
  $("key-dialog").showModal();
}

/** Keep the key typed in the dialog and retry what needed it. */
export function saveKey(page, key) {
  page.storage.setItem(KEY_STORAGE, key.trim());
  const retry = page.retryAfterKey;
  page.retryAfterKey = null;
  page.store.update({ errors: {} });
  if (retry) retry();
}
