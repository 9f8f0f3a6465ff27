"""zoo export --web and zoo serve: pages run in headless Chromium (MediaPipe Tasks for Web, LiteRT.js)."""
import json
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import REPO
from zoo import browser, trainer
from zoo.cli import cli

RUNTIME = REPO / "exports" / "web_page" / "node_modules"
needs_browser = pytest.mark.skipif(
    browser.find_chromium() is None or not RUNTIME.is_dir(),
    reason="needs chromium and the web runtime (make web-runtime)")
pytestmark = [needs_browser, pytest.mark.skipif(__import__("importlib").util.find_spec("mediapipe") is None,
                                                reason="needs zoo[mediapipe]")]

# (architecture, dataset, training options): an image classifier, a text classifier, a regression.
RUNS = {
    "image": ("cnn", "fashion-sample", {"epochs": 1}, {}),
    "text": ("dense", "nsmc-sample", {"epochs": 2}, {"tokenizer": "mediapipe"}),
    "regression": ("simplernn", "multiply", {"epochs": 2}, {}),
    # model.tflite's batch is dynamic here: the page gets its own batch-1 file (LiteRT.js cannot resize).
    "vector": ("dense", "multiply", {"epochs": 2}, {}),
    # MediaPipe refuses a recurrent model's file (its WHILE loop is a second subgraph): LiteRT.js runs it.
    "recurrent image": ("lstm-bn", "fashion-sample", {"epochs": 1}, {}),
}


@pytest.fixture(scope="session")
def web_exports(tmp_path_factory):
    """Each kind of run trained once and exported with --web (the runtime copied from make web-runtime)."""
    root = tmp_path_factory.mktemp("web")
    done = {}
    for kind, (arch, dataset, overrides, options) in RUNS.items():
        run = trainer.train(arch, dataset, recipe="tutorial", overrides=overrides, data_options=options,
                            output=str(root / kind), verbose=0).run_dir
        result = CliRunner().invoke(cli, ["export", str(run), "--web", "--web-runtime", str(RUNTIME), "--json"])
        assert result.exit_code == 0, result.output
        done[kind] = (run, json.loads(result.stdout))
    return done


@pytest.mark.parametrize("kind", RUNS)
def test_the_page_answers_as_keras_does_in_chromium(web_exports, kind):
    run, card = web_exports[kind]
    page = next(f for f in card["files"] if f["file"] == "web")
    assert page["verified"] and page["examples"] >= 100 and page["browser"].startswith("headless Chromium")
    expected = {"image": {"MediaPipe ImageClassifier", "LiteRT.js"}, "text": {"MediaPipe TextClassifier"},
                "regression": {"LiteRT.js"}, "vector": {"LiteRT.js"}, "recurrent image": {"LiteRT.js"}}[kind]
    assert {r["runtime"].split(":")[0] for r in page["runtimes"]} == expected
    files = {r["model_file"] for r in page["runtimes"]}
    assert files == {"image": {"model.mediapipe.tflite"}, "text": {"model.mediapipe.tflite"},
                     "regression": {"model.tflite"}, "vector": {"web/model.tflite"},
                     "recurrent image": {"model.mediapipe.tflite"}}[kind]
    for runtime in page["runtimes"]:
        assert runtime["verified"] and runtime["agreement"] == 1.0 and runtime["max_abs_diff"] <= 1e-4, runtime
    web = run / "export" / "web"
    assert {p.name for p in web.iterdir()} >= {"index.html", "app.js", "style.css", "page.json", "runtime"}
    html = (web / "index.html").read_text()
    # Nothing but its own files: a policy that forbids other origins, and no address in the page.
    assert "default-src 'none'" in html and "http" not in html.split("Content-Security-Policy")[1].split(">")[0]
    assert "jsdelivr" not in html and "./runtime/" in html
    # The run's report shows the browser's figures beside the desktop runtimes'.
    report = (run / "report.html").read_text()
    for runtime in page["runtimes"]:
        assert f"{runtime['runtime']} on {runtime['model_file']}, headless Chromium" in report


