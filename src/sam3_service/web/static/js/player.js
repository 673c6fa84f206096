// The bar under a video on the stage: play and pause, a frame back or forward, and seeking.
// What it shows (the frame under the playhead) is drawn by render.js from `status()`.

import { frameAt, frameTime, processedFrame } from "./video.js";

/**
 * Wire the video bar. `onChange()` is called whenever the playhead moves or playback starts or
 * stops. `setTiming({fps, stride, last})` (see video.js) says how the shown video runs.
 */
export function createPlayer({ video, play, back, forward, seek }, { onChange }) {
  let timing = { fps: null, stride: 1, last: null };

  const frame = () => processedFrame(frameAt(video.currentTime, timing.fps), timing.stride);

  /** Pause on frame `index` (kept within the video). */
  function showFrame(index) {
    video.pause();
    const last = timing.last ?? Number.POSITIVE_INFINITY;
    const time = frameTime(Math.min(Math.max(index, 0), last), timing.fps);
    video.currentTime = Number.isFinite(video.duration) ? Math.min(time, video.duration) : time;
  }

  play.addEventListener("click", () => {
    if (video.paused) video.play().catch(() => {});
    else video.pause();
  });
  back.addEventListener("click", () => showFrame(frame() - timing.stride));
  forward.addEventListener("click", () => showFrame(frame() + timing.stride));
  seek.addEventListener("input", () => {
    video.pause();
    video.currentTime = Number(seek.value);
  });
  for (const name of ["timeupdate", "seeked", "play", "pause", "loadedmetadata", "emptied"]) {
    video.addEventListener(name, onChange);
  }

  return {
    showFrame,
    pause: () => video.pause(),
    /** Where the playhead is: time and duration in seconds, the frame shown, whether paused. */
    status: () => ({
      time: video.currentTime,
      duration: Number.isFinite(video.duration) ? video.duration : 0,
      frame: frame(),
      paused: video.paused,
    }),
    setTiming(next) {
      timing = next;
      onChange();
    },
  };
}
