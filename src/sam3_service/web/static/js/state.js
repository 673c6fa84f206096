// The page's state and the pure rules over it: prompt marks, which objects show, step timings.

/** The service's default score threshold; the page asks for more and filters locally. */
export const DEFAULT_THRESHOLD = 0.5;
/** Objects scoring under this are not asked for, so the slider cannot go lower. */
export const REQUEST_SCORE_FLOOR = 0.05;

/** A fresh page state. */
export function initialState() {
  return {
    ready: false,
    readOnly: false,
    image: null, // {url, width, height, name, file, sha256, kind: "image" | "video"}; a video: fps, frames
    marks: [], // clicks and boxes in the order they were made
    markFrame: null, // the video frame the marks are on
    result: null,
    overlayUrl: null, // a video result's overlay MP4, as the stage plays it
    taskId: null,
    hidden: new Set(),
    threshold: DEFAULT_THRESHOLD,
    highlight: null,
    steps: [],
    busy: false,
  };
}

/**
 * A minimal observable store: `update` merges a patch (or the result of a function of the
 * state) and tells every subscriber.
 */
export function createStore(state) {
  const listeners = new Set();
  return {
    get: () => state,
    update(patch) {
      const change = typeof patch === "function" ? patch(state) : patch;
      state = { ...state, ...change };
      listeners.forEach((listener) => listener(state, change));
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

const round1 = (value) => Math.round(value * 10) / 10;
const clamp = (value, low, high) => Math.min(Math.max(value, low), high);

/** Add a click: positive marks the object, negative the background. Coordinates are clamped. */
export function addPoint(marks, { x, y, positive }, { width, height }) {
  const point = { kind: "point", x: round1(clamp(x, 0, width)), y: round1(clamp(y, 0, height)), positive };
  return [...marks, point];
}

/**
 * Add the box spanned by two corners, in any order, clamped to the picture. A box thinner than
 * `minSide` pixels is ignored (a click that wobbled), and the marks come back unchanged.
 */
export function addBox(marks, a, b, { width, height }, minSide = 2) {
  const x0 = round1(clamp(Math.min(a.x, b.x), 0, width));
  const x1 = round1(clamp(Math.max(a.x, b.x), 0, width));
  const y0 = round1(clamp(Math.min(a.y, b.y), 0, height));
  const y1 = round1(clamp(Math.max(a.y, b.y), 0, height));
  if (x1 - x0 < minSide || y1 - y0 < minSide) return marks;
  return [...marks, { kind: "box", x0, y0, x1, y1, positive: a.positive !== false }];
}

const points = (marks) => marks.filter((mark) => mark.kind === "point");
const boxes = (marks) => marks.filter((mark) => mark.kind === "box");

/** True when there is something to segment with: text, a click or a box. */
export function hasPrompt(prompt, marks) {
  return Boolean(prompt.trim()) || marks.length > 0;
}

/**
 * Whether the text is set aside: clicks ask SAM 3's interactive head for the one object they
 * mark, and that head takes no text (text and boxes go to the concept head).
 */
export function textSetAside(prompt, marks) {
  return Boolean(prompt.trim()) && points(marks).length > 0;
}

/** The request fields of a prompt, in the API's shape. */
export function requestFields(prompt, marks) {
  const fields = { score_threshold: REQUEST_SCORE_FLOOR };
  if (prompt.trim() && !textSetAside(prompt, marks)) fields.prompt = prompt.trim();
  if (points(marks).length) fields.points = points(marks).map((p) => [p.x, p.y, p.positive ? 1 : 0]);
  if (boxes(marks).length) {
    fields.boxes = boxes(marks).map((b) => [b.x0, b.y0, b.x1, b.y1, ...(b.positive ? [] : [0])]);
  }
  return fields;
}

/** A task view's result, with the task's id and links as a direct answer has them. */
export function taskResult(view) {
  return { ...view.result, task_id: view.task_id, links: view.links };
}

/**
 * Split a result's objects by the slider: `listed` are at or above the threshold (each with
 * whether it is shown), `belowThreshold` counts the rest.
 */
export function filterObjects(objects, threshold, hidden) {
  const listed = objects
    .filter((object) => object.score >= threshold)
    .map((object) => ({ ...object, shown: !hidden.has(object.id) }));
  return { listed, belowThreshold: objects.length - listed.length };
}

/** Toggle one object's visibility without changing the set given. */
export function toggleHidden(hidden, id) {
  const next = new Set(hidden);
  if (!next.delete(id)) next.add(id);
  return next;
}

/**
 * One line of the step log: the round trip seen by the page, the server's share of it, whether
 * the image features came from the cache, and whether the whole result was a stored one (its
 * timings then are those of the first run, longer than this round trip).
 */
export function describeStep(result, roundTripMs, number) {
  const stages = result.timings_ms ?? {};
  const serverMs = Object.values(stages).reduce((sum, ms) => sum + ms, 0);
  return {
    number,
    totalMs: Math.round(roundTripMs),
    serverMs: Math.round(serverMs),
    encodeImageMs: Math.round(stages.encode_image ?? 0),
    cached: Boolean(result.vision_cache_hit),
    reused: serverMs > roundTripMs,
    objects: result.objects.length,
  };
}

/** What a run was asked, in a few words, for the recent-tasks list. */
export function summarisePrompt(prompt, marks) {
  const parts = [];
  if (prompt.trim()) parts.push(`“${prompt.trim()}”`);
  const positive = points(marks).filter((p) => p.positive).length;
  const negative = points(marks).length - positive;
  if (positive) parts.push(`+${positive}`);
  if (negative) parts.push(`−${negative}`);
  if (boxes(marks).length) parts.push(`▭${boxes(marks).length}`);
  return parts.join(" ");
}
