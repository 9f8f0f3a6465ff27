"""Object detection: photos with boxes read and checked, a detector trained on real raccoon photos,
its files verified in LiteRT and MediaPipe's ObjectDetector, and zoo predict's boxes in a photo's pixels."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, run_zoo

SAMPLE = Path(__file__).resolve().parents[1] / "plugins" / "data" / "raccoon-sample"
WEB_RUNTIME = REPO / "exports" / "web_page" / "node_modules"


def _can_run_pages() -> bool:
    from zoo.device import browser

    return browser.find_chromium() is not None and WEB_RUNTIME.is_dir()


def _voc_folder(root: Path, photos=3) -> Path:
    """A small VOC folder (train/ and test/) copied from the shipped sample."""
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        for xml in sorted((SAMPLE / split).glob("*.xml"))[:photos]:
            shutil.copy(xml, root / split / xml.name)
            shutil.copy(xml.with_suffix(".jpg"), root / split / f"{xml.stem}.jpg")
    return root


def _edit_first_xml(root: Path, old: str, new: str) -> Path:
    xml = sorted((root / "train").glob("*.xml"))[0]
    text = xml.read_text()
    assert old in text, text
    xml.write_text(text.replace(old, new, 1))
    return xml


def _coco_folder(root: Path, photos=3) -> Path:
    """The same photos and boxes as a COCO folder (labels.json per split), from the VOC files."""
    from zoo.data.boxes import read_voc

    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        images, annotations = [], []
        for n, xml in enumerate(sorted((SAMPLE / split).glob("*.xml"))[:photos], 1):
            found = read_voc(xml)
            shutil.copy(found.image, root / split / found.image.name)
            images.append({"id": n, "file_name": found.image.name, "width": found.width, "height": found.height})
            annotations += [{"id": len(annotations) + 1, "image_id": n, "category_id": 1,
                             "bbox": [b.xmin, b.ymin, b.xmax - b.xmin, b.ymax - b.ymin]} for b in found.boxes]
        (root / split / "labels.json").write_text(json.dumps(
            {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "raccoon"}]}))
    return root


def _break_xml(root):
    return _edit_first_xml(root, "</annotation>", "")


def _box_outside(root):
    return _edit_first_xml(root, "<xmax>", "<xmax>9")


def _box_inverted(root):
    xml = sorted((root / "train").glob("*.xml"))[0]
    text = xml.read_text()
    xmin = text.split("<xmin>")[1].split("<")[0]
    xml.write_text(text.replace(f"<xmax>{text.split('<xmax>')[1].split('<')[0]}<", f"<xmax>{xmin}<", 1))
    return xml


def _size_disagrees(root):
    return _edit_first_xml(root, "<width>", "<width>1")


def _unknown_class(root):
    (root / "labels.txt").write_text("raccoon\n")
    return _edit_first_xml(root, "<name>raccoon</name>", "<name>badger</name>")


def _huge_size(root):
    xml = _edit_first_xml(root, "<width>", "<width>99999")
    text = xml.read_text()
    xml.write_text(text.replace("<height>", "<height>99999", 1))
    return xml


@pytest.mark.parametrize("make_fault, says", [
    (_break_xml, "not well-formed XML"),
    (_box_outside, "outside the"),
    (_box_inverted, "xmin must be below xmax"),
    (_size_disagrees, "declares 1"),
    (_unknown_class, "class 'badger' is not on the label list"),
    (_huge_size, "more than the 50000000 allowed"),
], ids=["broken-xml", "box-outside", "box-inverted", "size-disagrees", "unknown-class", "huge-size"])
def test_a_bad_voc_file_is_one_line_naming_it(tmp_path, cli_runner, make_fault, says):
    from zoo.cli import cli

    root = _voc_folder(tmp_path / "voc")
    at_fault = make_fault(root)
    result = cli_runner.invoke(cli, ["show", "voc", "--data-dir", str(root)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and str(at_fault) in lines[0] and says in lines[0], result.output


def _missing_photo(root):
    path = root / "train" / "labels.json"
    data = json.loads(path.read_text())
    data["images"][0]["file_name"] = "nowhere.jpg"
    path.write_text(json.dumps(data))
    return path, "names nowhere.jpg, which is not at"


def _broken_json(root):
    path = root / "train" / "labels.json"
    path.write_text(path.read_text()[:-5])
    return path, "not JSON"


def _unknown_category(root):
    path = root / "train" / "labels.json"
    data = json.loads(path.read_text())
    data["annotations"][0]["category_id"] = 7
    path.write_text(json.dumps(data))
    return path, "category 7 is not in 'categories'"


@pytest.mark.parametrize("make_fault", [_missing_photo, _broken_json, _unknown_category],
                         ids=["missing-photo", "broken-json", "unknown-category"])
def test_a_bad_coco_file_is_one_line_naming_it(tmp_path, cli_runner, make_fault):
    from zoo.cli import cli

    root = _coco_folder(tmp_path / "coco")
    at_fault, says = make_fault(root)
    result = cli_runner.invoke(cli, ["show", "coco", "--data-dir", str(root)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and str(at_fault) in lines[0] and says in lines[0], result.output


def test_voc_and_coco_folders_of_the_same_photos_load_the_same_boxes(tmp_path):
    from zoo import plugins
    from zoo.api import calls

    voc = calls.load_dataset(plugins.get("dataset", "voc"), data_dir=str(_voc_folder(tmp_path / "voc")))
    coco = calls.load_dataset(plugins.get("dataset", "coco"), data_dir=str(_coco_folder(tmp_path / "coco")))
    assert voc.class_names == coco.class_names == ("raccoon",)
    np.testing.assert_array_equal(voc.x_train, coco.x_train)
    for a, b in zip(list(voc.y_train) + list(voc.y_test), list(coco.y_train) + list(coco.y_test)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert voc.x_train.shape == (3, 320, 320, 3) and len(voc.y_test) == 3


def test_a_photo_without_boxes_is_kept_as_background(tmp_path):
    from zoo import plugins
    from zoo.api import calls

    root = _voc_folder(tmp_path / "voc")
    xml = sorted((root / "train").glob("*.xml"))[0]
    text = xml.read_text()
    xml.write_text(text[:text.index("\t<object>")] + "</annotation>\n")
    data = calls.load_dataset(plugins.get("dataset", "voc"), data_dir=str(root))
    assert data.source["background_photos"] == 1
    assert [len(b) for b in data.y_train].count(0) == 1
    targets = data.task.targets(data.y_train)
    assert (targets[[len(b) == 0 for b in data.y_train]][..., 4] == -1).all()  # every anchor: background


def test_without_a_split_a_seeded_fifth_is_held_out(tmp_path):
    from zoo import plugins
    from zoo.api import calls

    flat = tmp_path / "flat"
    flat.mkdir()
    for path in (SAMPLE / "train").iterdir():
        shutil.copy(path, flat / path.name)
    entry = plugins.get("dataset", "voc")
    first = calls.load_dataset(entry, data_dir=str(flat), seed=1)
    again = calls.load_dataset(entry, data_dir=str(flat), seed=1)
    other = calls.load_dataset(entry, data_dir=str(flat), seed=2)
    assert (len(first.y_train), len(first.y_test)) == (38, 10)
    np.testing.assert_array_equal(first.x_test, again.x_test)
    assert not np.array_equal(first.x_test, other.x_test)


def test_anchor_coding_round_trips_and_every_true_box_gets_an_anchor():
    from zoo.data.anchors import AnchorGrid, BoxCoding, assign, corners, iou

    grid, coding = AnchorGrid(), BoxCoding()
    anchors = grid.anchors()
    assert len(anchors) == (20 * 20 + 10 * 10 + 5 * 5) * 9
    boxes = np.array([[0.1, 0.2, 0.5, 0.9], [0.6, 0.05, 0.62, 0.08]], np.float32)  # the second is tiny
    codes = coding.encode(boxes[[0, 1] * 3][:len(anchors[:6])], anchors[:6])
    np.testing.assert_allclose(coding.decode(codes, anchors[:6]), boxes[[0, 1] * 3], atol=1e-5)
    truth = np.concatenate([np.zeros((2, 1), np.float32), boxes], axis=1)
    targets = assign(truth, anchors, coding)
    positive = np.flatnonzero(targets[:, 4] == 0)
    learnt = iou(corners(anchors[positive]), boxes).argmax(axis=1)
    assert set(learnt.tolist()) == {0, 1}  # the tiny box too, by its best anchor


def test_a_classifier_cannot_train_on_boxes_nor_the_detector_on_classes(cli_runner):
    from zoo.cli import cli

    for args, says in ((["train", "cnn", "raccoon-sample"], "the dataset is a detection task (architectures "
                                                             "for it: efficientnet-lite0-ssd)"),
                       (["train", "efficientnet-lite0-ssd", "fashion-sample"], "builds detection models")):
        result = cli_runner.invoke(cli, args)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert says in result.output


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    """efficientnet-lite0-ssd trained once on the shipped raccoon photos, exported to LiteRT and MediaPipe
    (and a web page, where Chromium and the web runtime are here)."""
    base = tmp_path_factory.mktemp("detector")
    run = base / "run"
    trained = run_zoo("train", "efficientnet-lite0-ssd", "raccoon-sample", "-o", str(run), timeout=900)
    assert trained.returncode == 0, trained.stderr[-2000:]
    web = ["--web", "--web-runtime", str(WEB_RUNTIME)] if _can_run_pages() else []
    exported = run_zoo("export", str(run), "--tflite", "--mediapipe", "--litert-boxes", *web, timeout=900)
    assert exported.returncode == 0, exported.stderr[-2000:] + exported.stdout[-2000:]
    return run, exported.stdout


def test_the_detector_learns_raccoons_and_reports_them(detector):
    run, _ = detector
    metrics = json.loads((run / "metrics.json").read_text())
    # The tuned recipe's 40 epochs: 0.80 on the sample's 12 test photos (AMD EPYC); 0.43 after 20, 0.003 after 3.
    assert metrics["test_map50"] >= 0.6, metrics["test_map50"]
    assert 0 < metrics["test_map"] < metrics["test_map50"]
    assert metrics["boxes"] == 13 and set(metrics["per_class_ap50"]) == {"raccoon"}
    report = (run / "report.html").read_text()
    for caption in ("Average precision per class", "Test photos: true and found boxes", "Precision against recall"):
        assert caption in report
    for figure in ("curves.png", "detections.png", "precision_recall.png"):
        assert (run / figure).stat().st_size > 5000


def test_its_files_are_verified_in_litert_and_mediapipe(detector):
    run, printed = detector
    card = json.loads((run / "export" / "model_card.json").read_text())
    files = {f["file"]: f for f in card["files"]}
    assert {"saved_model", "model.tflite", "model.mediapipe.tflite"} <= set(files)
    assert all(f["verified"] for f in files.values())
    assert files["model.tflite"]["max_abs_diff"] <= 1e-4
    mediapipe = files["model.mediapipe.tflite"]
    assert mediapipe["runtime"].startswith("MediaPipe Tasks ObjectDetector")
    assert mediapipe["same_boxes"] == 1.0
    assert abs(mediapipe["test_map50"] - card["verification"]["keras_test_map50"]) <= 0.01
    assert "MAP@0.5" in printed and "SAME BOXES" in printed


def test_its_boxes_file_answers_boxes_found_in_the_graph(detector):
    """model.boxes.tflite decodes and suppresses inside (builtin ops only) and keeps Keras' boxes; it answers
    as TFLite's SSD files do, and a classifier's run refuses the flag in one line."""
    from zoo_exports import litert_boxes

    run, printed = detector
    card = json.loads((run / "export" / "model_card.json").read_text())
    entry = next(f for f in card["files"] if f["file"] == "model.boxes.tflite")
    assert entry["verified"] and entry["same_boxes"] == 1.0 and "model.boxes.tflite" in printed
    assert abs(entry["test_map50"] - card["verification"]["keras_test_map50"]) <= 0.01
    assert "NON_MAX_SUPPRESSION_V4" in entry["ops"] and not any(op.startswith("CUSTOM") for op in entry["ops"])
    from zoo.data.images import load_image

    size = tuple(entry["input"]["shape"][1:3])
    scale = card["input"]["from_image_file"]
    photo = load_image(sorted((SAMPLE / "test").glob("*.jpg"))[0], size, "rgb") * scale["scale"] + scale["offset"]
    found, latency = litert_boxes.found_boxes(run / "export" / "model.boxes.tflite", photo[None], repeats=2)
    assert latency > 0 and found[0] and all(0 <= v <= 1 for box in found[0] for v in box[2:]), found
    assert [box[1] for box in found[0]] == sorted((box[1] for box in found[0]), reverse=True)
    from zoo.errors import UsageError

    with pytest.raises(UsageError, match="--litert-boxes: a classification model has no boxes"):
        litert_boxes.prepare({}, {"task": {"kind": "classification"}, "class_names": ["a", "b"]})


@pytest.mark.skipif(not _can_run_pages(), reason="needs chromium and the web runtime (make web-runtime)")
def test_its_page_finds_keras_boxes_in_chromium(detector):
    """The page runs MediaPipe's ObjectDetector (WebAssembly) on the test photos in headless Chromium and
    keeps only boxes Keras gives; its page.json tells app.js to draw boxes."""
    run, printed = detector
    card = json.loads((run / "export" / "model_card.json").read_text())
    page = next(f for f in card["files"] if f["file"] == "web")
    assert page["verified"] and page["examples"] == 12 and page["browser"].startswith("headless Chromium")
    runtime, = page["runtimes"]
    assert runtime["runtime"].startswith("MediaPipe ObjectDetector: @mediapipe/tasks-vision")
    assert runtime["model_file"] == "model.mediapipe.tflite" and runtime["same_boxes"] == 1.0
    assert abs(runtime["test_map50"] - card["verification"]["keras_test_map50"]) <= 0.01
    described = json.loads((run / "export" / "web" / "page.json").read_text())
    assert described["answer"] == "boxes" and described["min_score"] == 0.3 and described["labels"] == ["raccoon"]
    assert described["runners"][0]["api"] == "ObjectDetector"
    assert described["runners"][0]["options"] == {"maxResults": 100, "scoreThreshold": 0.05}


@pytest.mark.skipif(not _can_run_pages(), reason="needs chromium and the web runtime (make web-runtime)")
def test_a_person_drops_a_photo_on_the_page_and_sees_the_boxes_python_finds(detector, tmp_path):
    """A photo at its own size dropped on the page: resized as Pillow resizes it (zoo predict, the training
    data), MediaPipe's boxes drawn and listed in the photo's pixels, the same as MediaPipe's in Python on the
    photo zoo would read. A screenshot is kept for a person to look at (ZOO_SCREENSHOTS=DIR)."""
    import os

    from PIL import Image

    from zoo.data.images import load_image
    from zoo.device import browser
    from zoo_exports import mediapipe_detector

    run, _ = detector
    export = tmp_path / "export"
    shutil.copytree(run / "export", export)
    photo = SAMPLE / "test" / "raccoon-105.jpg"  # 240 x 320: the page resizes it to the model's input
    shutil.copy(photo, export / "web" / "photo.jpg")
    (export / "web" / "probe.js").write_text("""
