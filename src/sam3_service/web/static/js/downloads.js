// Files of a result (masks PNG, overlay PNG, result JSON; a video's frames JSONL and overlay
// MP4), share links, and the read-only page a share link opens.

import { handleError, openPicture, showError } from "./actions.js";
import { explainError } from "./errors.js";
import { taskResult } from "./state.js";
import { showVideoResult } from "./videotask.js";

const FILE_NAMES = {
  masks_png: "masks.png",
  overlay_png: "overlay.png",
  result_json: "result.json",
  result_jsonl: "result.jsonl",
  overlay_mp4: "overlay.mp4",
};

/**
 * Save one file of the result. The API's files are fetched (with the key, if any) and saved
 * from memory; a result without links (an example) saves its JSON as the page holds it.
 */
export async function download(page, kind) {
  const { result, taskId, readOnly } = page.store.get();
  const name = `${taskId ?? result.image.sha256.slice(0, 12)}-${FILE_NAMES[kind]}`;
  try {
    const blob = result.links
      ? await page.client.blob(result.links[kind], { auth: !readOnly })
      : new Blob([JSON.stringify(result, null, 2)], { type: "application/json" });
    const link = Object.assign(page.document.createElement("a"), {
      href: URL.createObjectURL(blob),
      download: name,
    });
    page.document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  } catch (error) {
    await handleError(page, error, { retry: () => download(page, kind) });
  }
}

/** Ask the service for a share link to the current task and show it with its expiry. */
export async function share(page) {
  const { $, t, store } = page;
  const { taskId, language } = store.get();
  try {
    const link = await page.client.share(taskId);
    const format = new Intl.DateTimeFormat(language === "zh" ? "zh-CN" : "en", {
      dateStyle: "long",
      timeStyle: "short",
    });
    $("share-url").value = new URL(link.url, window.location.origin).href;
    $("share-expiry").textContent = t("share.expires", { date: format.format(new Date(link.expires_at)) });
    $("share-result").hidden = false;
    $("share-url").select();
  } catch (error) {
    await handleError(page, error, { retry: () => share(page) });
  }
}

/** Copy the share link; where the clipboard is refused it stays selected to copy by hand. */
export async function copyShareLink({ $, t }) {
  $("share-url").select();
  try {
    await navigator.clipboard.writeText($("share-url").value);
    $("share-copy").textContent = t("share.copied");
    setTimeout(() => ($("share-copy").textContent = t("share.copy")), 2000);
  } catch {
    // Selected is the best the page can do.
  }
}

/**
 * The read-only view of a share link, without an API key: the result over its picture, or a
 * video's overlay and tracks.
 */
export async function openShared(page, token) {
  const { client, store, $ } = page;
  store.update({ readOnly: true });
  page.document.body.classList.add("read-only");
  $("shared-banner").hidden = false;
  try {
    const view = await client.shared(token);
    if (view.kind === "video") {
      const { width, height, fps, frames } = view.result.video;
      store.update({ image: { kind: "video", name: view.task_id, width, height, fps, frames } });
      await showVideoResult(page, view, { auth: false });
      return;
    }
    const blob = await client.blob(`/v1/shared/${encodeURIComponent(token)}/image`, { auth: false });
    const file = new File([blob], view.task_id, { type: blob.type });
    const image = await openPicture(page, file, { sha256: view.result.image.sha256 });
    store.update({ image, result: taskResult(view), taskId: view.task_id });
  } catch (error) {
    showError(page, "general", explainError(error));
  }
}
