// The page: wires the stage, the panel and the API together. Everything it shows comes from the
// service's public HTTP API.

import { createClient, pollTask } from "./api.js";
import { explainError } from "./errors.js";
import { chooseLanguage, createTranslator, saveLanguage, savedLanguage, translatePage } from "./i18n.js";
import { createImageStore } from "./imagestore.js";
import { makeLayer, layerAt, rimThickness } from "./overlay.js";
import { createRecentTasks } from "./recent.js";
import { decodeRle } from "./rle.js";
import { createStage } from "./stage.js";
import {
  addBox,
  addPoint,
  createStore,
  describeStep,
  filterObjects,
  hasPrompt,
  initialState,
  requestFields,
  summarisePrompt,
  textSetAside,
  toggleHidden,
} from "./state.js";
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

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "sam3.apiKey";
const MAX_LABELS = 6;
const DOWNLOAD_NAMES = { masks_png: "masks.png", overlay_png: "overlay.png", result_json: "result.json" };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const storage = browserStorage();
const store = createStore({ ...initialState(), errors: {}, progress: null, language: "en", cooldown: 0 });
const client = createClient({ getKey: () => storage.getItem(KEY_STORAGE) });
const recent = createRecentTasks(storage);
const pictures = createImageStore();
const stage = createStage(
  {
    wrap: $("canvas-wrap"),
    picture: $("picture"),
    video: $("video"),
    canvas: $("overlay"),
    svg: $("marks"),
    dropzone: $("dropzone"),
  },
  { onMark: addMark, onHover: hoverAt, onUndo: undoMark, onCursor: announceCursor },
);

let t = createTranslator("en");
let layers = { result: null, all: [] }; // decoded masks of the current result
let pendingRun = false;
let retryAfterKey = null;
let watchingReadiness = false;
let examples = [];

// ---- language ----------------------------------------------------------------------------

function setLanguage(language) {
  t = createTranslator(language);
  translatePage(document, t, language);
  $("language").value = language;
  store.update({ language });
}

// ---- readiness ---------------------------------------------------------------------------

/** Poll /ready until the service can segment, showing a calm banner meanwhile. */
async function watchReadiness() {
  if (watchingReadiness) return;
  watchingReadiness = true;
  store.update({ ready: false });
  for (;;) {
    let answer = null;
    try {
      answer = await client.ready();
    } catch {
      answer = null;
    }
    showReadiness(answer);
    if (answer?.ready) break;
    await sleep(answer?.body?.status === "failed" ? 5000 : 1000);
  }
  watchingReadiness = false;
  store.update({ ready: true });
}

function showReadiness(answer) {
  const status = answer?.body?.status;
  $("starting-banner").hidden = Boolean(answer?.ready) || status !== "starting";
  const failed = !answer || status === "failed" || status === "degraded";
  $("failed-banner").hidden = !failed;
  $("failed-banner").querySelector("strong").textContent = t(answer ? "ready.failed" : "ready.offline");
  $("failed-reason").textContent = answer?.body?.reason ?? "";
  if (answer?.ready) $("random-banner").hidden = !answer.body.model?.random;
}

// ---- pictures ----------------------------------------------------------------------------

/** Show a file (picked, dropped, an example or a stored picture) and forget the last result. */
async function openPicture(file, { name = file.name, sha256 = null } = {}) {
  const previous = store.get().image;
  if (previous?.url) URL.revokeObjectURL(previous.url);
  const kind = file.type.startsWith("video/") ? "video" : "image";
  const image = { url: URL.createObjectURL(file), file, name, kind, sha256, width: null, height: null };
  showFileName(file);
  pendingRun = false;
  store.update({ image, marks: [], result: null, taskId: null, steps: [], hidden: new Set(), highlight: null, errors: {} });
  if (kind === "video") {
    stage.showVideo(image.url);
    return image;
  }
  try {
    Object.assign(image, await stage.showImage(image.url));
  } catch {
    showError("file", { key: "error.preview", params: {}, detail: "" });
  }
  if (store.get().image === image) store.update({ image });
  return image;
}

/** Show which file is open in the file field, whichever way it came. */
function showFileName(file) {
  const input = $("file");
  if (input.files?.[0] === file) return;
  const transfer = new DataTransfer();
  transfer.items.add(file);
  input.files = transfer.files;
}

async function openFile(file) {
  if (!file || store.get().readOnly) return;
  $("prompt").focus({ preventScroll: true });
  await openPicture(file);
}

// ---- marks -------------------------------------------------------------------------------

