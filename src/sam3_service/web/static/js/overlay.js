// Drawing masks: the service's colours, outlines, and the RGBA pixels of the overlay canvas.

const GOLDEN_RATIO_CONJUGATE = 0.6180339887498949;
const SATURATION = 0.8;
const VALUE = 0.95;

/** Fill opacity of objects, normally and while one of them is highlighted. */
export const FILL_ALPHA = { normal: 0.45, highlighted: 0.7, dimmed: 0.12 };

/**
 * Colour i for object i: bright hues a golden ratio apart, the same as the service's PNGs.
 * @param {number} n
 * @returns {[number, number, number][]}
 */
export function palette(n) {
  return Array.from({ length: n }, (_, i) => {
    const hue = (i * GOLDEN_RATIO_CONJUGATE) % 1;
    return [5, 3, 1].map((offset) => {
      const k = (offset + hue * 6) % 6;
      const weight = Math.min(Math.max(Math.min(k, 4 - k), 0), 1);
      return Math.round((VALUE - VALUE * SATURATION * weight) * 255);
    });
  });
}

/** Black or white, whichever reads better on `colour` (Rec. 601 luma, as the service does). */
export function inkFor([r, g, b]) {
  return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? "#000" : "#fff";
}

/**
 * The tight box of a mask, `{x0, y0, x1, y1}` with exclusive ends, or null when it is empty.
 * @param {Uint8Array} mask row-major 0/1
 */
export function maskBox(mask, width, height) {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y += 1) {
    const row = y * width;
    for (let x = 0; x < width; x += 1) {
      if (!mask[row + x]) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      y0 = Math.min(y0, y);
      y1 = y;
    }
  }
  return x1 < 0 ? null : { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

/**
 * The inner rim of a cropped mask (`width` x `height`, row-major): mask pixels within
 * `thickness` of the background. Beyond the crop is background, except where `edges` says the
 * crop touches the picture's border (`left`, `top`, `right`, `bottom`): outside the picture
 * counts as inside, as the service draws it, so objects cut by the border are not outlined there.
 */
export function maskRim(mask, width, height, thickness, edges = {}) {
  const across = new Uint8Array(width * height);
  for (let y = 0; y < height; y += 1) {
    const row = y * width;
    erodeLine(
      (i) => mask[row + i],
      (i) => (across[row + i] = 1),
      width,
      {
        openBefore: edges.left,
        openAfter: edges.right,
        thickness,
      },
    );
  }
  const rim = mask.slice();
  for (let x = 0; x < width; x += 1) {
    erodeLine(
      (i) => across[i * width + x],
      (i) => (rim[i * width + x] = 0),
      height,
      {
        openBefore: edges.top,
        openAfter: edges.bottom,
        thickness,
      },
    );
  }
  return rim;
}

// One-dimensional erosion: `keep` the ones more than `thickness` away from any zero; an open
// end continues with ones, a closed one with zeros.
function erodeLine(get, keep, length, { openBefore, openAfter, thickness }) {
  const leftOk = new Uint8Array(length);
  let lastZero = openBefore ? -Infinity : -1;
  for (let i = 0; i < length; i += 1) {
    if (!get(i)) lastZero = i;
    leftOk[i] = i - lastZero > thickness ? 1 : 0;
  }
  let nextZero = openAfter ? Infinity : length;
  for (let i = length - 1; i >= 0; i -= 1) {
    if (!get(i)) nextZero = i;
    if (leftOk[i] && nextZero - i > thickness) keep(i);
  }
}

/**
 * One object ready to draw: its colour, its tight box in the picture, and its mask and rim
 * cropped to that box (so that many objects on a large picture stay small in memory).
 * @param {{id: number, colour: number[], mask: Uint8Array, width: number, height: number,
 *          thickness: number}} object `mask` covers the whole picture, row-major
 */
export function makeLayer({ id, colour, mask, width, height, thickness }) {
  const box = maskBox(mask, width, height);
  if (!box) return { id, colour, box: null, mask: new Uint8Array(0), rim: new Uint8Array(0) };
  const boxWidth = box.x1 - box.x0;
  const boxHeight = box.y1 - box.y0;
  const crop = new Uint8Array(boxWidth * boxHeight);
  for (let y = 0; y < boxHeight; y += 1) {
    const from = (box.y0 + y) * width + box.x0;
    crop.set(mask.subarray(from, from + boxWidth), y * boxWidth);
  }
  const edges = { left: box.x0 === 0, top: box.y0 === 0, right: box.x1 === width, bottom: box.y1 === height };
  return { id, colour, box, mask: crop, rim: maskRim(crop, boxWidth, boxHeight, thickness, edges) };
}

/** How thick outlines are for a picture, in its pixels: about 2 screen pixels when it fits. */
export function rimThickness(width, height) {
  return Math.max(2, Math.round(Math.max(width, height) / 400));
}

/**
 * Paint layers (see makeLayer) into RGBA pixels, cleared first: a translucent fill and an
 * opaque rim each, later layers on top. While `highlight` names an object, it stands out and
 * the others fade.
 * @param {Uint8ClampedArray} pixels the picture's width*height*4 bytes
 */
export function paintLayers(pixels, layers, { width, highlight = null }) {
  pixels.fill(0);
  for (const layer of layers) {
    if (!layer.box) continue;
    const focused = highlight === null || highlight === layer.id;
    const fill =
      highlight === null ? FILL_ALPHA.normal : focused ? FILL_ALPHA.highlighted : FILL_ALPHA.dimmed;
    const fillAlpha = Math.round(fill * 255);
    const rimAlpha = focused ? 255 : 90;
    const [r, g, b] = layer.colour;
    const { x0, y0, x1, y1 } = layer.box;
    const boxWidth = x1 - x0;
    for (let y = y0; y < y1; y += 1) {
      const local = (y - y0) * boxWidth;
      for (let x = 0; x < boxWidth; x += 1) {
        if (!layer.mask[local + x]) continue;
        const p = (y * width + x0 + x) * 4;
        pixels[p] = r;
        pixels[p + 1] = g;
        pixels[p + 2] = b;
        pixels[p + 3] = layer.rim[local + x] ? rimAlpha : fillAlpha;
      }
    }
  }
}

/** The id of the topmost layer covering picture pixel (x, y), or null. */
export function layerAt(layers, x, y) {
  const px = Math.floor(x);
  const py = Math.floor(y);
  for (let k = layers.length - 1; k >= 0; k -= 1) {
    const { box, mask, id } = layers[k];
    if (!box || px < box.x0 || px >= box.x1 || py < box.y0 || py >= box.y1) continue;
    if (mask[(py - box.y0) * (box.x1 - box.x0) + px - box.x0]) return id;
  }
  return null;
}
