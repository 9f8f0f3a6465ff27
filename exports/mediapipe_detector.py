"""A detector's MediaPipe file: ``model.mediapipe.tflite`` for MediaPipe Tasks' ObjectDetector.

MediaPipe's ObjectDetector takes two forms of file (its metadata writer's
``create_for_models_with_nms`` and ``create_for_models_without_nms``). This
one is the second: the model gives box codes ``[1, A, 4]`` and class logits
``[1, A, C]``, and the metadata carries every anchor (``FixedAnchor``: centre
and size, fractions of the image), the box coding's scales and ``sigmoid_score``,
so MediaPipe decodes the boxes and runs non-maximum suppression itself. The
first form needs TFLite's ``TFLite_Detection_PostProcess`` custom op in the
graph, which a Keras 3 model cannot emit through the converter without a
hand-written composite function; the second needs nothing the converter does
not do. Which of the two MediaPipe's runtime accepts is proved on every
export: the file is run by MediaPipe's own ObjectDetector on the test photos
and its boxes compared with Keras' (``Detection.compare_found``).
"""
from __future__ import annotations

import gc

import numpy as np

from zoo.errors import ZooError

FILE = "model.mediapipe.tflite"
MAX_RESULTS = 100  # as zoo's own scores keep
MIN_SCORE = 0.05  # the floor of the detections mAP is computed on (Postprocess' default)


def _write_metadata(context, path) -> None:
    """Normalisation, labels, anchors and the box coding into the file, by MediaPipe's object detector writer."""
    from zoo_exports.mediapipe import _metadata_writers, _normalization

    _metadata_writers()  # stands in for the native version helper the wheel lacks
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, object_detector

    task = context.dataset.task
    anchors = task.anchors.anchors()
    labels = metadata_writer.Labels()
    labels.add(list(context.run.class_names))
    norm = _normalization(context)
    coding = task.coding
    writer = object_detector.MetadataWriter.create_for_models_without_nms(
        bytearray(path.read_bytes()), norm["mean"], norm["std"], labels,
        object_detector.SsdAnchorsOptions(fixed_anchors_schema=object_detector.FixedAnchorsSchema(
            anchors=[object_detector.FixedAnchor(x_center=float(cx), y_center=float(cy), width=float(w),
                                                 height=float(h)) for cy, cx, h, w in anchors.tolist()])),
        object_detector.TensorsDecodingOptions(
            num_classes=len(context.run.class_names), num_boxes=len(anchors), num_coords=4,
            keypoint_coord_offset=0, num_keypoints=0, num_values_per_keypoint=2,  # its check wants 2 even with none
            x_scale=coding.x_scale, y_scale=coding.y_scale, w_scale=coding.w_scale, h_scale=coding.h_scale,
            apply_exponential_on_box_size=True, sigmoid_score=True),
        _order(path, object_detector))
    model, _ = writer.populate()
    path.write_bytes(model)
    del writer, labels  # its temporary folder goes now, not in a __del__ at interpreter shutdown
    gc.collect()


def _order(path, object_detector):
    """Which of the file's two outputs is the box codes: MediaPipe must be told (the converter orders a
    signature's outputs by name, not as the model lists them)."""
    from ai_edge_litert.interpreter import Interpreter

    outputs = Interpreter(model_content=path.read_bytes()).get_output_details()
    order = object_detector.metadata_info.RawDetectionOutputTensorsOrder
    return order.LOCATION_SCORE if outputs[0]["name"] < outputs[1]["name"] else order.SCORE_LOCATION


def _detector(path):
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ObjectDetectorOptions(base_options=BaseOptions(model_asset_path=str(path)),
                                           max_results=MAX_RESULTS, score_threshold=MIN_SCORE)
    try:
        return vision.ObjectDetector.create_from_options(options)
    except Exception as exc:  # MediaPipe raises RuntimeError or ValueError with its status text
        raise RuntimeError(f"MediaPipe's ObjectDetector refused the file: {str(exc).splitlines()[0][:300]}") from None