function addMark(mark) {
  const { image, marks, readOnly } = store.get();
  if (readOnly || !image?.width) return;
  const next =
    mark.kind === "point" ? addPoint(marks, mark, image) : addBox(marks, { ...mark.a, positive: mark.positive }, mark.b, image);
  if (next === marks) return;
  const added = next.at(-1);
  $("marks-status").textContent =
    added.kind === "point"
      ? t("marks.point", { kind: t(added.positive ? "tools.positive" : "tools.negative"), x: Math.round(added.x), y: Math.round(added.y) })
      : t("marks.box", { x0: Math.round(added.x0), y0: Math.round(added.y0), x1: Math.round(added.x1), y1: Math.round(added.y1) });
  store.update({ marks: next });
  requestRun();
}

function undoMark() {
  const { marks } = store.get();
  if (!marks.length) return;
  store.update({ marks: marks.slice(0, -1) });
  $("marks-status").textContent = t("marks.removed");
  if (hasPrompt($("prompt").value, store.get().marks)) requestRun();
  else store.update({ result: null });
}

function announceCursor(point) {
  $("marks-status").textContent = t("marks.cursor", { x: Math.round(point.x), y: Math.round(point.y) });
}

// ---- running -----------------------------------------------------------------------------

/** Run now, or once the run in flight has answered (clicks arriving quickly coalesce). */
function requestRun() {
  if (!store.get().ready || store.get().cooldown > 0) return;
  if (store.get().busy) {
    pendingRun = true;
    return;
  }
  run();
}

async function run() {
  const { image, marks } = store.get();
  const prompt = $("prompt").value;
  if (!image) return showError("file", { key: "error.noImage", params: {}, detail: "" });
  if (image.kind === "image" && !hasPrompt(prompt, marks)) {
    return showError("prompt", { key: "error.noPrompt", params: {}, detail: "" });
  }
  store.update({ busy: true, errors: {}, progress: { status: "sending" } });
  const started = performance.now();
  try {
    const fields = requestFields(prompt, marks);
    if (image.kind === "video") {
      await runTask(fields, image);
    } else {
      const result = await segmentImage(fields, image);
      if (store.get().image === image) acceptResult(result, performance.now() - started, prompt, marks);
    }
  } catch (error) {
    if (store.get().image === image) await handleError(error, { video: image.kind === "video", retry: run });
  } finally {
    store.update({ busy: false, progress: null });
  }
  if (pendingRun) {
    pendingRun = false;
    requestRun();
  }
}

/** Refine by `image_id` once the service has the picture; upload it when it does not. */
async function segmentImage(fields, image) {
  if (image.sha256) {
    try {
      return await client.segment(fields, { imageId: image.sha256 });
    } catch (error) {
      if (error.code !== "not_found") throw error;
    }
  }
  return client.segment(fields, { file: image.file });
}

async function runTask(fields, image) {
  const view = await client.submitTask(fields, { file: image.file });
  recent.remember({ id: view.task_id, label: image.name, status: view.status });
  showRecent();
  await followTask(view.task_id);
}

/** Follow a queued task with the progress bar, then show its result or its error. */
async function followTask(taskId) {
  const { image } = store.get();
  const view = await pollTask(client, taskId, {
    onProgress: (update) => store.update({ progress: { status: update.status, value: update.progress } }),
  });
  recent.update(taskId, { status: view.status });
  showRecent();
  if (store.get().image !== image) return view;
  if (view.status === "succeeded" && view.result?.objects) {
    store.update({ result: { ...view.result, task_id: view.task_id, links: view.links }, taskId });
  } else if (view.error) {
    await handleError({ code: view.error.code, message: view.error.message, retryAfter: null }, {});
  }
  return view;
}

function acceptResult(result, roundTripMs, prompt, marks) {
  const state = store.get();
  const image = { ...state.image, sha256: result.image.sha256, stored: true };
  if (!state.image.stored) pictures.put(image.sha256, image.file);
  const steps = [...state.steps, describeStep(result, roundTripMs, state.steps.length + 1)];
  store.update({ image, result, taskId: result.task_id, steps, hidden: new Set(), highlight: null });
  recent.remember({
    id: result.task_id,
    name: image.name,
    label: `${image.name} ${summarisePrompt(prompt, marks)}`.trim(),
    status: "succeeded",
    sha256: image.sha256,
  });
  showRecent();
}

// ---- errors ------------------------------------------------------------------------------

function showError(field, explained) {
  store.update((state) => ({ errors: { ...state.errors, [field]: explained } }));
}

