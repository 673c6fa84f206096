// Pictures to open besides the reader's own: the examples, and recent tasks found again.

import { followTask, handleError, openPicture, showError } from "./actions.js";
import { explainError } from "./errors.js";
import { taskResult } from "./state.js";

/** Fetch the list of examples (none if the service has none to offer). */
export async function loadExamples({ client, store }) {
  try {
    store.update({ examples: (await client.examples()).examples });
  } catch {
    store.update({ examples: [] });
  }
}

/** Show an example's picture and prompt at once, then its precomputed result. */
export async function openExample(page, name) {
  const { client, store, $ } = page;
  const example = store.get().examples.find((candidate) => candidate.name === name);
  try {
    const blob = await client.blob(example.image_url, { auth: false });
    const extension = blob.type === "image/jpeg" ? "jpg" : "png";
    const file = new File([blob], `${example.name}.${extension}`, { type: blob.type });
    const image = await openPicture(page, file);
    $("prompt").value = example.prompt;
    const result = await client.exampleResult(example.name);
    if (store.get().image !== image) return;
    store.update({ image: { ...image, sha256: result.image.sha256 }, result, taskId: null });
  } catch (error) {
    await handleError(page, error, { retry: () => openExample(page, name) });
  }
}

/**
 * Open a task from the recent list over its picture (kept in the browser), or over the
 * service's overlay where the picture was not kept; follow it while it is unfinished. A video
 * task comes back with its video (from the service), its progress and then its result.
 */
export async function openRecent(page, taskId) {
  const { client, store, recent } = page;
  const entry = recent.list().find((candidate) => candidate.id === taskId);
  store.update({ errors: {} });
  try {
    const view = await client.task(taskId);
    if (view.kind === "video") {
      const video = await client.blob(`${view.links.task}/input`);
      await openPicture(page, new File([video], entry.name ?? entry.label, { type: video.type }));
      await followTask(page, taskId);
      return;
    }
    const blob = entry.sha256 ? await page.pictures.get(entry.sha256) : null;
    if (blob) {
      const file = new File([blob], entry.name ?? entry.label, { type: blob.type });
      await openPicture(page, file, { sha256: entry.sha256 });
    } else if (view.status === "succeeded") {
      const overlay = await client.blob(view.links.overlay_png);
      const file = new File([overlay], "overlay.png", { type: "image/png" });
      const image = await openPicture(page, file, { name: entry.label });
      store.update({ image: { ...image, flattened: true } });
    }
    if (view.status === "queued" || view.status === "running") {
      await followTask(page, taskId);
      return;
    }
    recent.update(taskId, { status: view.status });
    store.update({ recentTasks: recent.list() });
    if (view.result) store.update({ result: taskResult(view), taskId });
    else if (view.error) showError(page, "general", explainError(view.error));
  } catch (error) {
    if (error.code === "not_found") {
      recent.forget(taskId);
      store.update({ recentTasks: recent.list() });
    }
    await handleError(page, error, { retry: () => openRecent(page, taskId) });
  }
}

/** Ask how the recent tasks left unfinished are doing: they may have ended while away. */
export async function refreshRecent({ client, store, recent }) {
  const unfinished = recent.list().filter((entry) => ["queued", "running"].includes(entry.status));
  await Promise.all(
    unfinished.map(async (entry) => {
      try {
        recent.update(entry.id, { status: (await client.task(entry.id)).status });
      } catch (error) {
        if (error.code === "not_found") recent.forget(entry.id);
      }
    }),
  );
  store.update({ recentTasks: recent.list() });
}