def detect_in_child(path, photos: np.ndarray, names: tuple, timeout: float = 600) -> list:
    """``detect`` in a child process: MediaPipe's native checks abort the whole process on a file they
    refuse (``Check failed: ...``), which must end this export with one line, not end zoo."""
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(dir=Path(path).parent, prefix=".mediapipe-detect-") as tmp:
        np.save(Path(tmp) / "photos.npy", photos)
        result = Path(tmp) / "found.json"
        (Path(tmp) / "names.json").write_text(json.dumps(list(names)))
        try:
            done = subprocess.run([sys.executable, "-m", "zoo_exports.mediapipe_detector", str(path), tmp],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ZooError(f"MediaPipe's ObjectDetector took more than {timeout:.0f} s on {len(photos)} photos") from None
        if done.returncode != 0 or not result.is_file():
            lines = [line for line in done.stderr.splitlines() if "Check failed" in line or "Error" in line]
            last = (lines or done.stderr.strip().splitlines() or ["no message"])[-1]
            raise ZooError(f"MediaPipe's ObjectDetector failed on the file (exit {done.returncode}): {last[-300:]}")
        return [[tuple(d) for d in photo] for photo in json.loads(result.read_text())]


def main(argv=None) -> int:
    """``python -m zoo_exports.mediapipe_detector FILE FOLDER``: FOLDER/photos.npy and names.json in,
    FOLDER/found.json out (MediaPipe's detections per photo)."""
    import json
    import sys
    from pathlib import Path

    path, folder = (argv or sys.argv[1:])[:2]
    folder = Path(folder)
    detector = _detector(path)
    try:
        found = detect(detector, np.load(folder / "photos.npy"), tuple(json.loads((folder / "names.json").read_text())))
    finally:
        detector.close()
    (folder / "found.json").write_text(json.dumps(found))
    return 0


def detect(detector, photos: np.ndarray, names: tuple, update=None) -> list:
    """Per photo (uint8 RGB), MediaPipe's detections as ``(class, score, ymin, xmin, ymax, xmax)`` fractions."""
    import mediapipe as mp

    index = {name: i for i, name in enumerate(names)}
    found = []
    for photo in photos:
        height, width = photo.shape[:2]
        result = detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(photo)))
        boxes = []
        for detection in result.detections:
            box, best = detection.bounding_box, detection.categories[0]
            label = index.get(best.category_name, best.index)
            # MediaPipe does not clip a box to the photo; zoo's own boxes are clipped (as COCO's are)
            corners = np.clip([box.origin_y / height, box.origin_x / width, (box.origin_y + box.height) / height,
                               (box.origin_x + box.width) / width], 0.0, 1.0)
            boxes.append((int(label), float(best.score), *map(float, corners)))
        found.append(boxes)
        if update is not None:
            update(1)
    return found


def export(context) -> list:
    """Convert with two outputs, write the detector's metadata, detect the test photos with MediaPipe."""
    from zoo_exports.mediapipe import _normalization, _version, installed
    from zoo_exports.tflite import ConversionError, convert

    path = context.directory / FILE
    if not installed():
        problem = "needs the mediapipe package: pip install 'zoo[mediapipe]'"
        context.fail(FILE, problem)
        return [{"file": FILE, "error": problem}]
    context.log(f"{FILE}: converting for MediaPipe ObjectDetector ([1, H, W, 3] RGB; anchors, box coding and "
                "labels in the metadata)")
    runtime = f"MediaPipe Tasks ObjectDetector {_version('mediapipe')}"
    photos = context.dataset.x_test  # uint8 RGB at the model's size: MediaPipe's resize leaves them as they are
    try:
        result = convert(context, "mediapipe-detector", FILE)
        _write_metadata(context, path)
        context.log(f"verifying {FILE} with {runtime} on {len(photos)} test photos")
        found = detect_in_child(path, photos, tuple(context.run.class_names))
    except (ConversionError, ZooError, RuntimeError, ValueError) as exc:
        message = str(exc).replace(f"{path}: ", "")
        context.fail(FILE, message)
        return [{"file": FILE, "error": message}]
    task = context.dataset.task
    check = context.judge(task.compare_found(FILE, found, context.reference, context.dataset.y_test,
                                             quantized=False))
    return [{
        "file": FILE, "variant": "mediapipe-detector",
        "description": "float32, box codes and class logits out; MediaPipe decodes them with the anchors in "
                       "its metadata and keeps the best boxes (non-maximum suppression)",
        "input": {"shape": [1, *context.run.input_shape[:2], 3], "dtype": "float32", "color": "RGB"},
        "normalization": _normalization(context),
        "anchors": len(task.anchors.anchors()),
        "runtime": runtime, "notes": result.get("notes", []),
        # Two outputs decoded by MediaPipe with the anchors in its metadata: zoo predict runs model.tflite.
        "zoo_predict": False,
        "verification_settings": {"max_results": MAX_RESULTS, "score_threshold": MIN_SCORE},
        **check.to_dict(),
    }]


if __name__ == "__main__":
    raise SystemExit(main())
