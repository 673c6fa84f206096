// Rendering the side panel from state: objects (a video's tracks), steps, errors, examples and
// recent tasks.

import { inkFor, palette } from "./overlay.js";
import { filterObjects } from "./state.js";

const FIELD_ERRORS = {
  file: "file-error",
  prompt: "prompt-error",
  marks: "marks-error",
  options: "options-error",
  share: "share-error",
};
const FIELD_INPUTS = { file: "file", prompt: "prompt" };

/** `rgb(...)` of object `id`, as the overlay and the service's PNGs colour it. */
export function colourOf(id) {
  return palette(id + 1)[id];
}

const css = ([r, g, b]) => `rgb(${r} ${g} ${b})`;

/** Rebuild the objects list for the result and threshold; returns the listed objects. */
export function renderObjects(list, state, t, language) {
  const objects = state.result?.objects ?? [];
  const { listed, belowThreshold } = filterObjects(objects, state.threshold, state.hidden);
  const numbers = new Intl.NumberFormat(language === "zh" ? "zh-CN" : "en");
  list.replaceChildren(
    ...listed.map((object) => {
      const item = document.createElement("li");
      item.className = "object";
      item.dataset.id = String(object.id);
      const box = Object.assign(document.createElement("input"), {
        type: "checkbox",
        id: `object-${object.id}`,
        checked: object.shown,
      });
      box.dataset.id = String(object.id);
      box.setAttribute("aria-label", t("object.show", { id: object.id }));
      const label = document.createElement("label");
      label.htmlFor = box.id;
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.setProperty("--colour", css(colourOf(object.id)));
      label.append(swatch, t("object.name", { id: object.id }));
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = t("object.score", { score: object.score.toFixed(2) });
      const bar = document.createElement("span");
      bar.className = "score-bar";
      bar.style.setProperty("--score", String(object.score));
      const area = document.createElement("span");
      area.className = "area";
      area.textContent = t("object.area", { area: numbers.format(object.area) });
      item.append(box, label, bar, score, area);
      return item;
    }),
  );
  return { listed, belowThreshold, total: objects.length };
}

/**
 * Rebuild the list for a video's tracks: colour, id, first and last frame, mean score. Each
 * names its first frame (`data-frame`), where a click takes the video.
 */
export function renderTracks(list, tracks, t) {
  list.replaceChildren(
    ...tracks.map((track) => {
      const item = document.createElement("li");
      item.className = "object track";
      item.dataset.id = String(track.id);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "track-name";
      button.dataset.frame = String(track.first_frame);
      button.setAttribute("aria-label", t("track.show", { id: track.id, first: track.first_frame }));
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.setProperty("--colour", css(colourOf(track.id)));
      button.append(swatch, t("object.name", { id: track.id }));
      const bar = document.createElement("span");
      bar.className = "score-bar";
      bar.style.setProperty("--score", String(track.mean_score));
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = t("track.score", { score: track.mean_score.toFixed(2) });
      const frames = document.createElement("span");
      frames.className = "area";
      frames.textContent = t("track.frames", { first: track.first_frame, last: track.last_frame });
      item.append(button, bar, score, frames);
      return item;
    }),
  );
}

/** Mark the highlighted and hidden objects of the list without rebuilding it. */
export function syncObjects(list, state) {
  for (const item of list.children) {
    const id = Number(item.dataset.id);
    item.classList.toggle("is-highlighted", state.highlight === id);
    item.classList.toggle("is-hidden", state.hidden.has(id));
    const shown = item.querySelector("input");
    if (shown) shown.checked = !state.hidden.has(id);
  }
}

/** Labels drawn on the picture: `id score` at each shown object's top-left corner. */
export function layerLabels(layers, objects) {
  const scores = new Map(objects.map((object) => [object.id, object.score]));
  return layers
    .filter((layer) => layer.box)
    .map((layer) => ({
      x: layer.box.x0,
      y: layer.box.y0,
      text: `${layer.id} ${scores.get(layer.id).toFixed(2)}`,
      colour: css(layer.colour),
      ink: inkFor(layer.colour),
    }));
}