/** Put an API error next to its field; ask for a key on 401; wait out 429 and 503. */
async function handleError(error, { video = false, retry = null } = {}) {
  const explained = explainError(error, { video, sentKey: Boolean(storage.getItem(KEY_STORAGE)) });
  if (explained.field === "key") {
    askForKey(t(explained.key), retry);
    return;
  }
  if (error.code === "model_not_ready") watchReadiness();
  if (error.code === "rate_limited" || error.code === "busy") coolDown(explained.params.seconds, explained);
  if (error.code === "timed_out" && error.details?.task_id) {
    await followTask(error.details.task_id);
    return;
  }
  showError(explained.field, explained);
}

/** Keep Run disabled for `seconds`, counting down in the error banner. */
async function coolDown(seconds, explained) {
  for (let left = seconds; left > 0; left -= 1) {
    store.update((state) => ({
      cooldown: left,
      errors: { ...state.errors, general: { ...explained, params: { seconds: left } } },
    }));
    await sleep(1000);
  }
  store.update((state) => ({ cooldown: 0, errors: { ...state.errors, general: undefined } }));
}

function askForKey(message, retry) {
  retryAfterKey = retry;
  $("key-message").textContent = message;
  $("key-message").hidden = !message;
  $("key-input").value = storage.getItem(KEY_STORAGE) ?? "";
  $("key-button").hidden = false;
  $("key-dialog").showModal();
}

// ---- results -----------------------------------------------------------------------------

/** Decoded masks of the result, built once per result. */
function resultLayers(result) {
  if (layers.result !== result) {
    const { width, height } = result.image;
    const thickness = rimThickness(width, height);
    const all = result.objects.map((object) =>
      makeLayer({ id: object.id, colour: colourOf(object.id), mask: decodeRle(object.rle).data, width, height, thickness }),
    );
    layers = { result, all };
  }
  return layers.all;
}

function shownLayers(state) {
  if (!state.result || state.image?.flattened) return [];
  const { listed } = filterObjects(state.result.objects, state.threshold, state.hidden);
  const shown = new Set(listed.filter((object) => object.shown).map((object) => object.id));
  return resultLayers(state.result).filter((layer) => shown.has(layer.id));
}

function drawResult(state) {
  const visible = shownLayers(state);
  // Labels for a few objects; with many, only the highlighted one, or they hide the picture.
  const labelled = visible.length <= MAX_LABELS ? visible : visible.filter((layer) => layer.id === state.highlight);
  stage.drawLayers(visible, state.highlight, layerLabels(labelled, state.result?.objects ?? []));
}

function hoverAt(point) {
  const state = store.get();
  const id = point ? layerAt(shownLayers(state), point.x, point.y) : null;
  if (id !== state.highlight) store.update({ highlight: id });
}

// ---- downloads and sharing ---------------------------------------------------------------

async function download(kind) {
  const { result, taskId, readOnly } = store.get();
  const name = `${taskId ?? result.image.sha256.slice(0, 12)}-${DOWNLOAD_NAMES[kind]}`;
  try {
    const blob = result.links
      ? await client.blob(result.links[kind], { auth: !readOnly })
      : new Blob([JSON.stringify(result, null, 2)], { type: "application/json" });
    const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  } catch (error) {
    await handleError(error, { retry: () => download(kind) });
  }
}

async function share() {
  const { taskId, language } = store.get();
  try {
    const link = await client.share(taskId);
    const date = new Intl.DateTimeFormat(language === "zh" ? "zh-CN" : "en", { dateStyle: "long", timeStyle: "short" });
    $("share-url").value = new URL(link.url, window.location.origin).href;
    $("share-expiry").textContent = t("share.expires", { date: date.format(new Date(link.expires_at)) });
    $("share-result").hidden = false;
    $("share-url").select();
  } catch (error) {
    await handleError(error, { retry: share });
  }
}

async function copyShareLink() {
  $("share-url").select();
  try {
    await navigator.clipboard.writeText($("share-url").value);
    $("share-copy").textContent = t("share.copied");
    setTimeout(() => ($("share-copy").textContent = t("share.copy")), 2000);
  } catch {
    // The link stays selected for the reader to copy by hand.
  }
}

/** The read-only view of a share link: the result over its picture, without an API key. */
async function openShared(token) {
  store.update({ readOnly: true });
  document.body.classList.add("read-only");
  $("shared-banner").hidden = false;
  stage.setInteractive(false);
  try {
    const view = await client.shared(token);
    const blob = await client.blob(`/v1/shared/${encodeURIComponent(token)}/image`, { auth: false });
    const file = new File([blob], view.task_id, { type: blob.type });
    const image = await openPicture(file, { sha256: view.result.image.sha256 });
    store.update({ image, result: { ...view.result, task_id: view.task_id, links: view.links }, taskId: view.task_id });
  } catch (error) {
    const explained = explainError(error);
    showError("general", explained);
  }
}

