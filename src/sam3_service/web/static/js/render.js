// Drawing the page from its state: controls, the result list and overlay, steps and progress,
// and for a video its bar, options and tracks.

import { layerAt, makeLayer, rimThickness } from "./overlay.js";
import { decodeRle } from "./rle.js";
import { filterObjects, textSetAside } from "./state.js";
import { videoTextSetAside, videoTiming } from "./video.js";
import {
  colourOf,
  layerLabels,
  renderCredits,
  renderErrors,
  renderExamples,
  renderObjects,
  renderRecent,
  renderSteps,
  renderTracks,
  syncObjects,
} from "./view.js";

const MAX_LABELS = 6; // with more objects, only the highlighted one is labelled on the picture
const changed = (change, ...keys) => keys.some((key) => key in change);

/** A store subscriber: redraw what `change` touched. */
export function render(page, state, change) {
  const { $, t, stage } = page;
  $("run").disabled = !(state.ready && !state.busy && state.cooldown === 0 && state.image?.file);
  $("undo").disabled = state.marks.length === 0;
  $("clear").disabled = state.marks.length === 0 && !state.result;
  stage.setInteractive(
    !state.readOnly && Boolean(state.image?.width) && !state.image?.flattened && !state.overlayUrl,
  );
  if (changed(change, "marks", "image")) {
    stage.setMarks(state.marks);
    showTextAside(page);
  }
  if (changed(change, "image", "overlayUrl", "language")) renderMedia(page, state);
  if (changed(change, "image", "overlayUrl", "result", "marks", "markFrame", "language")) {
    page.player.setTiming(videoTiming(state));
  }
  if (changed(change, "errors", "language")) {
    renderErrors(page.document, state.errors, t);
    if (state.errors.options) $("video-options").open = true;
  }
  if (changed(change, "progress", "language")) renderProgress(page, state.progress);
  if (changed(change, "steps", "language")) {
    renderSteps($("steps-list"), $("timing"), state.steps, t);
    $("steps").hidden = state.steps.length === 0;
  }
  if (changed(change, "result")) {
    $("share-result").hidden = true;
    if (state.result?.model?.random) $("random-banner").hidden = false;
  }
  if (changed(change, "result", "threshold", "language", "hidden")) renderResult(page, state);
  if (changed(change, "result", "threshold", "hidden", "highlight", "image")) {
    syncObjects($("objects"), state);
    drawResult(page, state);
  }
  if (changed(change, "examples", "language")) {
    $("examples-section").hidden = state.examples.length === 0;
    renderExamples($("examples"), state.examples, t);
    renderCredits($("credits"), state.examples, t);
  }
  if (changed(change, "recentTasks", "language")) {
    renderRecent($("recent-section"), $("recent"), state.recentTasks, t, state.language);
  }
}

/** Say under the prompt when clicks (on a video, any mark) set the text aside. */
export function showTextAside({ $, store }) {
  const { marks, image } = store.get();
  const setAside = image?.kind === "video" ? videoTextSetAside : textSetAside;
  $("prompt-aside").hidden = !setAside($("prompt").value, marks);
}

/** What changes between a picture, a video and a video's tracked overlay. */
function renderMedia({ $, t }, state) {
  const video = state.image?.kind === "video";
  const [title, help] = !video
    ? ["stage.title", "stage.help"]
    : state.overlayUrl
      ? ["stage.titleTracked", "stage.helpTracked"]
      : ["stage.titleVideo", "stage.helpVideo"];
  $("stage-title").textContent = t(title);
  $("stage-help").textContent = t(help);
  $("run").textContent = t(video ? "run.video" : "run");
  $("video-bar").hidden = !video;
  $("video-options").hidden = !video;
  $("threshold-note").hidden = !video || state.readOnly;
  $("threshold-row").hidden = video && state.readOnly; // it only sets the next run's threshold
}

/** The video bar: play or pause, the frame under the playhead, and whether the marks are on it. */
export function renderPlayer({ $, t, store, player, stage }) {
  const state = store.get();
  if (state.image?.kind !== "video") return;
  const { fps, last } = videoTiming(state);
  const { time, duration, frame, paused } = player.status();
  $("video-play").textContent = paused ? "▶" : "❚❚";
  $("video-play").setAttribute("aria-label", t(paused ? "video.play" : "video.pause"));
  $("video-back").disabled = !fps;
  $("video-forward").disabled = !fps;
  $("video-seek").max = String(duration);
  $("video-seek").value = String(time);
  const place = fps
    ? t("video.frame", { frame, last: last ?? "?" })
    : t("video.time", { seconds: time.toFixed(2) });
  const marked = state.marks.length > 0 && state.markFrame !== null;
  $("video-frame").textContent = marked
    ? `${place} · ${t("video.marksOn", { frame: state.markFrame })}`
    : place;
  $("video-note").hidden = Boolean(fps) || !state.image.width || state.readOnly || Boolean(state.overlayUrl);
  stage.setMarksDimmed(marked && frame !== state.markFrame);
}

