"""The model card: ``model_card.json`` beside exported files, read in one place.

Cards are written by ``zoo export`` and read by ``zoo predict``, ``zoo
generate``, ``zoo serve`` and the web page; a card may be damaged or edited by
hand, so every field read here is checked for its type before it is used, and a
bad one is named (``DataError``) instead of giving wrong answers. Nothing here
imports TensorFlow.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from zoo import jsonfile
from zoo.data import layouts
from zoo.errors import DataError
from zoo.versions import versions

DEFAULT_PIXEL_SCALE = 1.0 / 255.0  # a file without a model card: 8-bit pixels divided by 255
EXPORT_DIR = "export"  # RUN/export by default: a run keeps its artifacts
CARD = "model_card.json"
LABELS = "labels.txt"
CARD_VERSION = 1  # model_card_version: a card of a later version is not read (its fields may mean more)


def read_beside(path: Path) -> dict:
    """The card beside the file at ``path`` ({} where there is none), refused when a later zoo wrote it."""
    card = path.parent / CARD
    return read(card) if card.is_file() else {}


def read(path: Path) -> dict:
    """A model card, checked to be one this zoo reads.

    Raises:
        ZooError: not JSON, not an object (named with the file).
        DataError: its ``model_card_version`` is not an integer, or is later than this zoo's.
    """
    data = jsonfile.read_json(path)
    version = data.get("model_card_version", CARD_VERSION)
    if isinstance(version, bool) or not isinstance(version, int):
        raise DataError(f"{path}: 'model_card_version' must be an integer, found {str(version)[:40]!r}")
    if version > CARD_VERSION:
        raise DataError(f"{path}: model card version {version}, written by a later zoo (this one reads "
                        f"{CARD_VERSION}); upgrade zoo")
    return data


def field(card: dict, key: str, kind, path: Path, default=None):
    """``card[key]`` checked to be a ``kind`` (a damaged or hand-edited card is named, never trusted)."""
    value = card.get(key, default)
    if value is default:
        return value
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataError(f"{path.parent / CARD}: '{key}' must be a {names}, found {type(value).__name__}")
    return value


def names(values, what: str, where: Path) -> list:
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise DataError(f"{where}: {what} must be a list of non-empty names")
    return values


def read_labels(labels: Path) -> list:
    try:
        text = labels.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{labels}: not UTF-8 text (byte {exc.start})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def number(value, key: str, where: Path) -> float | None:
    """A finite number from a card (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise DataError(f"{where}: {key} must be a finite number, found {str(value)[:40]!r}")
    return float(value)


def file_entry(card: dict, path: Path) -> dict:
    """The card's ``files`` entry of this file, or ``{}`` (a file the card does not list)."""
    files = card.get("files")
    if files is not None and not isinstance(files, list):
        raise DataError(f"{path.parent / CARD}: 'files' must be a list, found {type(files).__name__}")
    for entry in files or ():
        if isinstance(entry, dict) and entry.get("file") == path.name:
            return entry
    return {}


class ModelCard:
    """``model_card.json`` beside a model file, as ``zoo predict`` reads it: every field checked when read,
    a damaged one named with the file; cards of before (no input spec, no per-file input) read as they
    were meant.

    Attributes:
        model_file: the exported file the card is read for.
        path: the card's path (beside the file; it may not exist).
        data: the card ({} where there is none).
    """

    def __init__(self, model_file: Path):
        self.model_file = Path(model_file)
        self.path = self.model_file.parent / CARD
        self.data = read(self.path) if self.path.is_file() else {}

    def __bool__(self) -> bool:
        return bool(self.data)

    def field(self, key: str, kind, default=None):
        """``card[key]`` checked to be a ``kind``."""
        return field(self.data, key, kind, self.model_file, default)

    def number(self, value, key: str) -> float | None:
        """A finite number read from the card (None stays None)."""
        return number(value, key, self.path)

    def names(self, values, what: str) -> list:
        """A list of non-empty names read from the card."""
        return names(values, what, self.path)

    @property
    def entry(self) -> dict:
        """The card's ``files`` entry of this file, or ``{}``."""
        return file_entry(self.data, self.model_file)

    def layout_name(self) -> str:
        """The layout the card's ``input`` section describes, including cards written before the spec.

        Raises:
            DataError: an old card whose layout is none zoo reads.
        """
        section = self.data.get("input") if isinstance(self.data.get("input"), dict) else {}
        spec = section.get("spec") if isinstance(section.get("spec"), dict) else {}
        try:
            named = layouts.get(str(spec.get("layout")))
        except KeyError:
            named = None
        if named is not None and named.card_key in section:
            return named.name
        if "from_array_file" not in section:  # cards of before the spec: images had a pixel scale only
            return layouts.IMAGE.name
        layout = str(section.get("layout", "sequence")).split(":")[0]  # "sequence: 100 x 2 ..."
        if layout not in (layouts.SEQUENCE.name, layouts.VECTOR.name):
            raise DataError(f"{self.path}: input.layout {layout[:40]!r} is not sequence or vector")
        return layout

    def image_scaling(self) -> tuple[float, float]:
        """``(scale, offset)`` from 8-bit image pixels to this file's input, as the model card records it.

        A file may want its own: the uint8 MediaPipe file takes the pixels as
        they are (its normalisation is inside the graph), so its ``files`` entry
        records ``input.from_image_file`` and that wins over the run's. Cards
        written before zoo recorded it per file are read by the file's variant;
        cards written before ``input.from_image_file`` held only the dataset's
        ``pixel_scale``, which is right for 0..255 datasets; without a card,
        pixels are scaled by 1/255.
        """
        where, path, entry = self.path, self.model_file, self.entry
        section = self.data.get("input") if isinstance(self.data.get("input"), dict) else {}
        own = entry.get("input")
        image = section.get("from_image_file")
        if isinstance(own, dict) and "from_image_file" in own:
            image = own["from_image_file"]
            if not isinstance(image, dict):
                raise DataError(f"{where}: files[{path.name}].input.from_image_file is damaged")
        elif entry.get("variant") == "mediapipe-int8":  # cards of before: uint8 pixels, as they are
            image = {"scale": 1.0, "offset": 0.0}
        try:
            if isinstance(image, dict):
                raw = (image["scale"], image.get("offset", 0.0))
                if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in raw):
                    raise TypeError("not a number")  # "1/255" is a string a person meant, not a scale
                scale, offset = float(raw[0]), float(raw[1])
            else:
                scale, offset = float(section.get("pixel_scale") or DEFAULT_PIXEL_SCALE), 0.0
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{where}: input.from_image_file is damaged") from None
        if not (np.isfinite(scale) and np.isfinite(offset)) or scale <= 0:
            raise DataError(f"{where}: input scale {scale} / offset {offset} cannot be used")
        return scale, offset