// ---- examples and recent tasks -----------------------------------------------------------

async function loadExamples() {
  try {
    examples = (await client.examples()).examples;
  } catch {
    examples = [];
  }
  $("examples-section").hidden = examples.length === 0;
  renderExamples($("examples"), examples, t, openExample);
  renderCredits($("credits"), examples, t);
}

/** Show an example's picture and prompt at once, then its precomputed result. */
async function openExample(example) {
  try {
    const blob = await client.blob(example.image_url, { auth: false });
    const extension = blob.type === "image/jpeg" ? "jpg" : "png";
    const image = await openPicture(new File([blob], `${example.name}.${extension}`, { type: blob.type }));
    $("prompt").value = example.prompt;
    const result = await client.exampleResult(example.name);
    if (store.get().image !== image) return;
    store.update({ image: { ...image, sha256: result.image.sha256 }, result, taskId: null });
  } catch (error) {
    await handleError(error, { retry: () => openExample(example) });
  }
}

function showRecent() {
  const { language } = store.get();
  renderRecent($("recent-section"), $("recent"), recent.list(), t, language, openRecent);
}

/** Open a task from the recent list: follow it if unfinished, show it over its picture. */
async function openRecent(entry) {
  store.update({ errors: {} });
  try {
    const view = await client.task(entry.id);
    const blob = entry.sha256 ? await pictures.get(entry.sha256) : null;
    if (blob) {
      const name = entry.name ?? entry.label;
      await openPicture(new File([blob], name, { type: blob.type }), { sha256: entry.sha256 });
    } else if (view.status === "succeeded") {
      const overlay = await client.blob(view.links.overlay_png);
      const image = await openPicture(new File([overlay], "overlay.png", { type: "image/png" }), { name: entry.label });
      store.update({ image: { ...image, flattened: true } });
    }
    if (view.status === "queued" || view.status === "running") {
      await followTask(view.task_id);
      return;
    }
    recent.update(entry.id, { status: view.status });
    showRecent();
    if (view.result) store.update({ result: { ...view.result, task_id: view.task_id, links: view.links }, taskId: view.task_id });
    else if (view.error) showError("general", explainError({ code: view.error.code, message: view.error.message }));
  } catch (error) {
    if (error.code === "not_found") {
      recent.forget(entry.id);
      showRecent();
    }
    await handleError(error, { retry: () => openRecent(entry) });
  }
}

// ---- rendering ---------------------------------------------------------------------------

function render(state, change) {
  const canRun = state.ready && !state.busy && state.cooldown === 0 && Boolean(state.image);
  $("run").disabled = !canRun;
  $("undo").disabled = state.marks.length === 0;
  $("clear").disabled = state.marks.length === 0 && !state.result;
  stage.setInteractive(!state.readOnly && Boolean(state.image?.width) && !state.image?.flattened);
  if ("marks" in change || "image" in change) {
    stage.setMarks(state.marks);
    showTextAside();
  }
  if ("errors" in change || "language" in change) renderErrors(document, state.errors, t);
  if ("progress" in change || "language" in change) renderProgress(state.progress);
  if ("steps" in change || "language" in change) {
    renderSteps($("steps-list"), $("timing"), state.steps, t);
    $("steps").hidden = state.steps.length === 0;
  }
  if ("result" in change) {
    $("share-result").hidden = true;
    if (state.result?.model?.random) $("random-banner").hidden = false;
  }
  if (["result", "threshold", "language", "hidden"].some((key) => key in change)) renderResult(state);
  if (["result", "threshold", "hidden", "highlight", "image"].some((key) => key in change)) {
    syncObjects($("objects"), state);
    drawResult(state);
  }
  if ("language" in change) {
    renderExamples($("examples"), examples, t, openExample);
    renderCredits($("credits"), examples, t);
    showRecent();
  }
}

function showTextAside() {
  $("prompt-aside").hidden = !textSetAside($("prompt").value, store.get().marks);
}

function renderResult(state) {
  const { listed, belowThreshold, total } = renderObjects($("objects"), state, t, state.language);
  $("threshold-value").textContent = state.threshold.toFixed(2);
  $("objects-count").textContent = state.result ? t("objects.count", { shown: listed.length, total }) : "";
  const note = !state.result
    ? t("objects.before")
    : [listed.length === 0 ? t("objects.none") : "", belowThreshold ? t("objects.below", { count: belowThreshold }) : ""]
        .filter(Boolean)
        .join(" ");
  $("objects-note").textContent = note;
  const result = state.result;
  $("downloads").hidden = !result;
  const hasLinks = Boolean(result?.links);
  for (const button of document.querySelectorAll("[data-download]")) {
    button.hidden = !hasLinks && button.dataset.download !== "result_json";
  }
  $("downloads-note").hidden = !result || hasLinks;
  $("share").hidden = !hasLinks || state.readOnly;
}

