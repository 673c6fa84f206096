import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError } from "../../../src/sam3_service/web/static/js/api.js";
import { explainError, waitSeconds } from "../../../src/sam3_service/web/static/js/errors.js";

const error = (status, code, message = "", retryAfter = null) =>
  new ApiError({ status, code, message, retryAfter });

test("each error goes next to the field that caused it", () => {
  const cases = [
    [error(413, "too_large", "the upload has 9 bytes"), "file", "error.tooLarge"],
    [error(415, "unsupported_media", "not an image"), "file", "error.unsupported"],
    [error(422, "invalid_input", "prompt: prompts must be English words (...)"), "prompt", "error.english"],
    [
      error(422, "invalid_input", "prompt: String should have at most 200 characters"),
      "prompt",
      "error.prompt",
    ],
    [error(422, "invalid_input", "box [1, 2, 900, 4] lies outside the image"), "marks", "error.marks"],
    [error(422, "invalid_input", "too many points: 40, at most 32"), "marks", "error.marks"],
    [error(422, "invalid_input", "something else"), "general", "error.invalid"],
    [error(403, "forbidden", "this share link has expired"), "share", "error.forbidden"],
    [error(503, "model_not_ready", "loading"), "general", "error.notReady"],
    [error(0, "network", "Failed to fetch"), "general", "error.network"],
    [error(500, "internal_error", "internal server error"), "general", "error.unexpected"],
  ];
  for (const [given, field, key] of cases) {
    const explained = explainError(given);
    assert.deepEqual([explained.field, explained.key], [field, key], given.message);
    assert.equal(explained.detail, given.message, "the service's own words come along");
  }
});

test("a video refused as unsupported means video support is coming", () => {
  assert.equal(explainError(error(415, "unsupported_media"), { video: true }).key, "error.videoComing");
});

test("401 asks for a key, or says the one sent was wrong", () => {
  assert.deepEqual(
    [explainError(error(401, "unauthorized")).field, explainError(error(401, "unauthorized")).key],
    ["key", "error.keyNeeded"],
  );
  assert.equal(explainError(error(401, "unauthorized"), { sentKey: true }).key, "error.keyWrong");
});

test("rate limits say how long to wait, from Retry-After", () => {
  const explained = explainError(error(429, "rate_limited", "slow down", 2.2));
  assert.equal(explained.key, "error.rateLimited");
  assert.deepEqual(explained.params, { seconds: 3 });
  assert.equal(waitSeconds(error(429, "rate_limited")), 1, "at least a second without the header");
});
