import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";

import {
  chooseLanguage,
  createTranslator,
  MESSAGES,
  saveLanguage,
  savedLanguage,
} from "../../../src/sam3_service/web/static/js/i18n.js";

const STATIC = new URL("../../../src/sam3_service/web/static/", import.meta.url);
const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test("both languages have the same texts with the same placeholders", () => {
  assert.deepEqual(Object.keys(MESSAGES.zh).sort(), Object.keys(MESSAGES.en).sort());
  for (const [key, text] of Object.entries(MESSAGES.en)) {
    assert.deepEqual(placeholders(MESSAGES.zh[key]), placeholders(text), key);
  }
});

test("every text the page and its scripts name exists", () => {
  const html = readFileSync(new URL("index.html", STATIC), "utf8");
  const scripts = readdirSync(new URL("js/", STATIC)).map((name) =>
    readFileSync(new URL(`js/${name}`, STATIC), "utf8"),
  );
  const named = new Set([
    ...[...html.matchAll(/data-i18n(?:-aria-label|-placeholder)?="([^"]+)"/g)].map((m) => m[1]),
    ...scripts.flatMap((source) => [...source.matchAll(/\bt\("([^"]+)"/g)].map((m) => m[1])),
    ...scripts.flatMap((source) => [...source.matchAll(/"(error\.\w+)"/g)].map((m) => m[1])),
  ]);
  assert.ok(named.size > 60);
  const missing = [...named].filter((key) => !(key in MESSAGES.en));
  assert.deepEqual(missing, []);
});

test("the language is the saved one, else the browser's, else English", () => {
  assert.equal(chooseLanguage("zh", ["en-GB"]), "zh");
  assert.equal(chooseLanguage(null, ["fr-FR", "zh-CN", "en"]), "zh");
  assert.equal(chooseLanguage("xx", ["de"]), "en");
});

test("texts are filled in, and unknown keys fall back to English, then to the key", () => {
  const t = createTranslator("zh");
  assert.equal(t("error.rateLimited", { seconds: 4 }), "此密钥的请求过多。请等待 4 秒后重试。");
  assert.equal(createTranslator("en")("objects.count", { shown: 2, total: 5 }), "2 of 5");
  assert.equal(t("no.such.key"), "no.such.key");
  assert.equal(createTranslator("klingon")("run"), "Segment");
});

test("the choice is remembered, and a refusing storage is harmless", () => {
  const items = new Map();
  const storage = {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => items.set(key, value),
  };
  saveLanguage(storage, "zh");
  assert.equal(savedLanguage(storage), "zh");
  const refusing = {
    getItem: () => {
      throw new Error("denied");
    },
    setItem: () => {
      throw new Error("denied");
    },
  };
  saveLanguage(refusing, "zh");
  assert.equal(savedLanguage(refusing), null);
});
