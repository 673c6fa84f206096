import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ApiError,
  createClient,
  errorFromResponse,
  pollTask,
} from "../../../src/sam3_service/web/static/js/api.js";

/** A fetch that records requests and answers from a list of Responses. */
function fakeFetch(...answers) {
  const calls = [];
  const fetch = async (path, init) => {
    calls.push({ path, ...init });
    const answer = answers.shift();
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { fetch, calls };
}

const json = (body, status = 200, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

test("a first run uploads the file as multipart, with JSON-encoded lists", async () => {
  const { fetch, calls } = fakeFetch(json({ objects: [] }));
  const client = createClient({ fetch });
  const file = new File([new Uint8Array([1, 2])], "cat.png", { type: "image/png" });
  await client.segment({ prompt: "cat", points: [[1, 2, 1]] }, { file });
  const [call] = calls;
  assert.equal(call.path, "/v1/segment");
  assert.equal(call.method, "POST");
  assert.ok(call.body instanceof FormData);
  assert.equal(call.body.get("prompt"), "cat");
  assert.equal(call.body.get("points"), "[[1,2,1]]");
  assert.equal(call.body.get("file").name, "cat.png");
  assert.equal(call.headers.Authorization, undefined, "no key, no header");
});

test("a refinement sends JSON with image_id instead of the file", async () => {
  const { fetch, calls } = fakeFetch(json({ objects: [] }));
  const client = createClient({ fetch, getKey: () => "k-123" });
  await client.segment({ points: [[5, 6, 0]] }, { imageId: "ab".repeat(32), file: new Blob() });
  const [call] = calls;
  assert.equal(call.headers["Content-Type"], "application/json");
  assert.deepEqual(JSON.parse(call.body), { points: [[5, 6, 0]], image_id: "ab".repeat(32) });
  assert.equal(call.headers.Authorization, "Bearer k-123");
});

test("public routes never send the key", async () => {
  const { fetch, calls } = fakeFetch(json({ examples: [] }), json({ result: {} }), json({ status: "ready" }));
  const client = createClient({ fetch, getKey: () => "secret" });
  await client.examples();
  await client.shared("tok.1.sig");
  await client.ready();
  assert.deepEqual(
    calls.map((call) => [call.path, call.headers.Authorization]),
    [
      ["/v1/examples", undefined],
      ["/v1/shared/tok.1.sig", undefined],
      ["/ready", undefined],
    ],
  );
});

test("error bodies become ApiErrors with code, details and Retry-After", async () => {
  const response = json({ error: { code: "rate_limited", message: "slow down", retry_after: 3 } }, 429, {
    "retry-after": "3",
  });
  const error = await errorFromResponse(response);
  assert.ok(error instanceof ApiError);
  assert.equal(error.status, 429);
  assert.equal(error.code, "rate_limited");
  assert.equal(error.message, "slow down");
  assert.equal(error.retryAfter, 3);
  assert.deepEqual(error.details, { retry_after: 3 });
  const bare = await errorFromResponse(
    new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }),
  );
  assert.equal(bare.code, "http_error");
  assert.equal(bare.message, "Bad Gateway");
  assert.equal(bare.retryAfter, null);
});

test("failed calls reject with the API's error; a lost connection is a network error", async () => {
  const { fetch } = fakeFetch(
    json({ error: { code: "too_large", message: "big" } }, 413),
    new TypeError("Failed to fetch"),
  );
  const client = createClient({ fetch });
  await assert.rejects(client.segment({}, { file: new Blob() }), { code: "too_large", status: 413 });
  await assert.rejects(client.task("x"), { code: "network", status: 0 });
});

test("/ready answers while starting, as a value, not an error", async () => {
  const { fetch } = fakeFetch(
    json({ status: "starting", reason: "loading" }, 503),
    json({ status: "ready" }),
  );
  const client = createClient({ fetch });
  assert.deepEqual(await client.ready(), { ready: false, body: { status: "starting", reason: "loading" } });
  assert.equal((await client.ready()).ready, true);
});

test("a share link is asked for with an optional lifetime", async () => {
  const { fetch, calls } = fakeFetch(json({ url: "/?share=t" }), json({ url: "/?share=u" }));
  const client = createClient({ fetch });
  await client.share("task-1");
  await client.share("task-1", 60);
  assert.equal(calls[0].path, "/v1/tasks/task-1/share");
  assert.deepEqual(JSON.parse(calls[0].body), {});
  assert.deepEqual(JSON.parse(calls[1].body), { ttl_s: 60 });
});

test("polling reports progress until the task finishes", async () => {
  const views = [
    { status: "queued", progress: 0 },
    { status: "running", progress: 0.4 },
    { status: "succeeded", progress: 1, result: { objects: [] } },
  ];
  const client = { task: async () => views.shift() };
  const seen = [];
  const sleeps = [];
  const final = await pollTask(client, "t", {
    onProgress: (view) => seen.push(view.progress),
    sleep: async (ms) => sleeps.push(ms),
    intervalMs: 10,
  });
  assert.equal(final.status, "succeeded");
  assert.deepEqual(seen, [0, 0.4, 1]);
  assert.deepEqual(sleeps, [10, 10]);
});

test("a task is cancelled with DELETE", async () => {
  const { fetch, calls } = fakeFetch(json({ status: "cancelled" }));
  const client = createClient({ fetch, getKey: () => "k" });
  assert.equal((await client.cancelTask("task 1")).status, "cancelled");
  assert.deepEqual([calls[0].path, calls[0].method], ["/v1/tasks/task%201", "DELETE"]);
  assert.equal(calls[0].headers.Authorization, "Bearer k");
});

test("polling stops, with null, once the page moves on", async () => {
  const controller = new AbortController();
  let polls = 0;
  const client = {
    task: async () => {
      polls += 1;
      return { status: "running", progress: 0.1 * polls };
    },
  };
  const seen = [];
  const final = await pollTask(client, "t", {
    signal: controller.signal,
    onProgress: (view) => seen.push(view.progress),
    sleep: async () => {
      if (polls === 2) controller.abort();
    },
  });
  assert.equal(final, null);
  assert.equal(polls, 2);
  assert.equal(seen.length, 2);
});
