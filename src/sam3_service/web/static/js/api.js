// The service's public HTTP API, as the page uses it. Every failure becomes an ApiError.

/** An error answer of the API (`{"error": {"code", "message", ...}}`), or a network failure. */
export class ApiError extends Error {
  constructor({ status, code, message, details = {}, retryAfter = null }) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

/** Read an error response into an ApiError, whatever its body looks like. */
export async function errorFromResponse(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const {
    code = "http_error",
    message = response.statusText || `HTTP ${response.status}`,
    ...details
  } = body?.error ?? {};
  const retryAfter = Number.parseFloat(response.headers.get("retry-after") ?? "");
  return new ApiError({
    status: response.status,
    code,
    message,
    details,
    retryAfter: Number.isFinite(retryAfter) ? retryAfter : null,
  });
}

/**
 * A client of the API. `getKey` returns the API key to send, if any.
 * @param {{fetch?: typeof fetch, getKey?: () => string | null}} options
 */
export function createClient({ fetch = globalThis.fetch.bind(globalThis), getKey = () => null } = {}) {
  async function send(path, { method = "GET", json, form, auth = true } = {}) {
    const headers = {};
    const key = auth ? getKey() : null;
    if (key) headers.Authorization = `Bearer ${key}`;
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form;
    }
    try {
      return await fetch(path, { method, headers, body });
    } catch (cause) {
      throw new ApiError({ status: 0, code: "network", message: String(cause?.message ?? cause) });
    }
  }

  async function call(path, options) {
    const response = await send(path, options);
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }

  const json = async (path, options) => (await call(path, options)).json();

  /** Multipart with the file on a first run; JSON with `image_id` once the service has it. */
  function segmentBody(fields, { file, imageId }) {
    if (imageId) return { json: { ...fields, image_id: imageId } };
    const form = new FormData();
    form.append("file", file, file.name || "upload");
    for (const [name, value] of Object.entries(fields)) {
      form.append(name, typeof value === "string" ? value : JSON.stringify(value));
    }
    return { form };
  }

  return {
    /** `/ready`: `{ready, body}`; a 503 is an answer here, not an error. */
    async ready() {
      const response = await send("/ready", { auth: false });
      if (response.ok || response.status === 503) {
        return { ready: response.ok, body: await response.json() };
      }
      throw await errorFromResponse(response);
    },
    segment: (fields, source) => json("/v1/segment", { method: "POST", ...segmentBody(fields, source) }),
    submitTask: (fields, source) => json("/v1/tasks", { method: "POST", ...segmentBody(fields, source) }),
    task: (taskId) => json(`/v1/tasks/${encodeURIComponent(taskId)}`),
    cancelTask: (taskId) => json(`/v1/tasks/${encodeURIComponent(taskId)}`, { method: "DELETE" }),
    share: (taskId, ttlS) =>
      json(`/v1/tasks/${encodeURIComponent(taskId)}/share`, {
        method: "POST",
        json: ttlS ? { ttl_s: ttlS } : {},
      }),
    shared: (token) => json(`/v1/shared/${encodeURIComponent(token)}`, { auth: false }),
    examples: () => json("/v1/examples", { auth: false }),
    exampleResult: (name) => json(`/v1/examples/${encodeURIComponent(name)}/result`, { auth: false }),
    /** Any file the API links to (a download), as a Blob. */
    blob: async (path, { auth = true } = {}) => (await call(path, { auth })).blob(),
  };
}

/**
 * Poll a task until it finishes, reporting each view (its progress, 0..1) on the way. Resolves
 * with the last task view, or null once `signal` is aborted (the page moved on); rejects with
 * an ApiError if polling fails.
 */
export async function pollTask(
  client,
  taskId,
  { onProgress = () => {}, intervalMs = 500, sleep = delay, signal = null } = {},
) {
  for (;;) {
    const view = await client.task(taskId);
    if (signal?.aborted) return null;
    onProgress(view);
    if (!["queued", "running"].includes(view.status)) return view;
    await sleep(intervalMs);
    if (signal?.aborted) return null;
  }
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
