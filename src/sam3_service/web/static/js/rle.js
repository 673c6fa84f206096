// COCO run-length encoded masks, as pycocotools writes them, decoded for drawing.

/**
 * Parse COCO's compressed RLE string into run lengths (as pycocotools' rleFrString does).
 * Each number is written in 5-bit chunks offset by 48; runs after the second are stored as
 * differences from the run two places before.
 * @param {string} counts
 * @returns {number[]}
 */
export function decodeCounts(counts) {
  const runs = [];
  let value = 0;
  let scale = 1;
  for (let i = 0; i < counts.length; i += 1) {
    const chunk = counts.charCodeAt(i) - 48;
    if (chunk < 0 || chunk > 63) throw new RangeError(`invalid RLE character at ${i}`);
    value += (chunk & 0x1f) * scale;
    scale *= 32;
    if (chunk & 0x20) continue; // more chunks of this number follow
    if (chunk & 0x10) value -= scale; // the sign bit of the last chunk
    if (runs.length > 2) value += runs[runs.length - 2];
    if (value < 0) throw new RangeError(`negative run length at ${i}`);
    runs.push(value);
    value = 0;
    scale = 1;
  }
  if (scale !== 1) throw new RangeError("the RLE string ends inside a number");
  return runs;
}

/**
 * Decode a COCO RLE (`{size: [height, width], counts}`, column-major runs starting with
 * background) into a row-major mask of 0 and 1, the layout of canvas pixels.
 * @param {{size: [number, number], counts: string | number[]}} rle
 * @returns {{width: number, height: number, data: Uint8Array}}
 */
export function decodeRle(rle) {
  const [height, width] = rle.size;
  const runs = typeof rle.counts === "string" ? decodeCounts(rle.counts) : rle.counts;
  const total = width * height;
  const data = new Uint8Array(total);
  let position = 0;
  runs.forEach((length, index) => {
    const end = position + length;
    if (end > total) throw new RangeError(`the runs cover more than ${width}x${height} pixels`);
    if (index % 2 === 1) fillColumnMajor(data, width, height, position, end);
    position = end;
  });
  if (position !== total) throw new RangeError(`the runs cover ${position} of ${total} pixels`);
  return { width, height, data };
}

function fillColumnMajor(data, width, height, start, end) {
  let x = Math.floor(start / height);
  let y = start % height;
  for (let p = start; p < end; p += 1) {
    data[y * width + x] = 1;
    y += 1;
    if (y === height) {
      y = 0;
      x += 1;
    }
  }
}
