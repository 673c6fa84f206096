import assert from "node:assert/strict";
import { test } from "node:test";

import { probeMp4, readMovie } from "../../../src/sam3_service/web/static/js/mp4.js";

// ISO base media boxes, built by hand: enough of a movie for its video track's timing.

function u32(...values) {
  const bytes = new Uint8Array(values.length * 4);
  values.forEach((value, i) => new DataView(bytes.buffer).setUint32(i * 4, value));
  return bytes;
}

function concat(...parts) {
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

const ascii = (text) => new TextEncoder().encode(text);

function box(type, ...payload) {
  const body = concat(...payload);
  return concat(u32(8 + body.length), ascii(type), body);
}

/** A box with a 64-bit size (size field 1). */
function largeBox(type, body) {
  const header = new Uint8Array(16);
  const view = new DataView(header.buffer);
  view.setUint32(0, 1);
  header.set(ascii(type), 4);
  view.setBigUint64(8, BigInt(16 + body.length));
  return concat(header, body);
}

const handler = (kind) => box("hdlr", u32(0, 0), ascii(kind), u32(0, 0, 0), ascii("name\0"));

function mdhd(timescale, duration, version = 0) {
  if (version === 1) return box("mdhd", u32(1 << 24, 0, 0, 0, 0, timescale, 0, duration, 0));
  return box("mdhd", u32(0, 0, 0, timescale, duration, 0));
}

/** `stts` entries: [count, delta] pairs. */
const stts = (entries) => box("stts", u32(0, entries.length, ...entries.flat()));

function track(kind, { timescale, entries, version = 0 }) {
  const total = entries.reduce((sum, [count, delta]) => sum + count * delta, 0);
  return box(
    "trak",
    box("tkhd", u32(0, 0, 0, 1)),
    box(
      "mdia",
      mdhd(timescale, total, version),
      handler(kind),
      box("minf", box("stbl", box("stsd", u32(0, 0)), stts(entries))),
    ),
  );
}

const audio = track("soun", { timescale: 44100, entries: [[40, 1024]] });

function movie(...tracks) {
  return box("moov", box("mvhd", u32(0, 0, 0, 1000, 2000)), ...tracks);
}

const blob = (...parts) => new Blob([concat(...parts)]);
const ftyp = box("ftyp", ascii("isom"), u32(512), ascii("isomavc1"));

test("the video track's frame rate and frames, after an audio track", () => {
  const moov = movie(audio, track("vide", { timescale: 12288, entries: [[240, 1024]] }));
  assert.deepEqual(readMovie(moov.buffer), { fps: 12, frames: 240 });
});

test("variable frame durations give the average rate; a version 1 header is read too", () => {
  const entries = [
    [10, 1001],
    [20, 1000],
  ];
  const moov = movie(track("vide", { timescale: 30000, entries, version: 1 }));
  const { fps, frames } = readMovie(moov.buffer);
  assert.equal(frames, 30);
  assert.ok(Math.abs(fps - (30 * 30000) / 30010) < 1e-9);
});

test("the header is found before or after the media data, whatever its size field", async () => {
  const moov = movie(track("vide", { timescale: 25, entries: [[50, 1]] }));
  const mdat = largeBox("mdat", new Uint8Array(5000));
  assert.deepEqual(await probeMp4(blob(ftyp, moov, mdat)), { fps: 25, frames: 50 });
  assert.deepEqual(await probeMp4(blob(ftyp, box("free"), mdat, moov)), { fps: 25, frames: 50 });
});

test("no video track, another container, or a cut file: the rate is unknown", async () => {
  assert.equal(await probeMp4(blob(ftyp, movie(audio))), null);
  const webm = new Uint8Array([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(await probeMp4(new Blob([webm])), null);
  const whole = concat(ftyp, movie(track("vide", { timescale: 25, entries: [[50, 1]] })));
  assert.equal(await probeMp4(new Blob([whole.slice(0, whole.length - 30)])), null);
  assert.equal(await probeMp4(new Blob([])), null);
});
