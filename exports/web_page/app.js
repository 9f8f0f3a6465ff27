// zoo's page: the exported model run in the browser, answering as `zoo predict` does on the desktop.
//
// page.json (written by `zoo export --web`) says what the model reads and answers, which
// files run it and through which runtime: MediaPipe's ImageClassifier or TextClassifier
// (the file with MediaPipe's metadata), or LiteRT.js (the plain .tflite). Every model file
// is checked against the SHA-256 zoo recorded before it runs: a replaced file is refused.
//
// With ?verify=PATH the page runs the examples zoo serves at PATH (examples.json and
// examples.bin, on this page's own origin) and posts its answers back to PATH + "results":
// how `zoo export --web` proves the page in headless Chromium before publishing it.

const page = await (await fetch("page.json")).json();
const $ = (id) => document.getElementById(id);
const say = (text) => { $("status").textContent = text; };

class PageError extends Error {}

// ---- model files, checked against zoo's hash ------------------------------------------------

async function modelBytes(runner) {
  const response = await fetch(runner.file);
  if (!response.ok) throw new PageError(`${runner.file}: ${response.status} ${response.statusText}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (globalThis.crypto && crypto.subtle) {  // only in a secure context (localhost, HTTPS)
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    if (hex !== runner.sha256) {
      throw new PageError(`${runner.file}: not the file zoo exported (SHA-256 ${hex.slice(0, 12)}..., ` +
                          `expected ${runner.sha256.slice(0, 12)}...); export the run again`);
    }
  }
  return bytes;
}

// ---- runners: one per runtime, each turning an example into class scores or values ----------

// MediaPipe's classifiers (image or text): every class scored, in the order of page.labels.
async function mediapipe(runner, fileset, Classifier, options = {}) {
  const classifier = await Classifier.createFromOptions(await fileset, {
    baseOptions: {modelAssetBuffer: await modelBytes(runner), delegate: "CPU"}, maxResults: -1, ...options});
  return {
    // example: ImageData (RGBA, any size: MediaPipe resizes it) or a string.
    scores(example) {
      const out = new Float32Array(page.labels.length);
      for (const c of classifier.classify(example).classifications[0].categories) out[c.index] = c.score;
      return out;
    },
  };
}

// MediaPipe's ObjectDetector: it decodes the boxes with the anchors in the file's metadata and keeps
// the best ones (non-maximum suppression); each is [class, score, ymin, xmin, ymax, xmax], fractions
// of the image given, clipped to it as zoo's own boxes are.
async function mediapipeDetector(runner, fileset, ObjectDetector) {
  const detector = await ObjectDetector.createFromOptions(await fileset, {
    baseOptions: {modelAssetBuffer: await modelBytes(runner), delegate: "CPU"}, runningMode: "IMAGE",
    ...runner.options});
  const clip = (v) => Math.max(0, Math.min(1, v));
  return {
    scores(example) {  // example: ImageData at the model's size
      return detector.detect(example).detections.map((d) => {
        const best = d.categories[0];
        const named = page.labels.indexOf(best.categoryName);
        const {originX: x, originY: y, width: w, height: h} = d.boundingBox;
        return [named >= 0 ? named : best.index, best.score, clip(y / example.height), clip(x / example.width),
                clip((y + h) / example.height), clip((x + w) / example.width)];
      });
    },
  };
}

async function mediapipeImage(runner) {
  const vision = await import("@mediapipe/tasks-vision");
  const fileset = vision.FilesetResolver.forVisionTasks(page.runtimes["mediapipe-vision"].wasm);
  if (runner.api === "ObjectDetector") return mediapipeDetector(runner, fileset, vision.ObjectDetector);
  return mediapipe(runner, fileset, vision.ImageClassifier, {runningMode: "IMAGE"});
}

async function mediapipeText(runner) {
  const {FilesetResolver, TextClassifier} = await import("@mediapipe/tasks-text");
  return mediapipe(runner, FilesetResolver.forTextTasks(page.runtimes["mediapipe-text"].wasm),
                   TextClassifier);
}

async function litert(runner) {
  const {loadLiteRt, loadAndCompile, Tensor} = await import("@litertjs/core");
  if (!litert.loaded) litert.loaded = loadLiteRt(page.runtimes["litert"].wasm);
  await litert.loaded;
  const model = await loadAndCompile(await modelBytes(runner), {accelerator: "wasm"});
  const shape = runner.shape;  // the file's input, batch fixed at 1
  return {
    // values: Float32Array of the model's input (already scaled as the model reads it).
    async scores(values) {
      const input = new Tensor(values, shape);
      const outputs = await model.run(input);
      const result = Float32Array.from(outputs[0].toTypedArray());
      input.delete();
      for (const t of outputs) t.delete();
      return result;
    },
  };
}

const RUNTIMES = {"mediapipe-vision": mediapipeImage, "mediapipe-text": mediapipeText, "litert": litert};
const started = {};
function runner(name) {
  const described = page.runners.find((r) => r.name === name);
  if (!started[name]) started[name] = RUNTIMES[described.runtime](described);
  return started[name];
}

// ---- what a user gives: a photo, a sentence, numbers ---------------------------------------

// Pillow's convert("L"), which zoo's training data and `zoo predict` use.
const luma = (r, g, b) => (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;

// RGBA pixels (the model's size) -> float32 as the file reads them: the model's own input
// (gray as Pillow's "L" where it reads gray), or RGB for MediaPipe's file, which converts inside.
function pixelsToInput(rgba, rgb) {
  const [scale, offset] = [page.input.scale, page.input.offset];
  const channels = page.input.color === "gray" && !rgb ? 1 : 3;
  const out = new Float32Array(rgba.length / 4 * channels);
  for (let i = 0, o = 0; i < rgba.length; i += 4) {
    if (channels === 1) out[o++] = luma(rgba[i], rgba[i + 1], rgba[i + 2]) * scale + offset;
    else for (let c = 0; c < 3; c++) out[o++] = rgba[i + c] * scale + offset;
  }
  return out;
}

// Pillow's Image.resize(size, BILINEAR) of 8-bit pixels, which zoo predict and zoo's image datasets
// use: a triangle filter widened by the shrink factor, Pillow's fixed-point weights, rows then
// columns. A browser's drawImage samples differently, and a detector's boxes are sensitive to it
// (one raccoon box moved by 4% of the photo's height).
const PRECISION_BITS = 22;  // as Pillow's Resample.c, for 8-bit images

function pillowWeights(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const starts = [], weights = [];
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    const first = Math.max(Math.trunc(center - filterscale + 0.5), 0);
    const count = Math.min(Math.trunc(center + filterscale + 0.5), inSize) - first;
    const k = [];
    let total = 0;
    for (let i = 0; i < count; i++) {
      const w = Math.max(0, 1 - Math.abs((i + first - center + 0.5) / filterscale));
      k.push(w); total += w;
    }
    weights.push(k.map((w) => {
      const v = total !== 0 ? w / total : 0;
      return Math.trunc(v < 0 ? -0.5 + v * 2 ** PRECISION_BITS : 0.5 + v * 2 ** PRECISION_BITS);
    }));
    starts.push(first);
  }
  return {starts, weights};
}

// One pass along an axis of RGBA pixels: (width x height) in, the axis resized to size.
function resamplePass(pixels, width, height, size, horizontal) {
  const {starts, weights} = pillowWeights(horizontal ? width : height, size);
  const [outWidth, outHeight] = horizontal ? [size, height] : [width, size];
  const out = new Uint8ClampedArray(outWidth * outHeight * 4);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const along = horizontal ? x : y;
      const k = weights[along];
      for (let c = 0; c < 4; c++) {
        let sum = 2 ** (PRECISION_BITS - 1);
        for (let i = 0; i < k.length; i++) {
          const at = horizontal ? (y * width + starts[along] + i) : ((starts[along] + i) * width + x);
          sum += pixels[at * 4 + c] * k[i];
        }
        out[(y * outWidth + x) * 4 + c] = Math.floor(sum / 2 ** PRECISION_BITS);  // clamped as Pillow's clip8
      }
    }
  }
  return out;
}

function imageDataOf(source) {
  const [height, width] = page.input.shape;
  const sourceWidth = source.videoWidth || source.width;
  const sourceHeight = source.videoHeight || source.height;
  const canvas = new OffscreenCanvas(sourceWidth, sourceHeight);
  const context = canvas.getContext("2d");
  context.drawImage(source, 0, 0);  // at its own size: the resizing is Pillow's, below
  let pixels = context.getImageData(0, 0, sourceWidth, sourceHeight).data;
  if (sourceWidth !== width) pixels = resamplePass(pixels, sourceWidth, sourceHeight, width, true);
  if (sourceHeight !== height) pixels = resamplePass(pixels, width, sourceHeight, height, false);
  return new ImageData(pixels, width, height);
}

// example: ImageData for images, a string for text, Float32Array input for the rest.
async function answer(example) {
  const name = $("runner").value;
  const described = page.runners.find((r) => r.name === name);
  const run = await runner(name);
  if (described.feed === "rgb" || (described.feed === "input" && example instanceof ImageData)) {
    return run.scores(pixelsToInput(example.data, described.feed === "rgb"));
  }
  return run.scores(example);
}

function cells(texts) {
  const tr = document.createElement("tr");
  for (const text of texts) {
    const td = document.createElement("td"); td.textContent = text; tr.append(td);
  }
  return tr;
}

// A detector's answer as `zoo predict` prints it (class, score, x, y, width, height in the photo's
// pixels, boxes above page.min_score), and drawn on the photo.
function showBoxes(found, source) {
  const canvas = $("drawn");
  const width = source.naturalWidth || source.videoWidth || source.width;
  const height = source.naturalHeight || source.videoHeight || source.height;
  const fit = Math.min(1, 640 / width);
  canvas.width = Math.round(width * fit); canvas.height = Math.round(height * fit);
  const context = canvas.getContext("2d");
  context.drawImage(source, 0, 0, canvas.width, canvas.height);
  const kept = found.filter((box) => box[1] >= page.min_score).sort((a, b) => b[1] - a[1]);
  context.lineWidth = Math.max(2, canvas.width / 200);
  context.font = `${Math.max(12, Math.round(canvas.width / 40))}px sans-serif`;
  for (const [label, score, ymin, xmin, ymax, xmax] of kept) {
    const [x, y] = [xmin * canvas.width, ymin * canvas.height];
    const text = `${page.labels[label]} ${score.toFixed(2)}`;
    context.strokeStyle = context.fillStyle = "#f97316";
    context.strokeRect(x, y, (xmax - xmin) * canvas.width, (ymax - ymin) * canvas.height);
    const textWidth = context.measureText(text).width + 8;
    const tall = parseInt(context.font) + 6;
    const top = y >= tall ? y - tall : y;  // above the box, or inside it at the photo's top edge
    context.fillRect(x, top, textWidth, tall);
    context.fillStyle = "#fff";
    context.fillText(text, x + 4, top + parseInt(context.font));
  }
  canvas.hidden = false;
  $("preview").hidden = true;
  const header = cells(["class", "score", "x", "y", "width", "height"]);
  header.className = "head";
  $("answer").replaceChildren(header, ...kept.map(([label, score, ymin, xmin, ymax, xmax]) => cells([
    page.labels[label], score.toFixed(4), Math.round(xmin * width), Math.round(ymin * height),
    Math.round((xmax - xmin) * width), Math.round((ymax - ymin) * height)])));
  if (!kept.length) $("answer").replaceChildren(cells([`no box above ${page.min_score}`]));
}

// What `zoo predict` prints: the top classes with their probabilities (and a bar each), the
// predicted values, or a detector's boxes (drawn on the photo, source).
function show(output, source) {
  if (page.answer === "boxes") return showBoxes(output, source);
  const rows = Array.from(output, (value, index) => [page.labels[index], value]);
  const classifies = page.answer === "classes";
  if (classifies) rows.sort((a, b) => b[1] - a[1]);
  const shown = classifies ? rows.slice(0, 3) : rows;
  $("answer").replaceChildren(...shown.map(([label, value]) => {
    const tr = document.createElement("tr");
    for (const text of [label, classifies ? value.toFixed(4) : value.toPrecision(6)]) {
      const td = document.createElement("td"); td.textContent = text; tr.append(td);
    }
    if (classifies) {
      const cell = document.createElement("td");
      const bar = document.createElement("div");
      const fill = document.createElement("span");
      bar.className = "bar";
      fill.style.width = `${Math.max(0, Math.min(1, value)) * 100}%`;
      bar.append(fill); cell.append(bar); tr.append(cell);
    }
    return tr;
  }));
}

// work: () => [answer, the photo or frame it is of].
async function attempt(work) {
  try {
    say("running...");
    const t0 = performance.now();
    show(...await work());
    say(`${$("runner").selectedOptions[0].textContent}: ${(performance.now() - t0).toFixed(1)} ms`);
  } catch (error) {
    say(error instanceof PageError ? error.message : `error: ${error.message || error}`);
  }
}

// A .npy file of one example: NumPy's format (magic, header dict, little-endian data).
function readNpy(buffer) {
  const bytes = new Uint8Array(buffer);
  if (String.fromCharCode(...bytes.slice(1, 6)) !== "NUMPY") throw new PageError("not a .npy file");
  const major = bytes[6];
  const view = new DataView(buffer);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.slice(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  if (/'fortran_order':\s*True/.test(header)) throw new PageError(".npy in Fortran order: save it with C order");
  const types = {"<f4": Float32Array, "<f8": Float64Array, "<i4": Int32Array, "<i8": BigInt64Array};
  if (!types[descr]) throw new PageError(`.npy of ${descr}: give float32, float64, int32 or int64 numbers`);
  const data = buffer.slice(start + headerLength);
  return Array.from(new types[descr](data), Number);
}

function valuesToInput(numbers) {
  const needed = page.input.shape.reduce((a, b) => a * b, 1);
  if (numbers.length !== needed || numbers.some((n) => !Number.isFinite(n))) {
    throw new PageError(`the model reads ${needed} numbers (shape ${page.input.shape.join(" x ")}); ` +
                        `got ${numbers.length}${numbers.some((n) => !Number.isFinite(n)) ? ", not all numbers" : ""}`);
  }
  return Float32Array.from(numbers, (n) => n * page.input.scale + page.input.offset);
}

function setUp() {
  document.title = page.title;
  $("title").textContent = page.title;
  $("about").textContent = page.about;
  if (page.example && page.input.kind === "text") $("text").value = page.example;
  if (page.example && page.input.kind === "values") $("values").value = page.example;
  $("runner").replaceChildren(...page.runners.map((r) => {
    const option = document.createElement("option");
    option.value = r.name; option.textContent = r.label; return option;
  }));
  for (const section of document.querySelectorAll("[data-kind]")) section.hidden = section.dataset.kind !== page.input.kind;
  const classifyFile = (file) => attempt(async () => {
    if (!file) throw new PageError("no file given");
    if (file.type && !file.type.startsWith("image/")) throw new PageError(`${file.name}: not an image`);
    const bitmap = await createImageBitmap(file).catch(() => {
      throw new PageError(`${file.name}: not an image this browser can read`);
    });
    $("preview").src = URL.createObjectURL(file);
    $("preview").hidden = false; $("drawn").hidden = true;
    return [await answer(imageDataOf(bitmap)), bitmap];
  });
  $("photo").addEventListener("change", () => classifyFile($("photo").files[0]));
  const drop = $("drop");
  for (const kind of ["dragenter", "dragover"]) {
    drop.addEventListener(kind, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    classifyFile(event.dataTransfer.files[0]);
  });
  // The camera area appears when used: browsers give the camera only to localhost and HTTPS pages.
  $("camera").hidden = !(window.isSecureContext && navigator.mediaDevices);
  $("camera").addEventListener("click", () => attempt(async () => {
    const video = $("video");
    video.srcObject = await navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}});
    $("camera-area").hidden = false; $("camera").hidden = true;
    await video.play();
    return [await answer(imageDataOf(video)), video];
  }));
  $("camera-off").addEventListener("click", () => {
    for (const track of $("video").srcObject?.getTracks() || []) track.stop();
    $("camera-area").hidden = true; $("camera").hidden = false;
  });
  $("snap").addEventListener("click", () => attempt(async () => [await answer(imageDataOf($("video"))), $("video")]));
  // Composed (NFC) as zoo's tokenizer does: macOS and some keyboards give Hangul decomposed.
  $("classify-text").addEventListener("click", () => attempt(async () => [await answer($("text").value.normalize("NFC"))]));
  $("run-values").addEventListener("click", () => attempt(async () => {
    const file = $("npy").files[0];
    const text = file && !file.name.endsWith(".npy") ? await file.text() : $("values").value;
    const numbers = file && file.name.endsWith(".npy") ? readNpy(await file.arrayBuffer())
                                                       : text.split(/[\s,;]+/).filter(Boolean).map(Number);
    return [await answer(valuesToInput(numbers))];
  }));
  say("ready");
}

// ---- ?verify=PATH: zoo's examples through every runner, answers posted back ----------------

async function verify(path) {
  const meta = await (await fetch(path + "examples.json")).json();
  const buffer = await (await fetch(path + "examples.bin")).arrayBuffer();
  const report = {runners: {}, user_agent: navigator.userAgent};
  for (const described of page.runners) {
    const started = performance.now();
    try {
      const run = await runner(described.name);
      const outputs = [];
      const offset = meta.offsets[described.feed];
      for (let i = 0; i < meta.count; i++) {
        let example;
        if (described.feed === "text") example = meta.texts[i];
        else if (described.feed === "imagedata") {
          const [height, width, channels] = meta.imagedata_shape;
          const size = height * width * channels;
          example = new ImageData(new Uint8ClampedArray(buffer, offset + i * size, size), width, height);
        } else {
          const size = page.input.shape.slice(0, 2).reduce((a, b) => a * b, 1) *
                       (described.feed === "rgb" ? 3 : page.input.shape.slice(2).reduce((a, b) => a * b, 1));
          example = new Float32Array(buffer, offset + i * size * 4, size);
        }
        outputs.push(Array.from(await run.scores(example)));
      }
      report.runners[described.name] = {outputs, seconds: (performance.now() - started) / 1000};
    } catch (error) {
      report.runners[described.name] = {error: String(error.message || error)};
    }
  }
  await fetch(path + "results", {method: "POST", body: JSON.stringify(report)});
  say("verified");
}

const verifying = new URLSearchParams(location.search).get("verify");
setUp();
// Only a path on this page's own origin (the page's policy forbids any other anyway).
if (verifying && /^\/[\w\/-]*\/$/.test(verifying)) await verify(verifying);