function renderResult(page, state) {
  page.$("threshold-value").textContent = state.threshold.toFixed(2);
  if (state.image?.kind === "video") {
    renderVideoResult(page, state);
    return;
  }
  const { $, t, document } = page;
  const { listed, belowThreshold, total } = renderObjects($("objects"), state, t, state.language);
  const { result } = state;
  $("objects-count").textContent = result ? t("objects.count", { shown: listed.length, total }) : "";
  const notes = result
    ? [
        listed.length ? "" : t("objects.none"),
        belowThreshold ? t("objects.below", { count: belowThreshold }) : "",
      ]
    : [t("objects.before")];
  $("objects-note").textContent = notes.filter(Boolean).join(" ");
  renderDownloads(page, state);
}

/** A video's tracks, how long tracking took, and its files. */
function renderVideoResult(page, state) {
  const { $, t } = page;
  const { result } = state;
  const tracks = result?.tracks ?? [];
  renderTracks($("objects"), tracks, t);
  $("objects-count").textContent = result ? t("tracks.count", { count: tracks.length }) : "";
  const summary = result
    ? t("tracks.summary", {
        frames: result.frames_processed,
        seconds: ((result.timings_ms?.total ?? 0) / 1000).toFixed(1),
        fps: result.frames_per_second?.toFixed(1) ?? "–",
      })
    : "";
  const notes = result ? [tracks.length ? "" : t("tracks.none"), summary] : [t("tracks.before")];
  $("objects-note").textContent = notes.filter(Boolean).join(" ");
  renderDownloads(page, state);
}

/** The download buttons the result's links allow (an example has only its JSON), and sharing. */
function renderDownloads({ $, t, document }, { result, image, readOnly }) {
  const links = result?.links;
  $("downloads").hidden = !result;
  for (const button of document.querySelectorAll("[data-download]")) {
    const kind = button.dataset.download;
    button.hidden = links ? !links[kind] : kind !== "result_json";
  }
  $("download-json").textContent = t(image?.kind === "video" ? "downloads.summary" : "downloads.json");
  $("downloads-note").hidden = !result || Boolean(links);
  $("share").hidden = !links || readOnly;
}

function renderProgress({ $, t }, progress) {
  $("progress").hidden = !progress;
  $("cancel").hidden = !["queued", "running"].includes(progress?.status) || !progress.taskId;
  if (!progress) return;
  const bar = $("progress-bar");
  if (progress.status === "sending") {
    bar.removeAttribute("value");
    $("progress-text").textContent = t(progress.video ? "progress.uploading" : "progress.sending");
    return;
  }
  bar.value = progress.value ?? 0;
  $("progress-text").textContent = progressText(t, progress);
}

function progressText(t, { status, value, frames }) {
  const percent = Math.round((value ?? 0) * 100);
  if (status === "queued") return t("progress.queued");
  if (status === "cancelling") return t("progress.cancelling");
  if (!frames) return t("progress.running", { percent });
  if (status === "succeeded") return t("progress.done", frames);
  if (status === "cancelled") return t("progress.cancelled", frames);
  return t("progress.frames", { ...frames, percent });
}

/** The decoded masks of a result, built once per result. */
function resultLayers(page, result) {
  if (page.layers.result !== result) {
    const { width, height } = result.image;
    const thickness = rimThickness(width, height);
    const all = result.objects.map((object) => {
      const mask = decodeRle(object.rle).data;
      return makeLayer({ id: object.id, colour: colourOf(object.id), mask, width, height, thickness });
    });
    page.layers = { result, all };
  }
  return page.layers.all;
}

function shownLayers(page, state) {
  if (!state.result?.objects || state.image?.flattened) return [];
  const { listed } = filterObjects(state.result.objects, state.threshold, state.hidden);
  const shown = new Set(listed.filter((object) => object.shown).map((object) => object.id));
  return resultLayers(page, state.result).filter((layer) => shown.has(layer.id));
}

function drawResult(page, state) {
  const visible = shownLayers(page, state);
  const labelled =
    visible.length <= MAX_LABELS ? visible : visible.filter((layer) => layer.id === state.highlight);
  page.stage.drawLayers(visible, state.highlight, layerLabels(labelled, state.result?.objects ?? []));
}

/** Highlight the object under the pointer (stage callback). */
export function hoverAt(page, point) {
  const state = page.store.get();
  const id = point ? layerAt(shownLayers(page, state), point.x, point.y) : null;
  if (id !== state.highlight) page.store.update({ highlight: id });
}
