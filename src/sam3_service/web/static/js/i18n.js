// Interface text in English and Simplified Chinese. Prompts themselves stay English.

export const LANGUAGES = ["en", "zh"];
const STORAGE_KEY = "sam3.language";

const en = {
  skip: "Skip to the prompt",
  title: "SAM 3 segmentation",
  tagline: "Find objects in a picture by naming them or clicking on them.",
  language: "Language",
  "ready.starting": "The service is starting, please wait. The page will be ready by itself.",
  "ready.failed": "The service cannot segment right now.",
  "ready.offline": "The service cannot be reached. The page keeps trying.",
  "random.title": "Development model:",
  "random.text": "this service runs a randomly initialised SAM 3, so the masks are random and mean nothing.",
  "shared.banner": "You are looking at a shared result. It is read-only.",
  "shared.own": "Segment your own picture",
  "stage.title": "Picture",
  "stage.titleVideo": "Video",
  "stage.titleTracked": "Tracked video",
  "stage.label": "Picture: click to add points",
  "stage.help":
    "Click the object to add a point; the Background tool (or Shift+click) marks what to leave out; drag to draw a box. Keyboard: arrow keys move the cross, Enter adds, Backspace undoes.",
  "stage.helpVideo":
    "Type what to find and press Track to follow every instance. Or, to follow one object, click it on a frame (the video pauses there) or drag one box around it; Shift+click marks what to leave out.",
  "stage.helpTracked": "Each tracked object keeps its colour and id. Clear to mark the video again.",
  "tools.label": "Prompt tools",
  "tools.clickAdds": "A click adds",
  "tools.positive": "Object",
  "tools.negative": "Background",
  "tools.box": "Box",
  "tools.undo": "Undo",
  "tools.clear": "Clear",
  "drop.title": "Drop a picture or a video here",
  "drop.or": "or click to choose a file (JPEG, PNG, WebP, MP4)",
  "drop.release": "Release to open the file",
  "examples.title": "Try an example",
  "examples.item": "{title}: find “{prompt}”",
  "file.label": "Picture or video",
  "prompt.label": "What to find (in English)",
  "prompt.hint": "SAM 3 understands English only: type “dog”, “red car”, “cup”.",
  "prompt.aside": "Clicks mark one object and set the text aside; clear them to search by text again.",
  run: "Segment",
  "run.video": "Track",
  "options.title": "Video options",
  "options.stride": "Process every n-th frame",
  "options.maxFrames": "At most this many frames",
  "options.all": "all",
  "options.hint": "Fewer frames finish sooner. Clicks go on a processed frame.",
  "video.play": "Play",
  "video.pause": "Pause",
  "video.back": "Previous frame",
  "video.forward": "Next frame",
  "video.seek": "Position in the video",
  "video.frame": "Frame {frame} / {last}",
  "video.time": "{seconds} s",
  "video.marksOn": "marks on frame {frame}",
  "video.noRate": "This video's frame rate cannot be read here, so clicks apply to its first frame.",
  "objects.title": "Objects",
  "objects.before": "Choose a picture, type what to find or click on it, and the objects appear here.",
  "objects.none": "No objects found.",
  "objects.below": "{count} more below the minimum score.",
  "objects.count": "{shown} of {total}",
  "tracks.before":
    "Type what to find and press Track, or click an object on a frame; the tracked objects appear here.",
  "tracks.count": "{count} tracked",
  "tracks.none": "No objects were tracked.",
  "tracks.summary": "{frames} frames tracked in {seconds} s ({fps} frames/s).",
  "track.show": "Object {id}: go to frame {first}",
  "track.frames": "frames {first}–{last}",
  "track.score": "mean {score}",
  "object.name": "Object {id}",
  "object.score": "score {score}",
  "object.area": "{area} px",
  "object.show": "Show object {id}",
  "threshold.label": "Minimum score",
  "threshold.video": "In a video, objects must score this much to be tracked; it applies to the next run.",
  "steps.title": "Steps and timings",
  "step.line": "Step {number}: {objects} objects in {total} ms ({server} ms on the service)",
  "step.cached": "image features reused",
  "step.reused": "the same request was answered before, so its result was reused",
  "step.encoded": "image encoded in {ms} ms",
  "timing.last": "Answered in {total} ms — {how}.",
  "downloads.title": "Download and share",
  "downloads.masks": "Mask PNG",
  "downloads.overlay": "Overlay PNG",
  "downloads.json": "Result JSON",
  "downloads.summary": "Summary JSON",
  "downloads.jsonl": "Frames JSONL",
  "downloads.video": "Overlay MP4",
  "downloads.example": "Press Segment to make files and a share link for this example.",
  "share.button": "Create a share link",
  "share.label": "Share link",
  "share.copy": "Copy",
  "share.copied": "Copied",
  "share.expires": "Anyone with this link can see this result until {date}.",
  "recent.title": "Recent tasks",
  "recent.open": "Open",
  "recent.video": "video",
  "recent.status.queued": "queued",
  "recent.status.running": "running",
  "recent.status.succeeded": "done",
  "recent.status.failed": "failed",
  "recent.status.cancelled": "cancelled",
  "progress.queued": "Waiting in the queue…",
  "progress.running": "Working… {percent}%",
  "progress.sending": "Segmenting…",
  "progress.uploading": "Uploading the video…",
  "progress.frames": "Frame {done} of {total} ({percent}%)",
  "progress.done": "Done: {done} of {total} frames (100%)",
  "progress.cancelling": "Cancelling…",
  "progress.cancelled": "Cancelled after {done} of {total} frames.",
  "progress.cancel": "Cancel",
  "marks.point": "{kind} point at {x}, {y}",
  "marks.box": "Box from {x0}, {y0} to {x1}, {y1}",
  "marks.removed": "Last mark removed",
  "marks.cursor": "Cross at {x}, {y}",
  "footer.api": "Built on the service's public API:",
  "footer.docs": "API documentation",
  "footer.credits": "Example pictures:",
  "key.button": "API key",
  "key.title": "API key",
  "key.label": "Your API key",
  "key.hint": "It is kept in this browser only, and sent with each request.",
  "key.cancel": "Cancel",
  "key.save": "Save",
  "error.network": "The service did not answer. Check your connection and try again.",
  "error.keyNeeded": "This service needs an API key. Please enter yours.",
  "error.keyWrong": "That API key was not accepted. Please check it and enter it again.",
  "error.rateLimited": "Too many requests for this key. Please wait {seconds} s and try again.",
  "error.tooLarge": "This file is too large for the service. Please choose a smaller one.",
  "error.unsupported": "This file type is not supported. Please choose a JPEG, PNG or WebP picture.",
  "error.videoTooLong": "This video lasts {seconds} s, longer than the service takes. Please cut it shorter.",
  "error.videoTooBig":
    "This video is {width}×{height} pixels, larger than the service takes. Please make it smaller.",
  "error.videoTooLarge": "This video is too large for the service. Please choose a shorter or smaller one.",
  "error.videoCodec":
    "This video is encoded as {codec}, which the service cannot read. Please convert it to MP4 (H.264).",
  "error.videoUnsupported":
    "This video cannot be read: it may be damaged, or in another format. Please choose an MP4 (H.264).",
  "error.videoEmpty": "This video has no frame to segment.",
  "error.videoFrame":
    "The marked frame is not one the service will process: mark a frame within the video options.",
  "error.videoPrompt":
    "In a video, type what to find (every instance is tracked), or mark one object with clicks or one box.",
  "error.options": "Please check the video options.",
  "error.english": "Please type the prompt in English, for example “dog” — SAM 3 understands English only.",
  "error.prompt": "This prompt cannot be used.",
  "error.marks": "A point or box cannot be used: it may lie outside the picture, or there are too many.",
  "error.file": "This file cannot be used.",
  "error.invalid": "The service could not use this request.",
  "error.forbidden": "This share link has expired or is not valid. Ask its owner for a new one.",
  "error.notFound": "The service no longer has this task.",
  "error.notReady": "The model is not ready yet; the page will enable itself when it is.",
  "error.busy": "The service is busy. Please try again in {seconds} s.",
  "error.timedOut": "This is taking a while; the page follows the task and shows it when done.",
  "error.unexpected": "Something went wrong on the service.",
  "error.noPrompt": "Type what to find, or click on the picture.",
  "error.noVideoPrompt": "Type what to find, or click an object on a frame of the video.",
  "error.noImage": "Choose a picture or a video first.",
  "error.preview": "This file cannot be shown in the browser.",
};

