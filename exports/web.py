"""`web`: a static page beside the exported files that runs the model in a browser, proved in Chromium.

``zoo export RUN --web`` writes ``export/web/``: ``index.html``, ``app.js`` and
``style.css`` (from ``web_page/``, the same for every model) and ``page.json``
(this model: its classes, its input, the files that run it and their
SHA-256). Image classifiers run through MediaPipe's ImageClassifier on
``model.mediapipe.tflite`` (file picker, and the camera where the page is
served from localhost or HTTPS) and through LiteRT.js on ``model.tflite``;
detectors through MediaPipe's ObjectDetector on theirs (the boxes drawn on the
photo); text classifiers through MediaPipe's TextClassifier (a text box);
every other model through LiteRT.js (numbers or a ``.npy`` file). The page
answers as ``zoo predict`` does.

Where the runtimes come from is data (``web_page/runtime.json``: npm package,
version, licence and each file's SHA-384):

* ``--web-runtime DIR`` (or ``ZOO_WEB_RUNTIME``): a ``node_modules`` folder
  (``make web-runtime`` installs one in ``exports/web_page``); the files the
  page needs are copied into ``web/runtime/``, each only if its hash is the
  pinned one. The page then works offline, and zoo proves it: it serves the
  export on 127.0.0.1, runs the page in headless Chromium on the first 200
  test examples through every runtime, and publishes the page only if every
  answer agrees with Keras by the rule every float file meets.
* without one, the page loads the pinned versions from jsDelivr with
  Subresource Integrity on its modules; it is written but not run here
  (the card says why).

The page's Content-Security-Policy lets it load nothing but its own files and
that runtime.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

import zoo
from zoo.api.registry import Param
from zoo.errors import UsageError, ZooError, first_line

DIRECTORY = "web"
BATCH_ONE = "model.tflite"  # web/model.tflite, where model.tflite's batch is dynamic
PAGE_FILES = ("index.html", "app.js", "style.css")
TEMPLATES = Path(__file__).resolve().parent / "web_page"
RUNTIME = json.loads((TEMPLATES / "runtime.json").read_text())
EXAMPLES = 200  # test examples run in the browser
VERIFY_PATH = "/__zoo_verify/"
NO_CHROMIUM = ("the page is run in headless Chromium before it is written, and there is none (apt-get install "
               "chromium, or set ZOO_CHROMIUM to one)")
RUNTIME_NAMES = {"mediapipe-vision": "MediaPipe ImageClassifier", "mediapipe-text": "MediaPipe TextClassifier",
                 "litert": "LiteRT.js"}
# MediaPipe Tasks Vision's API for a task's ``mediapipe`` kind (app.js makes the same choice from page.json).
VISION_APIS = {"classifier": "ImageClassifier", "detector": "ObjectDetector"}


class RuntimeFolderError(UsageError):
    """--web-runtime names a folder without the runtime's files, or with other ones: exit 2."""


def _label(runtime: str, task) -> str:
    """The runtime's name on the page and in zoo's lines: which MediaPipe API, or LiteRT.js."""
    if runtime == "mediapipe-vision" and task.mediapipe in VISION_APIS:
        return f"MediaPipe {VISION_APIS[task.mediapipe]}"
    return RUNTIME_NAMES[runtime]


def _options(runtime: str, task) -> dict:
    """MediaPipe's options for the runner: a detector's are the ones its file was verified with in Python."""
    if runtime == "mediapipe-vision" and VISION_APIS.get(task.mediapipe) == "ObjectDetector":
        from zoo_exports import mediapipe_detector

        return {"maxResults": mediapipe_detector.MAX_RESULTS, "scoreThreshold": mediapipe_detector.MIN_SCORE}
    return {}


def needs(config: dict) -> tuple:
    """The files the page runs: MediaPipe's file for image and text classifiers, model.tflite for the rest."""
    from zoo.data import tasks
    from zoo.data.spec import layout_of

    section = config.get("input") if isinstance(config.get("input"), dict) else {}
    layout = layout_of(section.get("layout"))
    mediapipe = tasks.from_config(config).mediapipe and layout is not None and layout.mediapipe
    return ("mediapipe",) if mediapipe else ("tflite",)


# How each runtime is handed an example (what app.js's runners take):
# imagedata: 8-bit RGBA pixels (MediaPipe normalises by the file's metadata);
# rgb: float32 RGB pixels scaled as the model reads them (MediaPipe's file run by LiteRT.js);
# input: float32, the model's own input; text: the sentence.
FEEDS = ("imagedata", "rgb", "input", "text")