# ---------------------------------------------------------------------------
# Writing: the one place a card is made.

def build(context, files: list, keras) -> dict:
    """The card of an export: inputs, outputs, classes, files and their figures (``context``: the
    ``zoo.export.ExportContext``; ``keras``: the Keras model's own check on the test set)."""
    config, run, dataset = context.config, context.run, context.dataset
    task = dataset.task
    spec = dataset.input_spec
    return {
        "model_card_version": CARD_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "run": str(context.run_dir.resolve()),
        "architecture": run.architecture,
        "params": run.params,
        "dataset": run.dataset,
        # The run a QAT stage trained (zoo.train.qat), or None: quantized files say "QAT" or "PTQ".
        "quantization_aware": config.get("quantization_aware"),
        "input": {
            "name": context.model.inputs[0].name if getattr(context.model, "inputs", None) else "image",
            "shape": [None, *run.input_shape],
            "dtype": spec.form.card_dtype(spec),
            "layout": spec.words(),
            "spec": spec.describe(),
            "normalisation": config.get("normalisation", spec.normalisation),
            "pixel_scale": config.get("pixel_scale", spec.scale),
            **spec.form.card_input(spec),  # how a user's file becomes this input (zoo predict reads it)
        },
        "output": task.card_output(),
        "task": task.describe(),
        "class_names": list(dataset.class_names),
        "labels": LABELS,
        "verification": {
            "runtime": "LiteRT (ai_edge_litert) for .tflite files; TensorFlow for the SavedModel",
            "test_set": f"{dataset.name} test set, all {len(dataset.y_test)} "
                        f"{spec.form.counted}",
            **keras.keras_figures(),
            **keras.limits(),
        },
        "options": {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in context.options.items()},
                    # What calibration really used: fewer than asked when the training set is smaller.
                    "representative_size": (len(context._representative)
                                            if context._representative is not None else None)},
        "files": files,
        "versions": versions("ai-edge-litert", "ai-edge-quantizer", "pillow"),
        "trained_with": config.get("versions", {}),
    }