const zh = {
  skip: "跳到提示词",
  title: "SAM 3 图像分割",
  tagline: "说出物体的名字或在图上点击，找出图中的物体。",
  language: "语言",
  "ready.starting": "服务正在启动，请稍候。准备好后页面会自动可用。",
  "ready.failed": "服务暂时无法进行分割。",
  "ready.offline": "无法连接到服务，页面会继续尝试。",
  "random.title": "开发用模型：",
  "random.text": "此服务运行的是随机初始化的 SAM 3，分割结果是随机的，没有意义。",
  "shared.banner": "你正在查看别人分享的结果（只读）。",
  "shared.own": "分割你自己的图片",
  "stage.title": "图片",
  "stage.titleVideo": "视频",
  "stage.titleTracked": "跟踪结果视频",
  "stage.label": "图片：点击添加点",
  "stage.help":
    "点击物体添加一个点；用“背景”工具（或按住 Shift 点击）标出不要的部分；拖动可画框。键盘：方向键移动十字，回车添加，退格撤销。",
  "stage.helpVideo":
    "输入要找的东西并点击“跟踪”，即可跟踪所有同类物体。若只跟踪一个物体，在某一帧上点击它（视频会停在该帧），或拖动画一个框；按住 Shift 点击标出不要的部分。",
  "stage.helpTracked": "每个被跟踪的物体保持自己的颜色和编号。点击“清除”可重新在视频上标记。",
  "tools.label": "提示工具",
  "tools.clickAdds": "点击添加",
  "tools.positive": "物体",
  "tools.negative": "背景",
  "tools.box": "框",
  "tools.undo": "撤销",
  "tools.clear": "清除",
  "drop.title": "把图片或视频拖到这里",
  "drop.or": "或点击选择文件（JPEG、PNG、WebP、MP4）",
  "drop.release": "松开即可打开文件",
  "examples.title": "试试示例",
  "examples.item": "{title}：查找 “{prompt}”",
  "file.label": "图片或视频",
  "prompt.label": "要找什么（请用英文）",
  "prompt.hint": "SAM 3 只懂英文提示词：例如 “dog”、“red car”、“cup”。",
  "prompt.aside": "点击只标出一个物体，此时不使用文字；清除点击后即可再按文字查找。",
  run: "分割",
  "run.video": "跟踪",
  "options.title": "视频选项",
  "options.stride": "每隔几帧处理一帧",
  "options.maxFrames": "最多处理的帧数",
  "options.all": "全部",
  "options.hint": "处理的帧越少，完成得越快。点击会落在被处理的帧上。",
  "video.play": "播放",
  "video.pause": "暂停",
  "video.back": "上一帧",
  "video.forward": "下一帧",
  "video.seek": "视频中的位置",
  "video.frame": "第 {frame} 帧 / {last}",
  "video.time": "{seconds} 秒",
  "video.marksOn": "标记在第 {frame} 帧",
  "video.noRate": "此处无法读取该视频的帧率，所以点击都作用于第一帧。",
  "objects.title": "物体",
  "objects.before": "选择一张图片，输入要找的东西或在图上点击，物体就会显示在这里。",
  "objects.none": "没有找到物体。",
  "objects.below": "另有 {count} 个低于最低分数。",
  "objects.count": "{shown} / {total}",
  "tracks.before": "输入要找的东西并点击“跟踪”，或在某一帧上点击物体；被跟踪的物体会显示在这里。",
  "tracks.count": "跟踪到 {count} 个",
  "tracks.none": "没有跟踪到物体。",
  "tracks.summary": "共跟踪 {frames} 帧，用时 {seconds} 秒（每秒 {fps} 帧）。",
  "track.show": "物体 {id}：跳到第 {first} 帧",
  "track.frames": "第 {first}–{last} 帧",
  "track.score": "平均 {score}",
  "object.name": "物体 {id}",
  "object.score": "分数 {score}",
  "object.area": "{area} 像素",
  "object.show": "显示物体 {id}",
  "threshold.label": "最低分数",
  "threshold.video": "在视频中，物体的分数要达到此值才会被跟踪；修改后在下次运行时生效。",
  "steps.title": "步骤与耗时",
  "step.line": "第 {number} 步：{objects} 个物体，共 {total} 毫秒（服务端 {server} 毫秒）",
  "step.cached": "复用了图像特征",
  "step.reused": "相同的请求之前已处理过，直接复用了结果",
  "step.encoded": "图像编码 {ms} 毫秒",
  "timing.last": "用时 {total} 毫秒 — {how}。",
  "downloads.title": "下载与分享",
  "downloads.masks": "掩码 PNG",
  "downloads.overlay": "叠加图 PNG",
  "downloads.json": "结果 JSON",
  "downloads.summary": "摘要 JSON",
  "downloads.jsonl": "逐帧 JSONL",
  "downloads.video": "叠加视频 MP4",
  "downloads.example": "点击“分割”即可为此示例生成文件和分享链接。",
  "share.button": "创建分享链接",
  "share.label": "分享链接",
  "share.copy": "复制",
  "share.copied": "已复制",
  "share.expires": "在 {date} 之前，任何拿到此链接的人都能查看此结果。",
  "recent.title": "最近的任务",
  "recent.open": "打开",
  "recent.video": "视频",
  "recent.status.queued": "排队中",
  "recent.status.running": "进行中",
  "recent.status.succeeded": "完成",
  "recent.status.failed": "失败",
  "recent.status.cancelled": "已取消",
  "progress.queued": "正在排队…",
  "progress.running": "处理中… {percent}%",
  "progress.sending": "正在分割…",
  "progress.uploading": "正在上传视频…",
  "progress.frames": "第 {done} 帧，共 {total} 帧（{percent}%）",
  "progress.done": "完成：{done} / {total} 帧（100%）",
  "progress.cancelling": "正在取消…",
  "progress.cancelled": "已取消，完成了 {done} / {total} 帧。",
  "progress.cancel": "取消",
  "marks.point": "{kind}点：{x}, {y}",
  "marks.box": "框：从 {x0}, {y0} 到 {x1}, {y1}",
  "marks.removed": "已撤销最后一个标记",
  "marks.cursor": "十字位置 {x}, {y}",
  "footer.api": "本页面只使用服务的公开 API：",
  "footer.docs": "API 文档",
  "footer.credits": "示例图片：",
  "key.button": "API 密钥",
  "key.title": "API 密钥",
  "key.label": "你的 API 密钥",
  "key.hint": "密钥只保存在此浏览器中，并随每个请求发送。",
  "key.cancel": "取消",
  "key.save": "保存",
  "error.network": "服务没有响应。请检查网络后重试。",
  "error.keyNeeded": "此服务需要 API 密钥，请输入你的密钥。",
  "error.keyWrong": "这个 API 密钥未被接受，请检查后重新输入。",
  "error.rateLimited": "此密钥的请求过多。请等待 {seconds} 秒后重试。",
  "error.tooLarge": "文件太大，服务无法处理。请选择一个更小的文件。",
  "error.unsupported": "不支持这种文件类型。请选择 JPEG、PNG 或 WebP 图片。",
  "error.videoTooLong": "这个视频长 {seconds} 秒，超过了服务接受的长度。请剪短一些。",
  "error.videoTooBig": "这个视频为 {width}×{height} 像素，超过了服务接受的尺寸。请缩小一些。",
  "error.videoTooLarge": "这个视频太大，服务无法处理。请选择更短或更小的视频。",
  "error.videoCodec": "这个视频使用 {codec} 编码，服务无法读取。请转换为 MP4（H.264）。",
  "error.videoUnsupported": "无法读取这个视频：文件可能已损坏，或是其他格式。请选择 MP4（H.264）视频。",
  "error.videoEmpty": "这个视频里没有可以分割的帧。",
  "error.videoFrame": "标记所在的帧不会被处理：请在视频选项的范围内选择一帧进行标记。",
  "error.videoPrompt": "在视频中，请输入要找的东西（会跟踪所有同类物体），或用点击或一个框标出一个物体。",
  "error.options": "请检查视频选项。",
  "error.english": "请用英文输入提示词，例如 “dog” — SAM 3 只懂英文。",
  "error.prompt": "无法使用这个提示词。",
  "error.marks": "某个点或框无法使用：可能在图片之外，或者数量太多。",
  "error.file": "无法使用这个文件。",
  "error.invalid": "服务无法处理这个请求。",
  "error.forbidden": "此分享链接已过期或无效。请向分享者索取新的链接。",
  "error.notFound": "服务中已没有这个任务。",
  "error.notReady": "模型还没有准备好；准备好后页面会自动可用。",
  "error.busy": "服务繁忙。请在 {seconds} 秒后重试。",
  "error.timedOut": "处理需要一些时间；页面会跟踪任务，完成后显示结果。",
  "error.unexpected": "服务出了点问题。",
  "error.noPrompt": "请输入要找的东西，或在图片上点击。",
  "error.noVideoPrompt": "请输入要找的东西，或在视频的某一帧上点击物体。",
  "error.noImage": "请先选择一张图片或一个视频。",
  "error.preview": "浏览器无法显示此文件。",
};