def _runners(context) -> list:
    """(name, runtime, file, feed) of each verified file the page runs.

    LiteRT.js cannot resize a tensor, so it runs files whose batch is fixed at
    1: for images MediaPipe's file (RGB in), for the rest model.tflite when its
    batch is fixed (recurrent models) and otherwise ``web/model.tflite``, a
    batch-1 conversion of the same model made here.
    """
    from zoo.device import litert

    page_input = context.dataset.input_spec.form.page_input
    task = context.dataset.task
    verified = {name for name, check in context.checks.items() if check.passed and (context.directory / name).exists()}
    if page_input == "text":  # sentences: only MediaPipe's TextClassifier tokenizes them in a browser
        return [("mediapipe", "mediapipe-text", "model.mediapipe.tflite", "text")] \
            if "model.mediapipe.tflite" in verified else []
    if page_input == "image" and task.mediapipe in VISION_APIS:
        if "model.mediapipe.tflite" not in verified:
            return []
        if len(task.output_shape) != 1:  # a row per anchor: only MediaPipe's own decoding makes boxes of it
            return [("mediapipe", "mediapipe-vision", "model.mediapipe.tflite", "imagedata")]
        litert_js = ("litert", "litert", "model.mediapipe.tflite", "rgb")
        from zoo_exports.mediapipe import _classifier

        try:  # MediaPipe refuses some files it was verified around (a recurrent model's WHILE subgraphs)
            _classifier(context.directory / "model.mediapipe.tflite").close()
        except RuntimeError as exc:
            context.log(f"{DIRECTORY}/: LiteRT.js only: {first_line(exc, 200)}")
            return [litert_js]
        return [("mediapipe", "mediapipe-vision", "model.mediapipe.tflite", "imagedata"), litert_js]
    if "model.tflite" not in verified:
        return []
    if litert.LiteRTModel(context.directory / "model.tflite").fixed_batch == 1:
        return [("litert", "litert", "model.tflite", "input")]
    from zoo_exports.tflite import ConversionError, convert

    context.log(f"{DIRECTORY}/{BATCH_ONE}: converting (float32, batch fixed at 1: LiteRT.js cannot resize a tensor)")
    (context.directory / DIRECTORY).mkdir(exist_ok=True)
    try:
        convert(context, "float32-batch1", f"{DIRECTORY}/{BATCH_ONE}")
    except (ConversionError, ZooError) as exc:
        context.fail(DIRECTORY, f"{BATCH_ONE}: {first_line(exc, 200)}")
        return []
    return [("litert", "litert", f"{DIRECTORY}/{BATCH_ONE}", "input")]


def runtime_folder(given: str | None) -> Path | None:
    """The node_modules folder to copy the runtime from: ``--web-runtime``, else ``ZOO_WEB_RUNTIME``."""
    given = given or os.environ.get("ZOO_WEB_RUNTIME")
    if not given:
        return None
    folder = Path(given).expanduser()
    if not folder.is_dir():
        raise RuntimeFolderError(f"--web-runtime {folder}: {'not a directory' if folder.exists() else 'no such directory'}")
    return folder / "node_modules" if (folder / "node_modules").is_dir() else folder