function renderProgress(progress) {
  $("progress").hidden = !progress;
  if (!progress) return;
  const bar = $("progress-bar");
  if (progress.status === "sending") {
    bar.removeAttribute("value");
    $("progress-text").textContent = t("progress.sending");
  } else {
    bar.value = progress.value ?? 0;
    $("progress-text").textContent =
      progress.status === "queued"
        ? t("progress.queued")
        : t("progress.running", { percent: Math.round((progress.value ?? 0) * 100) });
  }
}

// ---- wiring ------------------------------------------------------------------------------

function browserStorage() {
  try {
    window.localStorage.getItem("probe");
    return window.localStorage;
  } catch {
    const memory = new Map();
    return { getItem: (key) => memory.get(key) ?? null, setItem: (key, value) => memory.set(key, value) };
  }
}

function wire() {
  $("language").addEventListener("change", (event) => {
    saveLanguage(storage, event.target.value);
    setLanguage(event.target.value);
  });
  $("file").addEventListener("change", (event) => openFile(event.target.files[0]));
  $("segment-form").addEventListener("submit", (event) => {
    event.preventDefault();
    requestRun();
  });
  $("prompt").addEventListener("input", () => {
    showTextAside();
    store.update((state) => ({ errors: { ...state.errors, prompt: undefined } }));
  });
  for (const button of document.querySelectorAll("[data-tool]")) {
    button.addEventListener("click", () => selectTool(button.dataset.tool));
  }
  $("undo").addEventListener("click", undoMark);
  $("clear").addEventListener("click", () => store.update({ marks: [], result: null, errors: {} }));
  $("threshold").addEventListener("input", (event) => store.update({ threshold: Number(event.target.value) }));
  const objects = $("objects");
  objects.addEventListener("change", (event) => {
    const id = Number(event.target.dataset.id);
    store.update((state) => ({ hidden: toggleHidden(state.hidden, id) }));
  });
  const highlightFrom = (event) => {
    const item = event.target.closest?.(".object");
    const id = item ? Number(item.dataset.id) : null;
    if (id !== store.get().highlight) store.update({ highlight: id });
  };
  objects.addEventListener("mouseover", highlightFrom);
  objects.addEventListener("focusin", highlightFrom);
  objects.addEventListener("mouseleave", () => store.update({ highlight: null }));
  objects.addEventListener("focusout", () => store.update({ highlight: null }));
  for (const button of document.querySelectorAll("[data-download]")) {
    button.addEventListener("click", () => download(button.dataset.download));
  }
  $("share").addEventListener("click", share);
  $("share-copy").addEventListener("click", copyShareLink);
  $("key-button").addEventListener("click", () => askForKey("", null));
  $("key-cancel").addEventListener("click", () => $("key-dialog").close());
  $("key-form").addEventListener("submit", () => {
    storage.setItem(KEY_STORAGE, $("key-input").value.trim());
    const retry = retryAfterKey;
    retryAfterKey = null;
    store.update({ errors: {} });
    if (retry) retry();
  });
  wireDrop();
}

function selectTool(tool) {
  for (const button of document.querySelectorAll("[data-tool]")) {
    button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
  }
  stage.setTool(tool);
  store.update({ tool });
}

function wireDrop() {
  const hint = $("drop-hint");
  const hasFiles = (event) => event.dataTransfer?.types?.includes("Files");
  window.addEventListener("dragover", (event) => {
    if (!hasFiles(event) || store.get().readOnly) return;
    event.preventDefault();
    hint.hidden = false;
  });
  window.addEventListener("dragleave", (event) => {
    if (event.relatedTarget === null) hint.hidden = true;
  });
  window.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    hint.hidden = true;
    openFile(event.dataTransfer.files[0]);
  });
}

function start() {
  store.subscribe(render);
  wire();
  selectTool("positive");
  setLanguage(chooseLanguage(savedLanguage(storage), navigator.languages ?? []));
  if (storage.getItem(KEY_STORAGE)) $("key-button").hidden = false;
  const token = new URLSearchParams(window.location.search).get("share");
  if (token) {
    openShared(token);
    return;
  }
  showRecent();
  loadExamples();
  watchReadiness();
}

start();