export const MESSAGES = { en, zh };

/**
 * The interface language: the one saved before, else the browser's first supported one,
 * else English.
 */
export function chooseLanguage(saved, browserLanguages = []) {
  if (LANGUAGES.includes(saved)) return saved;
  const match = browserLanguages
    .map((tag) => tag.toLowerCase().split("-")[0])
    .find((code) => LANGUAGES.includes(code));
  return match ?? "en";
}

/** `t(key, params)` for a language: fills `{name}` from params; falls back to English. */
export function createTranslator(language) {
  const table = MESSAGES[language] ?? en;
  return (key, params = {}) =>
    (table[key] ?? en[key] ?? key).replace(/\{(\w+)\}/g, (whole, name) =>
      name in params ? String(params[name]) : whole,
    );
}

/** The saved language, or null (storage may be unavailable). */
export function savedLanguage(storage) {
  try {
    return storage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

/** Remember the language; a storage that refuses is ignored. */
export function saveLanguage(storage, language) {
  try {
    storage.setItem(STORAGE_KEY, language);
  } catch {
    // The choice then lasts for this visit only.
  }
}

/** Translate the static page: text, placeholders and accessible names marked with data-i18n*. */
export function translatePage(root, t, language) {
  root.documentElement.lang = language === "zh" ? "zh-CN" : "en";
  root.title = t("title");
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-placeholder]")) {
    element.placeholder = t(element.dataset.i18nPlaceholder);
  }
  for (const element of root.querySelectorAll("[data-i18n-aria-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nAriaLabel));
  }
}
