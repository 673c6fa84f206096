// The page's entry point: builds its context, wires the controls, and starts. Everything it shows
// comes from the service's public HTTP API.

import {
  addMark,
  askForKey,
  clearPrompt,
  handleError,
  openPicture,
  requestRun,
  saveKey,
  undoMark,
  watchReadiness,
} from "./actions.js";
import { copyShareLink, download, openShared, share } from "./downloads.js";
import { loadExamples, openExample, openRecent, refreshRecent } from "./gallery.js";
import { chooseLanguage, createTranslator, saveLanguage, savedLanguage, translatePage } from "./i18n.js";
import { KEY_STORAGE, createPage } from "./page.js";
import { createPlayer } from "./player.js";
import { hoverAt, render, renderPlayer, showTextAside } from "./render.js";
import { createStage } from "./stage.js";
import { toggleHidden } from "./state.js";
import { cancelTask } from "./videotask.js";

function setLanguage(page, language) {
  page.t = createTranslator(language);
  translatePage(page.document, page.t, language);
  page.$("language").value = language;
  page.store.update({ language });
}

function selectTool(page, tool) {
  for (const button of page.document.querySelectorAll("[data-tool]")) {
    button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
  }
  page.stage.setTool(tool);
}

function openFile(page, file) {
  if (!file || page.store.get().readOnly) return;
  page.$("prompt").focus({ preventScroll: true });
  openPicture(page, file);
}

function wireForm(page) {
  const { $, store } = page;
  $("language").addEventListener("change", (event) => {
    saveLanguage(page.storage, event.target.value);
    setLanguage(page, event.target.value);
  });
  $("file").addEventListener("change", (event) => openFile(page, event.target.files[0]));
  $("segment-form").addEventListener("submit", (event) => {
    event.preventDefault();
    requestRun(page);
  });
  $("prompt").addEventListener("input", () => {
    showTextAside(page);
    store.update((state) => ({ errors: { ...state.errors, prompt: undefined } }));
  });
  for (const button of page.document.querySelectorAll("[data-tool]")) {
    button.addEventListener("click", () => selectTool(page, button.dataset.tool));
  }
  $("undo").addEventListener("click", () => undoMark(page));
  $("clear").addEventListener("click", () => clearPrompt(page));
  $("cancel").addEventListener("click", () => cancelTask(page).catch((error) => handleError(page, error)));
  $("key-button").addEventListener("click", () => askForKey(page, "", null));
  $("key-cancel").addEventListener("click", () => $("key-dialog").close());
  $("key-form").addEventListener("submit", () => saveKey(page, $("key-input").value));
}

function wireResults(page) {
  const { $, store } = page;
  $("threshold").addEventListener("input", (event) =>
    store.update({ threshold: Number(event.target.value) }),
  );
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
  objects.addEventListener("click", (event) => {
    const track = event.target.closest?.("[data-frame]");
    if (track) page.player.showFrame(Number(track.dataset.frame));
  });
  objects.addEventListener("mouseover", highlightFrom);
  objects.addEventListener("focusin", highlightFrom);
  objects.addEventListener("mouseleave", () => store.update({ highlight: null }));
  objects.addEventListener("focusout", () => store.update({ highlight: null }));
  for (const button of page.document.querySelectorAll("[data-download]")) {
    button.addEventListener("click", () => download(page, button.dataset.download));
  }
  $("share").addEventListener("click", () => share(page));
  $("share-copy").addEventListener("click", () => copyShareLink(page));
  $("examples").addEventListener("click", (event) => {
    const button = event.target.closest("[data-example]");
    if (button) openExample(page, button.dataset.example);
  });
  $("recent").addEventListener("click", (event) => {
    const button = event.target.closest("[data-task]");
    if (button) openRecent(page, button.dataset.task);
  });
}

/** Dropping a file anywhere on the page opens it. */
function wireDrop(page) {
  const hint = page.$("drop-hint");
  const hasFiles = (event) => event.dataTransfer?.types?.includes("Files");
  window.addEventListener("dragover", (event) => {
    if (!hasFiles(event) || page.store.get().readOnly) return;
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
    openFile(page, event.dataTransfer.files[0]);
  });
}

function start() {
  const page = createPage(document);
  const { $ } = page;
  page.stage = createStage(
    {
      wrap: $("canvas-wrap"),
      picture: $("picture"),
      video: $("video"),
      canvas: $("overlay"),
      svg: $("marks"),
      dropzone: $("dropzone"),
    },
    {
      onMark: (mark) => addMark(page, mark),
      onHover: (point) => hoverAt(page, point),
      onUndo: () => undoMark(page),
      onCursor: (point) => {
        $("marks-status").textContent = page.t("marks.cursor", {
          x: Math.round(point.x),
          y: Math.round(point.y),
        });
      },
    },
  );
  page.player = createPlayer(
    {
      video: $("video"),
      play: $("video-play"),
      back: $("video-back"),
      forward: $("video-forward"),
      seek: $("video-seek"),
    },
    { onChange: () => renderPlayer(page) },
  );
  page.store.subscribe((state, change) => render(page, state, change));
  wireForm(page);
  wireResults(page);
  wireDrop(page);
  selectTool(page, "positive");
  setLanguage(page, chooseLanguage(savedLanguage(page.storage), navigator.languages ?? []));
  if (page.storage.getItem(KEY_STORAGE)) $("key-button").hidden = false;
  const token = new URLSearchParams(window.location.search).get("share");
  if (token) {
    openShared(page, token);
    return;
  }
  page.store.update({ recentTasks: page.recent.list() });
  refreshRecent(page);
  loadExamples(page);
  watchReadiness(page);
}

start();
