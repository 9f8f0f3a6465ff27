"""Classify image files with an exported .tflite model, on LiteRT alone.

This is the on-device story: nothing here (or in what it imports) imports
TensorFlow or Keras. Images of any size and mode are read as the training data
was: gray or colour as the model's input has channels, resized to its input
size, then scaled as the model
card's ``input.from_image_file`` says (an image file's 0 and 255 are the
dataset's black and white, however the dataset stored them).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo import runs
from zoo.errors import DataError, ZooError
from zoo.images import load_image
from zoo.litert import LiteRTModel

EXPORT_DIR = "export"  # as zoo.export.EXPORT_DIR, without importing the export machinery
MODEL_FILE = "model.tflite"
CARD = "model_card.json"
LABELS = "labels.txt"
DEFAULT_PIXEL_SCALE = 1.0 / 255.0


@dataclass
class Classifier:
    """A .tflite model with what is needed to feed it and name its outputs."""

    path: Path
    runner: LiteRTModel
    class_names: list
    scale: float  # model input = float32(8-bit pixel) * scale + offset
    offset: float = 0.0
    task: str = "classification"  # or "regression": the outputs are values, named by class_names
    layout: str = "image"  # or "sequence"/"vector": examples come from .npy/.csv files
    color: str = "gray"  # images: "gray", "rgb" or "rgba", as the model's channels say
    array_scale: float = 1.0  # arrays: model input = stored value * array_scale + array_offset
    array_offset: float = 0.0

    def read(self, path) -> np.ndarray:
        """One image file as the model's input shape: gray or colour, resized, still 8-bit."""
        shape = self.runner.image_shape
        pixels = load_image(path, shape[:2], self.color)
        return pixels[..., None] if len(shape) == 3 and shape[2] == 1 else pixels

    def inputs(self, images: list) -> np.ndarray:
        """8-bit images as the model reads them, as the model card says."""
        return np.stack(images).astype(np.float32) * np.float32(self.scale) + np.float32(self.offset)

    def probabilities(self, images: list) -> np.ndarray:
        return self.runner.predict(self.inputs(images))


def find_model(model: str) -> Path:
    """The .tflite file MODEL means: a .tflite file, an export directory, or a run.

    A run (a directory or a name under the runs root) means its
    ``export/model.tflite``.
    """
    path = Path(model)
    if path.is_file() or path.suffix == ".tflite":
        return path
    if path.is_dir() and (path / MODEL_FILE).is_file():
        return path / MODEL_FILE  # an export directory
    run_dir = runs.resolve_run(model, need_model=False)
    exported = run_dir / EXPORT_DIR / MODEL_FILE
    if not exported.is_file():
        raise ZooError(f"{run_dir}: has no exported model ({exported} not found); "
                       f"run: zoo export {model} --tflite")
    return exported


