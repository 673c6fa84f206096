// Reading an MP4 (or QuickTime) file's header in the browser: its video track's frame rate and
// frame count, so that a click on the paused video can name the frame under the playhead. The
// browser's <video> element tells neither.

const MAX_MOVIE_BYTES = 64 << 20; // a `moov` box larger than this is not read
const MAX_TOP_BOXES = 64;

/** The boxes inside `view` from `start` to `end`: `{type, start, end}`, `start` past the header. */
function* boxes(view, start = 0, end = view.byteLength) {
  let offset = start;
  while (offset + 8 <= end) {
    const { size, header } = boxSize(view, offset, end);
    if (size < header || offset + size > end) return;
    yield { type: fourCc(view, offset + 4), start: offset + header, end: offset + size };
    offset += size;
  }
}

/** A box's size and header length at `offset`: 32-bit, 64-bit (size 1) or "to the end" (0). */
function boxSize(view, offset, end) {
  const size = view.getUint32(offset);
  if (size === 1 && offset + 16 <= end) {
    return { size: Number(view.getBigUint64(offset + 8)), header: 16 };
  }
  return { size: size === 0 ? end - offset : size, header: 8 };
}

function fourCc(view, offset) {
  return String.fromCharCode(...new Uint8Array(view.buffer, view.byteOffset + offset, 4));
}

/** The box at the end of `path` (box types, outermost first) inside `parent`, or null. */
function find(view, parent, path) {
  let current = parent;
  for (const type of path) {
    current = [...boxes(view, current.start, current.end)].find((box) => box.type === type);
    if (!current) return null;
  }
  return current;
}

/** The timescale of a track's media header (`mdhd`, version 0 or 1). */
function timescale(view, mdhd) {
  const version = view.getUint8(mdhd.start);
  return view.getUint32(mdhd.start + (version === 1 ? 20 : 12));
}

/** Frames and their total duration (in timescale units) from a sample table's `stts`. */
function sampleTimes(view, stts) {
  const entries = view.getUint32(stts.start + 4);
  let frames = 0;
  let duration = 0;
  for (let i = 0; i < entries; i += 1) {
    const at = stts.start + 8 + i * 8;
    if (at + 8 > stts.end) break;
    const count = view.getUint32(at);
    frames += count;
    duration += count * view.getUint32(at + 4);
  }
  return { frames, duration };
}

/**
 * The first video track of a `moov` box's bytes: `{fps, frames}`, or null when there is none.
 * @param {ArrayBuffer} buffer the whole `moov` box
 */
export function readMovie(buffer) {
  const view = new DataView(buffer);
  const [movie] = boxes(view);
  if (movie?.type !== "moov") return null;
  for (const track of boxes(view, movie.start, movie.end)) {
    if (track.type !== "trak") continue;
    const handler = find(view, track, ["mdia", "hdlr"]);
    if (!handler || fourCc(view, handler.start + 8) !== "vide") continue;
    const mdhd = find(view, track, ["mdia", "mdhd"]);
    const stts = find(view, track, ["mdia", "minf", "stbl", "stts"]);
    if (!mdhd || !stts) return null;
    const { frames, duration } = sampleTimes(view, stts);
    const scale = timescale(view, mdhd);
    if (!frames || !duration || !scale) return null;
    return { fps: (frames * scale) / duration, frames };
  }
  return null;
}

/**
 * Probe a video file: `{fps, frames}` of its first video track, or null when it is not an MP4
 * or QuickTime file this can read (WebM, a damaged file). Reads only the box headers and `moov`.
 * @param {Blob} file
 */
export async function probeMp4(file) {
  try {
    let offset = 0;
    for (let count = 0; count < MAX_TOP_BOXES && offset + 8 <= file.size; count += 1) {
      const head = new DataView(await file.slice(offset, offset + 16).arrayBuffer());
      const { size } = boxSize(head, 0, file.size - offset);
      if (size < 8) return null;
      if (fourCc(head, 4) === "moov") {
        if (size > MAX_MOVIE_BYTES) return null;
        return readMovie(await file.slice(offset, offset + size).arrayBuffer());
      }
      offset += size;
    }
  } catch {
    // A truncated or odd file: its frame rate is unknown.
  }
  return null;
}