/** Show each field's error (plain words, then the service's own) or hide it. */
export function renderErrors(document, errors, t) {
  for (const [field, id] of Object.entries(FIELD_ERRORS)) {
    fillError(document.getElementById(id), errors[field], t);
    const input = document.getElementById(FIELD_INPUTS[field] ?? "");
    if (input) input.toggleAttribute("aria-invalid", Boolean(errors[field]));
  }
  const general = errors.general;
  document.getElementById("general-error").hidden = !general;
  document.getElementById("general-error-text").textContent = general ? t(general.key, general.params) : "";
  document.getElementById("general-error-detail").textContent = general?.detail ?? "";
}

function fillError(element, error, t) {
  element.hidden = !error;
  element.replaceChildren();
  if (!error) return;
  element.append(t(error.key, error.params));
  if (error.detail) {
    const detail = document.createElement("span");
    detail.className = "detail";
    detail.textContent = error.detail;
    element.append(" ", detail);
  }
}

/** The step log and the line about the last step. */
export function renderSteps(list, timing, steps, t) {
  const describe = (step) => {
    if (step.reused) return t("step.reused");
    return step.cached ? t("step.cached") : t("step.encoded", { ms: step.encodeImageMs });
  };
  list.replaceChildren(
    ...steps.map((step) => {
      const item = document.createElement("li");
      const line = t("step.line", {
        number: step.number,
        objects: step.objects,
        total: step.totalMs,
        server: step.serverMs,
      });
      item.textContent = `${line} · ${describe(step)}`;
      return item;
    }),
  );
  const last = steps.at(-1);
  timing.textContent = last ? t("timing.last", { total: last.totalMs, how: describe(last) }) : "";
}

/** The example buttons (`data-example` names each): a thumbnail, the title and the prompt. */
export function renderExamples(list, examples, t) {
  list.replaceChildren(
    ...examples.map((example) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "example";
      button.dataset.example = example.name;
      button.setAttribute("aria-label", t("examples.item", example));
      const thumbnail = Object.assign(document.createElement("img"), {
        src: example.image_url,
        alt: "",
        loading: "lazy",
        width: 96,
        height: 64,
      });
      const text = document.createElement("span");
      text.className = "example-text";
      const title = document.createElement("strong");
      title.textContent = example.title;
      const prompt = document.createElement("code");
      prompt.textContent = example.prompt;
      text.append(title, prompt);
      button.append(thumbnail, text);
      item.append(button);
      return item;
    }),
  );
}

/** The picture credits under the page. */
export function renderCredits(element, examples, t) {
  element.textContent = examples.length
    ? `${t("footer.credits")} ${examples.map((e) => `${e.title} — ${e.credit} (${e.licence})`).join("; ")}`
    : "";
}

/** The recent-tasks list, newest first (`data-task` holds each task id). */
export function renderRecent(section, list, entries, t, language) {
  section.hidden = entries.length === 0;
  const time = new Intl.DateTimeFormat(language === "zh" ? "zh-CN" : "en", {
    dateStyle: "short",
    timeStyle: "short",
  });
  list.replaceChildren(
    ...entries.map((entry) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "recent";
      button.dataset.task = entry.id;
      const label = document.createElement("span");
      label.className = "recent-label";
      label.textContent = entry.label || entry.id;
      const meta = document.createElement("span");
      meta.className = `recent-meta status-${entry.status}`;
      const facts = [t(`recent.status.${entry.status}`), time.format(entry.createdAt)];
      if (entry.kind === "video") facts.unshift(t("recent.video"));
      meta.textContent = facts.join(" · ");
      button.append(label, meta);
      item.append(button);
      return item;
    }),
  );
}
