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

async function mediapipeImage(runner) {
  const {FilesetResolver, ImageClassifier} = await import("@mediapipe/tasks-vision");
  return mediapipe(runner, FilesetResolver.forVisionTasks(page.runtimes["mediapipe-vision"].wasm),
                   ImageClassifier, {runningMode: "IMAGE"});
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

function imageDataOf(source) {
  const [height, width] = page.input.shape;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d");
  context.drawImage(source, 0, 0, width, height);
  return context.getImageData(0, 0, width, height);
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

// What `zoo predict` prints: the top classes with their probabilities (and a bar each), or the
// predicted values.
function show(output) {
  const rows = Array.from(output, (value, index) => [page.labels[index], value]);
  const classifies = page.task === "classification";
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

async function attempt(work) {
  try {
    say("running...");
    const t0 = performance.now();
    show(await work());
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
    return answer(imageDataOf(bitmap));
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
    return answer(imageDataOf(video));
  }));
  $("camera-off").addEventListener("click", () => {
    for (const track of $("video").srcObject?.getTracks() || []) track.stop();
    $("camera-area").hidden = true; $("camera").hidden = false;
  });
  $("snap").addEventListener("click", () => attempt(() => answer(imageDataOf($("video")))));
  // Composed (NFC) as zoo's tokenizer does: macOS and some keyboards give Hangul decomposed.
  $("classify-text").addEventListener("click", () => attempt(() => answer($("text").value.normalize("NFC"))));
  $("run-values").addEventListener("click", () => attempt(async () => {
    const file = $("npy").files[0];
    const text = file && !file.name.endsWith(".npy") ? await file.text() : $("values").value;
    const numbers = file && file.name.endsWith(".npy") ? readNpy(await file.arrayBuffer())
                                                       : text.split(/[\s,;]+/).filter(Boolean).map(Number);
    return answer(valuesToInput(numbers));
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