const frame = document.querySelector('iframe');
const wait = async (ok) => { while (!ok()) await new Promise((r) => setTimeout(r, 50)); };
await wait(() => frame.contentDocument?.getElementById('status')?.textContent === 'ready');
const page = frame.contentDocument;
const blob = await (await fetch('photo.jpg')).blob();
const dropped = new DataTransfer();
dropped.items.add(new File([blob], 'photo.jpg', {type: 'image/jpeg'}));
page.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dropped, bubbles: true, cancelable: true}));
await wait(() => / ms$/.test(page.getElementById('status').textContent) || /error/.test(page.getElementById('status').textContent));
const rows = Array.from(page.querySelectorAll('#answer tr'), (tr) => Array.from(tr.cells, (td) => td.textContent));
const canvas = page.getElementById('drawn');
await fetch('/__zoo_verify/results', {method: 'POST', body: JSON.stringify({
  rows, status: page.getElementById('status').textContent, drawn: canvas.hidden ? null : [canvas.width, canvas.height],
  orange: canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data.filter(
    (v, i) => i % 4 === 0 && v === 0xf9).length})});
""")
    (export / "web" / "probe.html").write_text(
        '<iframe src="index.html" style="width:800px;height:1000px;border:0"></iframe>'
        '<script type="module" src="probe.js"></script>')
    seen = browser.run_page(export, "/web/probe.html", {}, "/__zoo_verify/results", browser.find_chromium())
    assert seen["rows"][0] == ["class", "score", "x", "y", "width", "height"], seen
    assert seen["drawn"] == [240, 320] and seen["orange"] > 100, seen  # the photo at its size, boxes drawn on it

    height, width = json.loads((export / "web" / "page.json").read_text())["input"]["shape"][:2]
    detector_ = mediapipe_detector._detector(export / "model.mediapipe.tflite")
    try:
        found = mediapipe_detector.detect(detector_, load_image(photo, (height, width), "rgb")[None], ("raccoon",))[0]
    finally:
        detector_.close()
    expected = [("raccoon", score, xmin * 240, ymin * 320, (xmax - xmin) * 240, (ymax - ymin) * 320)
                for _, score, ymin, xmin, ymax, xmax in sorted(found, key=lambda f: -f[1]) if score >= 0.3]
    assert expected, found  # the trained detector finds the raccoon
    assert len(seen["rows"]) - 1 == len(expected), (seen["rows"], expected)
    for row, (name, score, *box) in zip(seen["rows"][1:], expected):
        assert row[0] == name and float(row[1]) == pytest.approx(score, abs=1e-3), (row, score)
        assert [int(v) for v in row[2:]] == pytest.approx(box, abs=1.01), (row, box)
    shots = Path(os.environ.get("ZOO_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with browser.Server(export) as server, __import__("tempfile").TemporaryDirectory() as profile:
        import subprocess

        subprocess.run([browser.find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        f"--user-data-dir={profile}", "--window-size=820,1020", "--virtual-time-budget=8000",
                        f"--screenshot={shots / 'detector-page.png'}", server.url("/web/probe.html")],
                       capture_output=True, timeout=120)
    assert Image.open(shots / "detector-page.png").size == (820, 1020)


def test_a_page_answer_that_is_not_boxes_is_refused_in_one_line():
    """What the browser posts back is data from outside: malformed boxes are named, not a traceback."""
    from zoo.data.anchors import AnchorGrid
    from zoo.data.tasks.detection import Detection

    task = Detection(("thing",), AnchorGrid(image_size=(64, 64)))
    reference = np.zeros((2, *task.output_shape), np.float32)
    truth = np.array([np.zeros((0, 5), np.float32)] * 2 + [None], dtype=object)[:2]
    for answers, says in (([[]], "boxes for 1 photos, expected 2"), ("nothing", "boxes for no photos"),
                          ([[[0, 0.5, 0.1]], []], "not class, score"), ([[[3, 0.5, 0, 0, 1, 1]], []], "unknown class"),
                          ([[[0, float("nan"), 0, 0, 1, 1]], []], "not finite")):
        with pytest.raises(ValueError, match=says):
            task.compare_answers("web", answers, reference, truth)
    assert task.compare_answers("web", [[], []], reference, truth).passed


def test_predict_prints_boxes_in_the_photos_pixels_and_draws_them(detector, tmp_path):
    from PIL import Image

    run, _ = detector
    photo = sorted((SAMPLE / "test").glob("*.jpg"))[0]
    result = run_zoo("predict", str(run), str(photo), "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)["results"][0]
    width, height = Image.open(photo).size
    assert answer["photo_size"] == [width, height] and answer["boxes"]
    for box in answer["boxes"]:
        assert box["class"] == "raccoon" and 0 <= box["x"] and box["x"] + box["width"] <= width + 1
        assert 0 <= box["y"] and box["y"] + box["height"] <= height + 1
    drawn = tmp_path / "boxes.png"
    printed = run_zoo("predict", str(run), str(photo), "--draw", str(drawn))
    assert printed.returncode == 0 and f"{photo}: raccoon" in printed.stdout and " at x " in printed.stdout
    assert Image.open(drawn).size == (width, height)
    assert np.abs(np.asarray(Image.open(drawn), np.int16) - np.asarray(Image.open(photo), np.int16)).max() > 100
    wrong = run_zoo("predict", str(run), str(photo), "--draw", str(tmp_path / "boxes.nothing"))
    assert wrong.returncode == 2 and "--draw" in wrong.stderr and "Traceback" not in wrong.stderr


def test_a_file_is_judged_on_boxes_clipped_as_every_runtime_gives_them():
    """A box reaching past the photo's edge is clipped in the file's answer; the Keras side of the
    comparison is clipped too, so a file identical to Keras always matches it (once it did not)."""
    from zoo.data.anchors import AnchorGrid
    from zoo.data.tasks.detection import Detection

    task = Detection(("thing",), AnchorGrid(image_size=(64, 64)))
    outputs = np.zeros((1, *task.output_shape), np.float32)
    outputs[..., 4] = -10.0
    outputs[0, 0, :] = [0.0, 0.0, 6.0, 6.0, 5.0]  # the first anchor, a top-left corner, grown past the edges
    truth = np.empty(1, dtype=object)
    truth[0] = np.array([[0, 0.0, 0.0, 0.5, 0.5]], np.float32)
    check = task.compare("same.tflite", outputs, outputs, truth, quantized=False)
    assert check.passed and check.same_boxes == 1.0 and check.max_abs_diff == 0.0
    (label, score, *corners), = task.detections(outputs)[0]
    assert corners == [0.0, 0.0, 1.0, 1.0]  # clipped
    # A runtime's own answer (MediaPipe's): the same box at another score is not Keras' box; at the same
    # score it is, whatever the overlap rule that chose it.
    assert task.compare_found("same.tflite", [[(label, score, *corners)]], outputs, truth, False).same_boxes == 1.0
    other = task.compare_found("other.tflite", [[(label, score - 0.2, *corners)]], outputs, truth, False)
    assert other.same_boxes == 0.0 and other.max_abs_diff == 0.0 and not other.passed
