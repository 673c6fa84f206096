// Turning API errors into plain words, placed next to the field that caused them.

/**
 * Where an error belongs and which message explains it.
 * `field` is one of "file", "prompt", "marks", "key", "share" or "general"; `key` names an
 * interface text (see i18n.js) and `params` fills it; `detail` is the service's own words.
 * @param {import("./api.js").ApiError} error
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
      return at("file", "error.tooLarge");
    case "unsupported_media":
      return at("file", video ? "error.videoComing" : "error.unsupported");
    case "invalid_input":
      return explainInvalidInput(error, at);
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

function explainInvalidInput(error, at) {
  const message = error.message ?? "";
  if (/english/i.test(message)) return at("prompt", "error.english");
  if (/^prompt\b/i.test(message)) return at("prompt", "error.prompt");
  if (/\b(box|boxes|point|points)\b/i.test(message)) return at("marks", "error.marks");
  if (/\b(image|file|upload)\b/i.test(message)) return at("file", "error.file");
  return at("general", "error.invalid");
}

/** Whole seconds to wait before trying again, from the `Retry-After` header (at least 1). */
export function waitSeconds(error) {
  return Math.max(1, Math.ceil(error.retryAfter ?? 1));
}