def test_a_page_whose_answer_changes_by_one_class_is_refused(web_exports, monkeypatch, tmp_path):
    """The real browser's answers, with one example's class moved, fail verification: the page is not written."""
    run, _ = web_exports["image"]
    real = browser.run_page

    def one_class_off(*args, **kwargs):
        report = real(*args, **kwargs)
        outputs = report["runners"]["litert"]["outputs"]
        outputs[0] = list(np.roll(outputs[0], 1))  # example 0's top class becomes the next class
        return report

    monkeypatch.setattr(browser, "run_page", one_class_off)
    result = CliRunner().invoke(cli, ["export", str(run), "--web", "--web-runtime", str(RUNTIME),
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    error = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error) == 1 and "web: LiteRT.js in Chromium failed verification: " in error[0], result.output
    assert "same top class on 99.50% of 200 examples" in error[0]
    out = tmp_path / "out"
    assert not (out / "web").exists() and (out / "model.mediapipe.tflite").is_file()  # the page alone is refused


def test_the_page_shows_what_the_model_answers(web_exports, tmp_path):
    """A person's path: the page's own form (the first test example, prefilled), the Run button, the table."""
    run, _ = web_exports["regression"]
    export = tmp_path / "export"
    shutil.copytree(run / "export", export)
    # Same origin as the page, so it may drive the page in a frame (the page itself allows no inline script).
    (export / "web" / "probe.js").write_text("""
const frame = document.querySelector('iframe');
await new Promise((resolve) => frame.addEventListener('load', resolve));
const page = frame.contentDocument;
const wait = async (ok) => { while (!ok()) await new Promise((r) => setTimeout(r, 50)); };
await wait(() => page.getElementById('status').textContent === 'ready');
page.getElementById('run-values').click();
await wait(() => page.querySelector('#answer td'));
const cells = Array.from(page.querySelectorAll('#answer td'), (td) => td.textContent);
await fetch('/__zoo_verify/results', {method: 'POST', body: JSON.stringify({cells})});
""")
    (export / "web" / "probe.html").write_text('<iframe src="index.html"></iframe><script type="module" src="probe.js"></script>')
    shown = browser.run_page(export, "/web/probe.html", {}, "/__zoo_verify/results", browser.find_chromium())
    from zoo import calls, plugins

    data = calls.load_dataset(plugins.get("dataset", "multiply"))
    model = trainer.load_run_model(run)
    expected = float(model.predict(data.normalise(data.x_test[:1]), verbose=0)[0, 0])
    assert shown["cells"][0] == "product"
    assert float(shown["cells"][1]) == pytest.approx(expected, abs=1e-4)


def test_a_replaced_model_file_is_refused_by_the_page_and_by_zoo_serve(web_exports, tmp_path):
    run, _ = web_exports["regression"]
    export = tmp_path / "export"
    shutil.copytree(run / "export", export)
    model = export / "model.tflite"
    model.write_bytes(model.read_bytes()[:-1] + b"\0")
    empty = {"/__zoo_verify/examples.json": json.dumps({"count": 0, "offsets": {}}).encode(),
             "/__zoo_verify/examples.bin": b""}
    report = browser.run_page(export, "/web/index.html?verify=/__zoo_verify/", empty, "/__zoo_verify/results",
                              browser.find_chromium())
    assert "not the file zoo exported" in report["runners"]["litert"]["error"]
    served = subprocess.run([sys.executable, "-m", "zoo.cli", "serve", str(export), "--port", "0"],
                            capture_output=True, text=True, timeout=60)
    assert served.returncode == 1 and served.stderr.count("\n") == 1, served.stderr
    assert f"{model}: not the file zoo exported" in served.stderr


def test_zoo_serve_prints_the_url_and_serves_the_page(web_exports):
    run, _ = web_exports["image"]
    with subprocess.Popen([sys.executable, "-m", "zoo.cli", "serve", str(run), "--port", "0"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as served:
        try:
            line = served.stdout.readline()
            assert line.startswith("serving cnn · fashion-sample: http://127.0.0.1:"), line
            url = line.split(": ", 1)[1].strip()
            page = json.loads(urllib.request.urlopen(url + "page.json", timeout=10).read())
            assert page["labels"][0] == "T-shirt/top" and {r["feed"] for r in page["runners"]} == {"imagedata", "rgb"}
            wasm = urllib.request.urlopen(url + page["runtimes"]["litert"]["wasm"] + "/litert_wasm_internal.wasm")
            assert wasm.headers["Content-Type"] == "application/wasm"
        finally:
            served.terminate()


def test_a_port_in_use_is_one_line(web_exports):
    run, _ = web_exports["image"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = subprocess.run([sys.executable, "-m", "zoo.cli", "serve", str(run), "--port", str(port)],
                                capture_output=True, text=True, timeout=60)
    assert served.returncode == 1 and served.stderr == f"Error: port {port} on 127.0.0.1 is in use; choose " \
                                                       "another with --port\n"


def _without(tmp_path, relative):
    """A copy of the runtime folder without one of its files."""
    copy = tmp_path / "node_modules"
    shutil.copytree(RUNTIME, copy)
    (copy / relative).unlink()
    return copy


@pytest.mark.parametrize("case, flags, env, code, message", [
    ("no wasm", ["--web-runtime", "WITHOUT_WASM"], {}, 2,
     "has no @mediapipe/tasks-vision/wasm/vision_wasm_internal.wasm (@mediapipe/tasks-vision 1.1.0; make web-runtime"),
    ("no folder", ["--web-runtime", "NOWHERE"], {}, 2, "no such directory"),
    ("no chromium", [], {"ZOO_CHROMIUM": "/nonexistent/chromium"}, 1, "--web: the page is run in headless Chromium"),
    ("a generation model", [], {}, 1, "--web: a generation model; the page runs classifiers and regressions"),
])
def test_hostile_web_exports_are_one_line_and_write_nothing(web_exports, tmp_path, monkeypatch, case, flags,
                                                            env, code, message):
    run, _ = web_exports["image"]
    if case == "a generation model":  # built in seconds: a narrow LSTM, one epoch on the shipped corpus
        run = trainer.train("lstm-bn", "nsmc-corpus", recipe="tutorial", params={"units": 8},
                            overrides={"epochs": 1}, output=str(tmp_path / "gen"), verbose=0).run_dir
    flags = [str(_without(tmp_path, "@mediapipe/tasks-vision/wasm/vision_wasm_internal.wasm")) if f == "WITHOUT_WASM"
             else str(tmp_path / "nowhere") if f == "NOWHERE" else f for f in flags]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["export", str(run), "--web", *flags, "-o", str(out)])
    assert result.exit_code == code, result.output
    assert result.output.count("\n") == 1 and message in result.output, result.output
    assert not out.exists()


def test_web_for_a_run_whose_files_fail_verification_writes_nothing(web_exports, monkeypatch, tmp_path):
    from zoo.tasks import base as thresholds

    run, _ = web_exports["regression"]
    monkeypatch.setattr(thresholds, "FLOAT_ATOL", 0.0)  # nothing converted is bit-exact
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["export", str(run), "--web", "--web-runtime", str(RUNTIME), "-o", str(out)])
    assert result.exit_code == 1 and "model.tflite: failed verification" in result.output, result.output
    assert not out.exists()


def _screenshot(folder, page, size, target):
    """Headless Chromium's screenshot of ``page`` served from ``folder``, at ``size`` (width, height)."""
    with browser.Server(folder) as server, __import__("tempfile").TemporaryDirectory() as profile:
        subprocess.run([browser.find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--hide-scrollbars", f"--user-data-dir={profile}",
                        f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=8000",
                        f"--screenshot={target}", server.url(page)], capture_output=True, timeout=120)
    return target


def test_a_person_drops_a_photo_and_sees_bars_on_a_phone_and_a_laptop(web_exports, tmp_path):
    """The image page on a phone's width: a drop zone (a photo dropped on it is classified), probability bars
    in order, no camera area until the camera is used, nothing wider than the screen; screenshots at
    390 x 844 and 1280 x 900 are kept for a person to look at (ZOO_SCREENSHOTS=DIR)."""
    import os

    from PIL import Image

    from zoo import plugins

    run, _ = web_exports["image"]
    export = tmp_path / "export"
    shutil.copytree(run / "export", export)
    Image.fromarray(plugins.get("dataset", "fashion-sample").load().x_test[0]).save(export / "web" / "shoe.png")
    (export / "web" / "probe.js").write_text("""
const frame = document.querySelector('iframe');
const wait = async (ok) => { while (!ok()) await new Promise((r) => setTimeout(r, 50)); };
// The frame may have loaded before this module ran: wait for its page, not for an event.
await wait(() => frame.contentDocument?.getElementById('status')?.textContent === 'ready');
const page = frame.contentDocument;
const cameraHidden = page.getElementById('camera-area').hidden;
const blob = await (await fetch('shoe.png')).blob();
const dropped = new DataTransfer();
dropped.items.add(new File([blob], 'shoe.png', {type: 'image/png'}));
page.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dropped, bubbles: true,
                                                                  cancelable: true}));
await wait(() => page.querySelector('#answer .bar span'));
const rows = Array.from(page.querySelectorAll('#answer tr'), (tr) => ({
  label: tr.cells[0].textContent, probability: Number(tr.cells[1].textContent),
  bar: tr.querySelector('.bar span').getBoundingClientRect().width / tr.querySelector('.bar').getBoundingClientRect().width}));
await fetch('/__zoo_verify/results', {method: 'POST', body: JSON.stringify({
  rows, cameraHidden, wide: page.documentElement.scrollWidth, preview: page.getElementById('preview').src !== ''})});
""")
    (export / "web" / "probe.html").write_text(
        '<iframe src="index.html" style="width:390px;height:844px;border:0"></iframe>'
        '<script type="module" src="probe.js"></script>')
    shots = Path(os.environ.get("ZOO_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    for size in ((390, 844), (1280, 900)):
        target = _screenshot(export, "/web/index.html", size, shots / f"page-{size[0]}x{size[1]}.png")
        assert Image.open(target).size == size
    seen = browser.run_page(export, "/web/probe.html", {}, "/__zoo_verify/results", browser.find_chromium())
    assert seen["cameraHidden"] and seen["preview"] and seen["wide"] <= 390, seen
    probabilities = [row["probability"] for row in seen["rows"]]
    assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
    from zoo import predict

    expected = predict.predict(str(export / "model.mediapipe.tflite"), [export / "web" / "shoe.png"])["results"][0]
    assert seen["rows"][0]["label"] == expected["predictions"][0]["class"]
    for row in seen["rows"]:  # each bar as long as its probability
        assert row["bar"] == pytest.approx(row["probability"], abs=0.02)


def test_the_page_resizes_a_photo_exactly_as_pillow_does(tmp_path):
    """app.js' resize (a photo to the model's input) against Pillow's BILINEAR, which zoo predict and the
    training data use: the same bytes, shrinking and growing, run in Node on the page's own functions."""
    from PIL import Image

    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node (npm's, which make web-runtime uses)")
    source = (REPO / "exports" / "web_page" / "app.js").read_text()
    functions = source[source.index("const PRECISION_BITS"):source.index("function imageDataOf")]
    rng = np.random.default_rng(0)
    for width, height, new_width, new_height in ((720, 960, 320, 320), (275, 183, 320, 320), (1000, 37, 28, 28)):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        pixels[: height // 2] = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]  # smooth, then noise
        rgba = np.concatenate([pixels, np.full((height, width, 1), 255, np.uint8)], axis=2)
        (tmp_path / "in.bin").write_bytes(rgba.tobytes())
        (tmp_path / "resize.mjs").write_text(functions + f"""
const fs = await import("fs");
let p = new Uint8ClampedArray(fs.readFileSync({json.dumps(str(tmp_path / "in.bin"))}));
p = resamplePass(p, {width}, {height}, {new_width}, true);
p = resamplePass(p, {new_width}, {height}, {new_height}, false);
fs.writeFileSync({json.dumps(str(tmp_path / "out.bin"))}, Buffer.from(p.buffer));
""")
        subprocess.run([node, str(tmp_path / "resize.mjs")], check=True, timeout=120)
        got = np.frombuffer((tmp_path / "out.bin").read_bytes(), np.uint8).reshape(new_height, new_width, 4)
        expected = np.asarray(Image.fromarray(pixels).resize((new_width, new_height), Image.Resampling.BILINEAR))
        assert np.array_equal(got[..., :3], expected), (width, height)
