// Drawing the page from its state: controls, the result list and overlay, steps and progress.

import { layerAt, makeLayer, rimThickness } from "./overlay.js";
import { decodeRle } from "./rle.js";
import { filterObjects, textSetAside } from "./state.js";
import {
  colourOf,
  layerLabels,
  renderCredits,
  renderErrors,
  renderExamples,
  renderObjects,
  renderRecent,
  renderSteps,
  syncObjects,
} from "./view.js";

const MAX_LABELS = 6; // with more objects, only the highlighted one is labelled on the picture
const changed = (change, ...keys) => keys.some((key) => key in change);

/** A store subscriber: redraw what `change` touched. */
export function render(page, state, change) {
  const { $, t, stage } = page;
  $("run").disabled = !(state.ready && !state.busy && state.cooldown === 0 && state.image);
  $("undo").disabled = state.marks.length === 0;
  $("clear").disabled = state.marks.length === 0 && !state.result;
  stage.setInteractive(!state.readOnly && Boolean(state.image?.width) && !state.image?.flattened);
  if (changed(change, "marks", "image")) {
    stage.setMarks(state.marks);
    showTextAside(page);
  }
  if (changed(change, "errors", "language")) renderErrors(page.document, state.errors, t);
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

/** Say under the prompt when clicks set the text aside. */
export function showTextAside({ $, store }) {
  $("prompt-aside").hidden = !textSetAside($("prompt").value, store.get().marks);
}

function renderResult({ $, t, document }, state) {
  const { listed, belowThreshold, total } = renderObjects($("objects"), state, t, state.language);
  const { result } = state;
  $("threshold-value").textContent = state.threshold.toFixed(2);
  $("objects-count").textContent = result ? t("objects.count", { shown: listed.length, total }) : "";
  const notes = result
    ? [
        listed.length ? "" : t("objects.none"),
        belowThreshold ? t("objects.below", { count: belowThreshold }) : "",
      ]
    : [t("objects.before")];
  $("objects-note").textContent = notes.filter(Boolean).join(" ");
  const hasLinks = Boolean(result?.links);
  $("downloads").hidden = !result;
  for (const button of document.querySelectorAll("[data-download]")) {
    button.hidden = !hasLinks && button.dataset.download !== "result_json";
  }
  $("downloads-note").hidden = !result || hasLinks;
  $("share").hidden = !hasLinks || state.readOnly;
}

function renderProgress({ $, t }, progress) {
  $("progress").hidden = !progress;
  if (!progress) return;
  const bar = $("progress-bar");
  if (progress.status === "sending") {
    bar.removeAttribute("value");
    $("progress-text").textContent = t("progress.sending");
    return;
  }
  bar.value = progress.value ?? 0;
  $("progress-text").textContent =
    progress.status === "queued"
      ? t("progress.queued")
      : t("progress.running", { percent: Math.round((progress.value ?? 0) * 100) });
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
  if (!state.result || state.image?.flattened) return [];
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
