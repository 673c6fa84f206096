// The page's context: the store, the API client and the browser storages that every part of the
// page works with, built once and handed to each function (no module globals).

import { createClient } from "./api.js";
import { createTranslator } from "./i18n.js";
import { createImageStore } from "./imagestore.js";
import { createRecentTasks } from "./recent.js";
import { createStore, initialState } from "./state.js";

export const KEY_STORAGE = "sam3.apiKey";

/** Build the context of a page in `document`; `stage` and `player` are added once their callbacks exist. */
export function createPage(document) {
  const storage = browserStorage();
  return {
    $: (id) => document.getElementById(id),
    document,
    storage,
    store: createStore({
      ...initialState(),
      errors: {},
      progress: null,
      language: "en",
      cooldown: 0,
      examples: [],
      recentTasks: [],
    }),
    client: createClient({ getKey: () => storage.getItem(KEY_STORAGE) }),
    recent: createRecentTasks(storage),
    pictures: createImageStore(),
    t: createTranslator("en"),
    stage: null,
    player: null, // the video bar (player.js), added with the stage
    layers: { result: null, all: [] }, // the decoded masks of the current result
    pendingRun: false,
    following: null, // an AbortController that stops following the task being followed
    retryAfterKey: null,
    watchingReadiness: false,
  };
}

/** localStorage, or a memory stand-in where the browser refuses it (some private windows). */
function browserStorage() {
  try {
    window.localStorage.getItem("probe");
    return window.localStorage;
  } catch {
    const memory = new Map();
    return { getItem: (key) => memory.get(key) ?? null, setItem: (key, value) => memory.set(key, value) };
  }
}