def _sri(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def copy_runtime(source: Path, runtimes: list, destination: Path) -> None:
    """The pinned files of ``runtimes`` from ``source`` into ``destination``, each checked by its SHA-384.

    Raises:
        RuntimeFolderError: a file missing or not the pinned one (named).
    """
    for name in runtimes:
        described = RUNTIME["runtimes"][name]
        for file, integrity in described["files"].items():
            path = source / described["package"] / file
            if not path.is_file():
                raise RuntimeFolderError(f"--web-runtime {source}: has no {described['package']}/{file} "
                                         f"({described['package']} {described['version']}; make web-runtime "
                                         "installs it)")
            if _sri(path) != integrity:
                raise RuntimeFolderError(f"--web-runtime {source}: {described['package']}/{file} is not "
                                         f"{described['package']} {described['version']}'s file (its hash differs)")
            target = destination / described["package"] / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def _locations(runtimes: list, local: bool) -> tuple:
    """(import map, wasm folder per runtime, CSP sources) for a local copy or the CDN."""
    imports, integrity, wasm = {}, {}, {}
    for name in runtimes:
        described = RUNTIME["runtimes"][name]
        base = (f"./runtime/{described['package']}/" if local
                else f"{RUNTIME['cdn']}{described['package']}@{described['version']}/")
        module = base + described["module"]
        imports[described["package"]] = module
        if not local:
            integrity[module] = described["files"][described["module"]]
        if described["wasm"]:
            wasm[name] = base + described["wasm"]
    importmap = {"imports": imports, **({"integrity": integrity} if integrity else {})}
    sources = "" if local else " " + RUNTIME["cdn"].rstrip("/")
    return importmap, wasm, sources


def _policy(importmap_text: str, sources: str) -> str:
    """Nothing but the page's own files and the runtime; wasm compiled, the import map allowed by its hash."""
    digest = base64.b64encode(hashlib.sha256(importmap_text.encode()).digest()).decode()
    return (f"default-src 'none'; script-src 'self' 'wasm-unsafe-eval' 'sha256-{digest}'{sources}; "
            f"connect-src 'self'{sources}; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
            "style-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'")


def _about(context) -> str:
    dataset = context.dataset
    spec = dataset.input_spec
    what = {"image": f"{' x '.join(map(str, spec.shape[:2]))} {spec.channels or ''} images",
            "text": "sentences"}.get(spec.form.page_input, f"{' x '.join(map(str, spec.shape))} numbers")
    answer = {"classes": f"{len(dataset.class_names)} classes",
              "boxes": f"boxes of {', '.join(dataset.task.output_names)}"}.get(
        dataset.task.page_answer, ", ".join(dataset.task.output_names))
    return f"{context.run.architecture} trained on {context.run.dataset}: reads {what}, answers {answer}."


def write_page(context, runners: list, local_runtime: Path | None) -> dict:
    """``web/`` in the export directory; returns page.json's content."""
    web = context.directory / DIRECTORY
    web.mkdir(exist_ok=True)
    runtimes = sorted({runtime for _, runtime, _, _ in runners})
    if "litert" in runtimes:  # @litertjs/core imports it by its bare name
        runtimes.append("litert-wasm-utils")
    if local_runtime is not None:
        copy_runtime(local_runtime, runtimes, web / "runtime")
    importmap, wasm, sources = _locations(runtimes, local_runtime is not None)
    importmap_text = json.dumps(importmap, indent=1)
    dataset, spec = context.dataset, context.dataset.input_spec
    versions = ", ".join(f"{RUNTIME['runtimes'][r]['package']} {RUNTIME['runtimes'][r]['version']}"
                         for r in runtimes if r in RUNTIME_NAMES)
    footer = (f"zoo {zoo.__version__}; runtime {versions} (Apache-2.0), "
              f"{'a local copy' if local_runtime is not None else 'from jsDelivr, pinned by hash'}")
    page = {
        "title": f"{context.run.architecture} · {context.run.dataset}",
        "about": _about(context),
        "task": dataset.task.kind,
        "answer": dataset.task.page_answer,  # how app.js shows it: "classes", "values" or "boxes"
        "labels": list(dataset.task.output_names),
        "input": {"kind": spec.form.page_input,
                  "shape": [int(d) for d in spec.shape], "color": spec.channels,
                  "scale": float(spec.scale), "offset": float(spec.offset)},
        "runners": [{"name": name, "label": f"{_label(runtime, dataset.task)} ({file})", "runtime": runtime,
                     "api": VISION_APIS.get(dataset.task.mediapipe) if runtime == "mediapipe-vision" else None,
                     "options": _options(runtime, dataset.task),
                     "file": _relative(file), "feed": feed,  # LiteRT.js takes the input shape; MediaPipe reads it from the file
                     "shape": _input_shape(context.directory / file) if runtime == "litert" else None,
                     "sha256": hashlib.sha256((context.directory / file).read_bytes()).hexdigest()}
                    for name, runtime, file, feed in runners],
        "min_score": dataset.task.answer_score,  # the answers shown (a detector's boxes above it)
        "runtimes": {name: {"wasm": folder} for name, folder in wasm.items()},
        "example": _first_example(dataset),
    }
    html = (TEMPLATES / "index.html").read_text()
    html = (html.replace("{{policy}}", _policy(importmap_text, sources)).replace("{{importmap}}", importmap_text)
            .replace("{{footer}}", footer))
    (web / "index.html").write_text(html)
    for name in PAGE_FILES[1:]:
        shutil.copyfile(TEMPLATES / name, web / name)
    (web / "page.json").write_text(json.dumps(page, indent=1, ensure_ascii=False) + "\n")
    return page


def _first_example(dataset):
    """The first test example as the user would type it (text, or stored numbers); None for images."""
    page_input = dataset.input_spec.form.page_input
    if page_input == "text":
        return str(dataset.test_texts[0]) if dataset.test_texts is not None and len(dataset.test_texts) else None
    if page_input == "image" or not len(dataset.x_test) or dataset.x_test[0].size > 4096:
        return None
    return " ".join(f"{float(v):.6g}" for v in np.asarray(dataset.x_test[0]).ravel())


def _input_shape(path: Path) -> list:
    from zoo.device import litert

    return [int(d) for d in litert.LiteRTModel(path).input_shape]


def _relative(file: str) -> str:
    """A file of the export as the page (in web/) fetches it."""
    return file[len(DIRECTORY) + 1:] if file.startswith(DIRECTORY + "/") else f"../{file}"


def _examples(context, runners: list) -> tuple:
    """(examples.json, examples.bin) of the first test examples, in each feed the runners take."""
    dataset = context.dataset
    count = min(EXAMPLES, len(dataset.y_test))
    meta = {"count": count, "offsets": {}}
    blobs, offset = [], 0
    for feed in sorted({feed for *_, feed in runners}):
        if feed == "text":
            meta["texts"] = [str(t) for t in dataset.test_texts[:count]]
            continue
        if feed in ("imagedata", "rgb"):
            from zoo_exports.mediapipe import _rgb_test_images

            rgb = _rgb_test_images(context)[:count]
            if feed == "imagedata":
                array = np.concatenate([rgb, np.full((*rgb.shape[:3], 1), 255, np.uint8)], axis=3)
                meta["imagedata_shape"] = list(array.shape[1:])
            else:
                spec = dataset.input_spec
                array = (rgb.astype(np.float32) * np.float32(spec.scale) + np.float32(spec.offset)).astype("<f4")
        else:
            array = np.ascontiguousarray(context.x_test[:count], dtype="<f4")
        meta["offsets"][feed] = offset
        blobs.append(array.tobytes())
        offset += array.nbytes  # float32 views need offsets that are multiples of 4: RGBA keeps them so
    return json.dumps(meta, ensure_ascii=False).encode(), b"".join(blobs)


def verify_in_browser(context, runners: list, chromium: str) -> list:
    """Run the page on the test examples in headless Chromium through each runtime; the card's entry for
    ``web`` carries the worst runtime's figures and each one's."""
    from zoo.device import browser

    described, blob = _examples(context, runners)
    count = json.loads(described)["count"]
    context.log(f"{DIRECTORY}/: running the page in headless Chromium on {count} test examples "
                f"({', '.join(_label(r, context.dataset.task) for _, r, _, _ in runners)})")
    try:
        report = browser.run_page(context.directory, f"/{DIRECTORY}/index.html?verify={VERIFY_PATH}",
                                  {VERIFY_PATH + "examples.json": described, VERIFY_PATH + "examples.bin": blob},
                                  VERIFY_PATH + "results", chromium)
    except ZooError as exc:  # the page never answered: offline, jsDelivr's modules never came
        context.fail(DIRECTORY, f"{exc}{_offline_hint(context)}")
        return [{"file": DIRECTORY, "error": str(exc)}]
    reference = context.reference[:count]
    checks, runtimes = [], []
    for name, runtime, file, _ in runners:
        got = report.get("runners", {}).get(name) or {"error": "no answer"}
        label = _label(runtime, context.dataset.task)
        if "error" in got:
            context.fail(DIRECTORY, f"{label} failed in Chromium: {first_line(got['error'], 200)}"
                                    f"{_offline_hint(context)}")
            return [{"file": DIRECTORY, "error": got["error"]}]
        try:  # raw outputs, or what the runtime keeps of them (a detector's boxes): the task judges
            check = context.dataset.task.compare_answers(DIRECTORY, got.get("outputs"), reference,
                                                         context.dataset.y_test[:count])
        except ValueError as exc:
            context.fail(DIRECTORY, f"{label} gave {exc} in Chromium")
            return [{"file": DIRECTORY, "error": str(exc)}]
        checks.append((check, label))
        package = RUNTIME["runtimes"][runtime]
        runtimes.append({"runtime": f"{label}: {package['package']} {package['version']} (WebAssembly)",
                         "model_file": file, "seconds": round(float(got.get("seconds", 0.0)), 2),
                         **check.to_dict()})
    # The worst runtime speaks for the page: the least agreement, then the largest difference.
    worst, label = min(checks, key=lambda pair: (pair[0].passed, pair[0].agreement, -pair[0].max_abs_diff))
    context.checks[DIRECTORY] = worst
    if not worst.passed:
        context.fail(DIRECTORY, f"{label} in Chromium failed verification: {worst.describe()}")
    return [{"file": DIRECTORY, "format": "web", "page": f"{DIRECTORY}/index.html",
             "browser": _browser_name(report.get("user_agent", "")), "examples": count,
             "test_set": f"the first {count} test examples", "runtimes": runtimes,
             "local_runtime": bool(context.options.get("web_runtime") or os.environ.get("ZOO_WEB_RUNTIME"))}]


def _offline_hint(context) -> str:
    """What to do where the page loaded its runtime from jsDelivr and that failed."""
    if context.options.get("web_runtime") or os.environ.get("ZOO_WEB_RUNTIME"):
        return ""
    return (" (the page loads its runtime from jsDelivr: offline, give a local copy with --web-runtime DIR, "
            "e.g. exports/web_page/node_modules after make web-runtime)")


def _browser_name(agent: str) -> str:
    for word in agent.split():
        if word.startswith(("HeadlessChrome/", "Chrome/")):
            return "headless Chromium " + word.split("/", 1)[1]
    return "headless Chromium"


def export(context) -> list:
    """Write web/ and, with a local runtime and a Chromium, prove it on test examples."""
    from zoo.device import browser

    runners = _runners(context)
    if not runners:
        problem = "no verified model file to run (model.tflite or model.mediapipe.tflite failed or is missing)"
        context.fail(DIRECTORY, problem)
        return [{"file": DIRECTORY, "error": problem}]
    local = runtime_folder(context.options.get("web_runtime"))
    chromium = browser.find_chromium()
    if chromium is None:  # checked by prepare(); the environment may have changed since
        context.fail(DIRECTORY, NO_CHROMIUM)
        return [{"file": DIRECTORY, "error": NO_CHROMIUM}]
    context.log(f"{DIRECTORY}/: writing the page ({', '.join(_label(r, context.dataset.task) for _, r, _, _ in runners)}; runtime "
                f"{'copied from ' + str(local) if local else 'from jsDelivr, pinned by hash'})")
    try:
        write_page(context, runners, local)
    except RuntimeFolderError as exc:
        context.fail(DIRECTORY, str(exc))
        return [{"file": DIRECTORY, "error": str(exc)}]
    return verify_in_browser(context, runners, chromium)


def prepare(options: dict, config: dict) -> None:
    """Before any converting: a model the page can run, a Chromium to prove it with, and a runtime folder
    that has the files."""
    from zoo.data import tasks
    from zoo.device import browser

    task = tasks.from_config(config)
    if task.generates:
        raise ZooError(f"--web: a {task.kind} model; the page runs classifiers and regressions (zoo generate runs "
                       "this one)")
    if len(task.output_shape) != 1 and task.mediapipe not in VISION_APIS:
        raise ZooError(f"--web: the page shows one row of outputs (classes, values) or what MediaPipe Tasks Vision "
                       f"makes of a model's outputs (boxes); a {task.kind} model's answer is neither")
    if browser.find_chromium() is None:
        raise ZooError(f"--web: {NO_CHROMIUM}")
    folder = runtime_folder(options.get("web_runtime"))
    if folder is not None:
        for name in RUNTIME["runtimes"]:
            described = RUNTIME["runtimes"][name]
            for file in described["files"]:
                if not (folder / described["package"] / file).is_file():
                    raise RuntimeFolderError(f"--web-runtime {folder}: has no {described['package']}/{file} "
                                             f"({described['package']} {described['version']}; make web-runtime "
                                             "installs it)")


@zoo.hookimpl
def register_exporters(register):
    register(zoo.Exporter(
        name="web", summary="a page that runs the model in a browser (MediaPipe Tasks / LiteRT.js), run in "
                            "headless Chromium before it is written: --web",
        export=export, suffixes=(f"{DIRECTORY}/",), needs=needs, prepare=prepare,
        options={"web_runtime": Param(None, "The page's runtime, copied from this node_modules folder (make "
                                            "web-runtime) so that it works offline; default: the pinned versions "
                                            "from jsDelivr.", metavar="DIR")},
        flag_help="Also write web/: a page that runs the model in a browser (MediaPipe Tasks or LiteRT.js), "
                  "proved in headless Chromium first; zoo serve RUN opens it.",
    ))
