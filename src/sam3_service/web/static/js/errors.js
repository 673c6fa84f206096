// Turning API errors into plain words, placed next to the field that caused them.

/**
 * Where an error belongs and which message explains it.
 * `field` is one of "file", "prompt", "marks", "options", "key", "share" or "general"; `key`
 * names an interface text (see i18n.js) and `params` fills it; `detail` is the service's own
 * words. With `video`, the limits of videos (length, size, codec) are explained as such.
 * @param {import("./api.js").ApiError} error an ApiError, or a failed task's `error`
 * @param {{video?: boolean, sentKey?: boolean}} context
 */
export function explainError(error, { video = false, sentKey = false } = {}) {
  const detail = error.message ?? "";
  const at = (field, key, params = {}) => ({ field, key, params, detail });
  switch (error.code) {
    case "network":
      return at("general", "error.network");
    case "unauthorized":
      return at("key", sentKey ? "error.keyWrong" : "error.keyNeeded");
    case "rate_limited":
      return at("general", "error.rateLimited", { seconds: waitSeconds(error) });
    case "too_large":
      return video ? explainVideoSize(error, at) : at("file", "error.tooLarge");
    case "unsupported_media":
      return video ? explainVideoFormat(error, at) : at("file", "error.unsupported");
    case "invalid_input":
      return video ? explainVideoInput(error, at) : explainInvalidInput(error, at);
    case "forbidden":
      return at("share", "error.forbidden");
    case "not_found":
      return at("general", "error.notFound");
    case "model_not_ready":
      return at("general", "error.notReady");
    case "busy":
      return at("general", "error.busy", { seconds: waitSeconds(error) });
    case "timed_out":
      return at("general", "error.timedOut");
    default:
      return at("general", "error.unexpected");
  }
}

/** A video too long, too large in pixels, or too many bytes. */
function explainVideoSize(error, at) {
  const { duration_s: seconds, width, height } = details(error);
  if (seconds !== undefined)
    return at("file", "error.videoTooLong", { seconds: Math.round(seconds * 10) / 10 });
  if (width !== undefined) return at("file", "error.videoTooBig", { width, height });
  return at("file", "error.videoTooLarge");
}

/** A codec the service does not decode, or a file that is no readable video. */
function explainVideoFormat(error, at) {
  const { codec } = details(error);
  return codec ? at("file", "error.videoCodec", { codec }) : at("file", "error.videoUnsupported");
}

function explainVideoInput(error, at) {
  const message = error.message ?? "";
  if (/\bprompt_frame\b/.test(message)) return at("marks", "error.videoFrame");
  if (/\b(frame_stride|max_frames)\b/.test(message)) return at("options", "error.options");
  if (/\bno frame\b/i.test(message)) return at("file", "error.videoEmpty");
  if (/\bfollow one object\b|\bconcept\b/i.test(message)) return at("marks", "error.videoPrompt");
  return explainInvalidInput(error, at);
}

/** An API error's details, or the extra fields of a failed task's `error`. */
function details(error) {
  return error.details ?? error;
}

function explainInvalidInput(error, at) {
  const message = error.message ?? "";
  if (/english/i.test(message)) return at("prompt", "error.english");
  if (/^prompt\b/i.test(message)) return at("prompt", "error.prompt");
  if (/\b(box|boxes|point|points)\b/i.test(message)) return at("marks", "error.marks");
  if (/\b(image|video|file|upload)\b/i.test(message)) return at("file", "error.file");
  return at("general", "error.invalid");
}

/** Whole seconds to wait before trying again, from the `Retry-After` header (at least 1). */
export function waitSeconds(error) {
  return Math.max(1, Math.ceil(error.retryAfter ?? 1));
}
