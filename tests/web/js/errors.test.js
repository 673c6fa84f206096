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

const videoError = (status, code, message, details = {}) =>
  explainError(new ApiError({ status, code, message, details }), { video: true });

test("a video over the limits says which limit, next to the file", () => {
  const long = videoError(413, "too_large", "The video lasts 41.25 s", { duration_s: 41.25 });
  assert.deepEqual([long.field, long.key, long.params], ["file", "error.videoTooLong", { seconds: 41.3 }]);
  const big = videoError(413, "too_large", "The video is 3840x2160", { width: 3840, height: 2160 });
  assert.deepEqual([big.key, big.params], ["error.videoTooBig", { width: 3840, height: 2160 }]);
  const heavy = videoError(413, "too_large", "the video has 200000000 bytes");
  assert.deepEqual([heavy.field, heavy.key], ["file", "error.videoTooLarge"]);
  assert.equal(heavy.detail, "the video has 200000000 bytes", "the service's own words come along");
});

test("a video the service cannot read names its codec, next to the file", () => {
  const codec = videoError(415, "unsupported_media", "encoded with 'mpeg4'", { codec: "mpeg4" });
  assert.deepEqual([codec.field, codec.key, codec.params], ["file", "error.videoCodec", { codec: "mpeg4" }]);
  assert.equal(videoError(415, "unsupported_media", "no video stream").key, "error.videoUnsupported");
  assert.equal(
    videoError(422, "invalid_input", "The video has no frame to segment.").key,
    "error.videoEmpty",
  );
  assert.equal(explainError(error(415, "unsupported_media")).key, "error.unsupported", "a picture's stays");
});

test("a video's prompt and options errors go next to the marks and the options", () => {
  const cases = [
    [
      "prompt_frame 3 is skipped by frame_stride 2: use a multiple of the stride",
      "marks",
      "error.videoFrame",
    ],
    ["prompt_frame 90 is past the 12 frames to process", "marks", "error.videoFrame"],
    ["frame_stride: Input should be greater than or equal to 1", "options", "error.options"],
    ["to follow one object, give points and/or one positive box, no text", "marks", "error.videoPrompt"],
    ["prompt: prompts must be English words (...)", "prompt", "error.english"],
  ];
  for (const [message, field, key] of cases) {
    const explained = videoError(422, "invalid_input", message);
    assert.deepEqual([explained.field, explained.key], [field, key], message);
  }
});

test("a failed video task's error, a plain object, is explained too", () => {
  const failed = { code: "too_large", message: "The video runs past 30 s." };
  assert.equal(explainError(failed, { video: true }).key, "error.videoTooLarge");
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
