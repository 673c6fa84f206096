import assert from "node:assert/strict";
import { test } from "node:test";

import { createRecentTasks } from "../../../src/sam3_service/web/static/js/recent.js";

function memoryStorage(initial = {}) {
  const items = new Map(Object.entries(initial));
  return { getItem: (key) => items.get(key) ?? null, setItem: (key, value) => items.set(key, value), items };
}

test("tasks are remembered newest first, once each, up to the limit", () => {
  let clock = 0;
  const recent = createRecentTasks(memoryStorage(), { limit: 3, now: () => ++clock });
  for (const id of ["a", "b", "c", "d"]) recent.remember({ id, label: id, status: "queued" });
  recent.remember({ id: "c", label: "c again", status: "running" });
  assert.deepEqual(
    recent.list().map((entry) => [entry.id, entry.label]),
    [
      ["c", "c again"],
      ["d", "d"],
      ["b", "b"],
    ],
  );
  assert.equal(recent.list()[0].createdAt, 5);
});

test("status updates and forgetting", () => {
  const recent = createRecentTasks(memoryStorage());
  recent.remember({ id: "a", status: "queued" });
  recent.remember({ id: "b", status: "queued" });
  recent.update("a", { status: "succeeded" });
  recent.update("zzz", { status: "failed" });
  recent.forget("b");
  assert.deepEqual(
    recent.list().map((entry) => [entry.id, entry.status]),
    [["a", "succeeded"]],
  );
});

test("the list survives a new page: it lives in storage", () => {
  const storage = memoryStorage();
  createRecentTasks(storage).remember({ id: "kept", status: "running" });
  assert.equal(createRecentTasks(storage).list()[0].id, "kept");
});

test("corrupt or unavailable storage gives an empty list, never an error", () => {
  assert.deepEqual(createRecentTasks(memoryStorage({ "sam3.recentTasks": "{not json" })).list(), []);
  assert.deepEqual(createRecentTasks(memoryStorage({ "sam3.recentTasks": '[{"id": 3}, null]' })).list(), []);
  const refusing = {
    getItem: () => null,
    setItem: () => {
      throw new Error("quota");
    },
  };
  const recent = createRecentTasks(refusing);
  recent.remember({ id: "a" });
  assert.deepEqual(recent.list(), []);
});
