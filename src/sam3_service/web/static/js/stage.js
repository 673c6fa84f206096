// The picture on screen: the image or video, the mask overlay, the prompt marks, and the
// mouse, touch and keyboard input that adds points and boxes (on a video, on the paused frame).

import { paintLayers } from "./overlay.js";

const SVG = "http://www.w3.org/2000/svg";
const DRAG_PX = 6; // a press that moves further than this draws a box
const MARK_RADIUS_PX = 7;

/**
 * Wire the stage elements. `onMark(mark)` receives `{kind: "point", x, y, positive}` or
 * `{kind: "box", a, b, positive}` in picture pixels; `onHover({x, y} | null)` follows the pointer;
 * `onUndo()` answers Backspace; `onCursor(text)` announces the keyboard cross.
 */
export function createStage(elements, { onMark, onHover, onUndo, onCursor }) {
  const { wrap, picture, video, canvas, svg, dropzone } = elements;
  let size = null; // {width, height} of the picture or video in its own pixels
  let kind = "image";
  let tool = "positive";
  let interactive = false;
  let marks = [];
  let labels = [];
  let press = null; // {start, screen, dragging, end}
  let cursor = null; // keyboard cross
  let anchor = null; // first corner of a keyboard box

  const media = () => (kind === "video" ? video : picture);
  const scale = () => (size ? size.width / Math.max(1, media().getBoundingClientRect().width) : 1);

  function toPicture(event) {
    const rect = media().getBoundingClientRect();
    return {
      x: Math.min(Math.max(((event.clientX - rect.left) * size.width) / rect.width, 0), size.width),
      y: Math.min(Math.max(((event.clientY - rect.top) * size.height) / rect.height, 0), size.height),
    };
  }

  function element(name, attributes, parent = svg) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    parent.append(node);
    return node;
  }

  function redraw() {
    svg.replaceChildren();
    if (!size) return;
    const s = scale();
    for (const label of labels) drawLabel(label, s);
    for (const mark of marks) {
      if (mark.kind === "box") drawBox(mark, mark.positive ? "box" : "box negative", s);
      else drawPoint(mark, s);
    }
    if (press?.dragging) drawBox(corners(press.start, press.end), "box preview", s);
    if (anchor && cursor) drawBox(corners(anchor, cursor), "box preview", s);
    if (cursor && document.activeElement === wrap) drawCursor(cursor, s);
  }

  function drawPoint(point, s) {
    const group = element("g", { class: point.positive ? "point positive" : "point negative" });
    element("circle", { cx: point.x, cy: point.y, r: MARK_RADIUS_PX * s, "stroke-width": 2 * s }, group);
    const arm = 3.5 * s;
    element(
      "path",
      {
        d: point.positive
          ? `M${point.x - arm} ${point.y}h${2 * arm}M${point.x} ${point.y - arm}v${2 * arm}`
          : `M${point.x - arm} ${point.y}h${2 * arm}`,
        "stroke-width": 2 * s,
      },
      group,
    );
  }

  function drawBox(box, className, s) {
    element("rect", {
      class: className,
      x: box.x0,
      y: box.y0,
      width: box.x1 - box.x0,
      height: box.y1 - box.y0,
      "stroke-width": 2 * s,
      "stroke-dasharray": `${6 * s} ${4 * s}`,
    });
  }

  function drawCursor(point, s) {
    const arm = 12 * s;
    element("path", {
      class: "cursor",
      d: `M${point.x - arm} ${point.y}h${2 * arm}M${point.x} ${point.y - arm}v${2 * arm}`,
      "stroke-width": 2 * s,
    });
  }

  function drawLabel({ x, y, text, colour, ink }, s) {
    const fontSize = 12 * s;
    const pad = 3 * s;
    const width = text.length * fontSize * 0.62 + 2 * pad;
    const height = fontSize + 2 * pad;
    const left = Math.min(x, size.width - width);
    const top = y >= height ? y - height : y;
    const group = element("g", { class: "label" });
    element("rect", { x: left, y: top, width, height, rx: 3 * s, fill: colour }, group);
    const node = element(
      "text",
      { x: left + pad, y: top + pad + fontSize * 0.85, "font-size": fontSize, fill: ink },
      group,
    );
    node.textContent = text;
  }

  function onPointerDown(event) {
    if (!interactive || !size || event.button !== 0) return;
    video.pause();
    wrap.setPointerCapture?.(event.pointerId);
    press = { start: toPicture(event), screen: { x: event.clientX, y: event.clientY }, dragging: false };
  }

  function onPointerMove(event) {
    if (!size) return;
    if (!press) {
      onHover(toPicture(event));
      return;
    }
    press.end = toPicture(event);
    const moved = Math.hypot(event.clientX - press.screen.x, event.clientY - press.screen.y);
    press.dragging ||= moved > DRAG_PX;
    if (press.dragging) redraw();
  }

  function onPointerUp(event) {
    if (!press) return;
    const { start, dragging } = press;
    press = null;
    const end = toPicture(event);
    if (dragging) {
      onMark({ kind: "box", a: start, b: end, positive: tool !== "negative" });
    } else if (tool !== "box") {
      onMark({ kind: "point", ...end, positive: tool === "positive" && !event.shiftKey });
    }
    redraw();
  }

  const KEY_MOVES = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

  function onKeyDown(event) {
    if (!interactive || !size) return;
    cursor ??= { x: size.width / 2, y: size.height / 2 };
    const move = KEY_MOVES[event.key];
    if (move) {
      const step = Math.max(1, Math.round(Math.max(size.width, size.height) / (event.shiftKey ? 200 : 40)));
      cursor = {
        x: Math.min(Math.max(cursor.x + move[0] * step, 0), size.width),
        y: Math.min(Math.max(cursor.y + move[1] * step, 0), size.height),
      };
      onCursor(cursor);
    } else if (event.key === "Enter" || event.key === " ") {
      placeWithKeyboard(event.shiftKey);
    } else if (event.key === "Backspace" || event.key === "Delete") {
      onUndo();
    } else if (event.key === "Escape" && anchor) {
      anchor = null;
    } else {
      return;
    }
    event.preventDefault();
    redraw();
  }

  function placeWithKeyboard(shift) {
    video.pause();
    if (tool !== "box") {
      onMark({ kind: "point", ...cursor, positive: tool === "positive" && !shift });
    } else if (!anchor) {
      anchor = { ...cursor };
    } else {
      onMark({ kind: "box", a: anchor, b: cursor, positive: true });
      anchor = null;
    }
  }

  wrap.addEventListener("pointerdown", onPointerDown);
  wrap.addEventListener("pointermove", onPointerMove);
  wrap.addEventListener("pointerup", onPointerUp);
  wrap.addEventListener("pointercancel", () => (press = null));
  wrap.addEventListener("pointerleave", () => onHover(null));
  wrap.addEventListener("keydown", onKeyDown);
  wrap.addEventListener("focus", redraw);
  wrap.addEventListener("blur", redraw);
  new ResizeObserver(redraw).observe(wrap);

  function reveal(shown) {
    kind = shown;
    dropzone.hidden = true;
    wrap.hidden = false;
    picture.hidden = kind !== "image";
    video.hidden = kind !== "video";
    canvas.hidden = kind !== "image";
    wrap.classList.toggle("is-video", kind === "video");
    if (kind !== "video") video.pause();
  }

  function forget() {
    size = null;
    cursor = null;
    anchor = null;
    labels = [];
  }

  function measured(width, height) {
    size = { width, height };
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    redraw();
    return size;
  }

  return {
    /** Show a picture; resolves with its size in pixels once it has loaded. */
    showImage(url) {
      return new Promise((resolve, reject) => {
        picture.onload = () => {
          canvas.width = picture.naturalWidth;
          canvas.height = picture.naturalHeight;
          reveal("image");
          resolve(measured(picture.naturalWidth, picture.naturalHeight));
        };
        picture.onerror = () => reject(new Error("the picture cannot be shown"));
        forget();
        canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
        picture.src = url;
      });
    },
    /** Show a video and play it, muted, in a loop; resolves with its size and duration. */
    showVideo(url) {
      return new Promise((resolve, reject) => {
        video.onloadedmetadata = () => {
          const { width, height } = measured(video.videoWidth, video.videoHeight);
          video.play().catch(() => {});
          resolve({ width, height, duration: video.duration });
        };
        video.onerror = () => reject(new Error("the video cannot be shown"));
        forget();
        reveal("video");
        video.src = url;
      });
    },
    /** Draw mask layers (see overlay.js) and their labels; a video has its masks drawn in. */
    drawLayers(layers, highlight, layerLabels) {
      if (!size || kind === "video") return;
      const context = canvas.getContext("2d");
      const image = context.createImageData(size.width, size.height);
      paintLayers(image.data, layers, { width: size.width, highlight });
      context.putImageData(image, 0, 0);
      labels = layerLabels;
      redraw();
    },
    setMarks(next) {
      marks = next;
      redraw();
    },
    /** Fade the marks while the video shows another frame than theirs. */
    setMarksDimmed(dimmed) {
      svg.classList.toggle("is-elsewhere", dimmed);
    },
    setTool(next) {
      tool = next;
      anchor = null;
    },
    setInteractive(enabled) {
      interactive = enabled;
      wrap.classList.toggle("is-interactive", enabled);
    },
  };
}

function corners(a, b) {
  return { x0: Math.min(a.x, b.x), y0: Math.min(a.y, b.y), x1: Math.max(a.x, b.x), y1: Math.max(a.y, b.y) };
}