def _read_card(path: Path) -> dict:
    card = path.parent / CARD
    if not card.is_file():
        return {}
    try:
        data = json.loads(card.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{card}: unreadable ({exc})") from None
    return data if isinstance(data, dict) else {}


def load(model: str) -> Classifier:
    """Open MODEL with LiteRT, with its class names and normalisation.

    Class names and the pixel scale come from the ``model_card.json`` beside
    the file, else ``labels.txt``; without either, classes are numbered and
    pixels scaled by 1/255.
    """
    path = find_model(model)
    runner = LiteRTModel(path)
    card = _read_card(path)
    classes = runner.describe()["output"]["shape"][-1]
    task = (card.get("task") or {}).get("kind", "classification") if isinstance(card.get("task"), dict) \
        else "classification"
    names = card.get("class_names") if task == "classification" else (card.get("task") or {}).get("outputs")
    labels = path.parent / LABELS
    if not names and labels.is_file():
        names = [line.strip() for line in labels.read_text().splitlines() if line.strip()]
    if not names:
        names = [str(i) for i in range(classes)]
    if len(names) != classes:
        raise DataError(f"{path}: gives {classes} classes but its labels name {len(names)}")
    section = card.get("input") if isinstance(card.get("input"), dict) else {}
    spec = section.get("spec") if isinstance(section.get("spec"), dict) else {}
    if "from_array_file" not in section:
        layout = "image"
    elif spec.get("layout") in ("sequence", "vector"):
        layout = spec["layout"]
    else:  # cards written before the input spec: "sequence: 100 x 2 ..."
        layout = str(section.get("layout", "sequence")).split(":")[0]
    if layout == "image":
        scale, offset = image_scaling(card, path)
        shape = runner.image_shape
        channels = {1: "gray", 3: "rgb", 4: "rgba"}.get(shape[2]) if len(shape) == 3 else "gray"
        if len(shape) not in (2, 3) or channels is None:
            raise DataError(f"{path}: expects input of shape {runner.input_shape}; zoo predict reads "
                            "images (batch, height, width) or (batch, height, width, 1, 3 or 4 channels)")
        return Classifier(path, runner, list(names), scale, offset, task, color=channels)
    try:
        array_scale = float(spec.get("scale") or section.get("pixel_scale") or 1.0)
        array_offset = float(spec.get("offset") or 0.0)
    except (TypeError, ValueError):
        raise DataError(f"{path.parent / CARD}: input.spec is damaged") from None
    return Classifier(path, runner, list(names), 1.0, 0.0, task, layout, array_scale=array_scale,
                      array_offset=array_offset)


def load_array(path, shape: tuple) -> np.ndarray:
    """One example from a ``.npy`` (no pickle) or ``.csv`` file, checked against the model's shape."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
        elif path.suffix.lower() == ".csv":
            array = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
        else:
            raise DataError(f"{path}: expected a .npy or .csv file holding one example")
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise DataError(f"{path}: holds {array.dtype}, not numbers")
    if array.shape != tuple(shape):
        raise DataError(f"{path}: an example of shape {list(array.shape)}; the model reads {list(shape)}")
    if not np.isfinite(array).all():
        raise DataError(f"{path}: holds NaN or infinity")
    return array


def image_scaling(card: dict, path: Path) -> tuple[float, float]:
    """``(scale, offset)`` from 8-bit image pixels to model input, as the model card records it.

    Cards written before zoo recorded ``input.from_image_file`` held only the
    dataset's ``pixel_scale``, which is right for 0..255 datasets; without a
    card, pixels are scaled by 1/255.
    """
    section = card.get("input") if isinstance(card.get("input"), dict) else {}
    image = section.get("from_image_file")
    try:
        if isinstance(image, dict):
            scale, offset = float(image["scale"]), float(image.get("offset", 0.0))
        else:
            scale, offset = float(section.get("pixel_scale") or DEFAULT_PIXEL_SCALE), 0.0
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path.parent / CARD}: input.from_image_file is damaged") from None
    if not (np.isfinite(scale) and np.isfinite(offset)) or scale <= 0:
        raise DataError(f"{path.parent / CARD}: input scale {scale} / offset {offset} cannot be used")
    return scale, offset


def predict(model: str, images, top_k: int = 3) -> dict:
    """Top classes of each image.

    Args:
        model: a .tflite file, an export directory or a run.
        images: image file paths (PNG, JPEG, any size).
        top_k: how many classes to list per image.

    Returns:
        ``{"model": path, "results": [{"image": path, "predictions":
        [{"class": name, "index": i, "probability": p}, ...]}, ...]}``.

    Raises:
        ZooError: a missing or unreadable model or image (one line each).
    """
    classifier = load(model)
    if classifier.layout != "image":
        examples = [load_array(f, classifier.runner.image_shape) for f in images]
        x = (np.stack(examples).astype(np.float32) * np.float32(classifier.array_scale)
             + np.float32(classifier.array_offset)) if examples else None
        outputs = classifier.runner.predict(x) if examples else np.zeros((0, 0))
    else:
        pixels = [classifier.read(image) for image in images]
        outputs = classifier.probabilities(pixels) if pixels else np.zeros((0, 0))
    if classifier.task == "regression":
        return {"model": str(classifier.path), "results": [
            {"image": str(f), "values": {name: round(float(v), 6) for name, v in zip(classifier.class_names, row)}}
            for f, row in zip(images, outputs)]}
    probabilities = outputs
    k = max(1, min(int(top_k), len(classifier.class_names)))
    results = []
    for image, row in zip(images, probabilities):
        order = np.argsort(-row, kind="stable")[:k]
        results.append({"image": str(image), "predictions": [
            {"class": classifier.class_names[i], "index": int(i), "probability": round(float(row[i]), 6)}
            for i in order]})
    return {"model": str(classifier.path), "results": results}
