"""The dataset object that loaders return and the trainer and exporters use."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    """Train and test arrays with what is needed to use them.

    Images stay in their stored dtype (uint8 for IDX and image folders) and are
    normalised on the fly by ``normalise``; the noisy variants hold float32
    images already in [0, 1].

    Attributes:
        name: the registered dataset name.
        class_names: one name per class; labels are indices into it.
        x_train, y_train, x_test, y_test: arrays of shape (N, H, W) and (N,).
        source: where the data came from: at least ``{"path": ...}``, and for
            files read from disk ``"md5"``: file name -> MD5 of the decoded
            content.
        pixel_scale: model input = pixel * pixel_scale (1/255 for uint8 images).
        stored_range: the stored values of black and white, ``(low, high)``;
            None means (0, 255) for integer images and (0, 1) for float ones.
            It says how an 8-bit image file (``zoo predict``) becomes stored
            values, whatever the dataset's own storage: a dataset stored 0..16
            declares ``(0, 16)``.
    """

    name: str
    class_names: tuple
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: dict = field(default_factory=dict)
    pixel_scale: float = 1.0 / 255.0
    input_kind: str = "image"
    stored_range: tuple | None = None
    task: object = None  # zoo.tasks.Classification(class_names) when None

    def __post_init__(self):
        if self.task is None:
            from zoo.tasks import Classification

            self.task = Classification(tuple(self.class_names))

    @property
    def input_shape(self) -> tuple:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def classes(self) -> int:
        """Output units: one per class, or per regression output."""
        return self.task.units

    @property
    def normalisation(self) -> str:
        """How stored pixels become model input, in words (for model cards)."""
        if self.pixel_scale == 1.0:
            return "float32 pixels in [0, 1], used as they are"
        return f"float32(pixel) * {self.pixel_scale:.10g} (pixel / {round(1 / self.pixel_scale)}), in [0, 1]"

    @property
    def black_white(self) -> tuple:
        """``(low, high)``: the stored values of black and white."""
        if self.stored_range is not None:
            return tuple(float(v) for v in self.stored_range)
        return (0.0, 1.0) if np.issubdtype(self.x_train.dtype, np.floating) else (0.0, 255.0)

    def image_input(self) -> dict:
        """How an 8-bit image file's pixel becomes model input: ``pixel * scale + offset``.

        Independent of how the dataset stores its examples: a file's 0 is the
        dataset's black and 255 its white, then normalised as training was.
        """
        low, high = self.black_white
        scale = (high - low) / 255.0 * self.pixel_scale
        return {"scale": float(f"{scale:.10g}"), "offset": float(f"{low * self.pixel_scale:.10g}"),
                "formula": "float32(8-bit pixel) * scale + offset",
                "stored_range": [low, high]}

    def problem(self, declared_shape=None, declared_classes=None) -> str | None:
        """What is wrong with the arrays (or with what they should match), or None.

        Checked for every loaded dataset, built-in or plugin: array types and
        lengths, empty splits, zero-sized examples, train and test shapes,
        the shape and classes the entry declared, label range, NaN or
        infinity in float data, and class names that could not be written one
        per line.
        """
        from zoo.calls import finite

        problem = self._task_problem(declared_classes)
        if problem:
            return problem
        if not (isinstance(self.pixel_scale, (int, float)) and np.isfinite(self.pixel_scale)
                and self.pixel_scale > 0):
            return f"pixel_scale must be a positive number. Received: {self.pixel_scale!r}"
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
                return f"x_{split} and y_{split} must be numpy arrays"
            if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
                return f"x_{split} has dtype {x.dtype}; expected integers or floats"
            problem = self.task.problem(y, split) if y.ndim >= 1 else f"y_{split} is not an array of targets"
            if problem:
                return problem
            if x.ndim < 2:
                return f"x_{split} has shape {list(x.shape)}; expected (N, ...) with one example per row"
            if len(x) != len(y):
                return f"{split} has {len(x)} examples but {len(y)} labels"
            if len(x) == 0:
                return f"the {split} split is empty"
            if min(x.shape[1:]) < 1:
                return f"{split} examples have shape {list(x.shape[1:])}: a zero-sized dimension"
            if not finite(x):
                return f"x_{split} holds NaN or infinity"
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            return (f"train examples are {list(self.x_train.shape[1:])} but test examples are "
                    f"{list(self.x_test.shape[1:])}")
        if declared_shape is not None and tuple(declared_shape) != self.input_shape:
            return (f"loaded examples of shape {list(self.input_shape)} but the entry declares "
                    f"{list(declared_shape)}")
        return None

    def _task_problem(self, declared_classes) -> str | None:
        """What is wrong with the task or its class names, or None."""
        from zoo.tasks import Classification, Regression

        if isinstance(self.task, Regression):
            return None if self.task.units >= 1 else "a regression task needs at least one output"
        if not isinstance(self.task, Classification):
            return f"task must be zoo.tasks.Classification or Regression. Received: {type(self.task).__name__}"
        names = self.class_names
        if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) for n in names):
            return f"class_names must be a tuple of str. Received: {names!r}"[:300]
        if tuple(self.task.class_names) != tuple(names):
            return "task.class_names and class_names differ"
        for name in names:
            if not name.strip() or any(ord(c) < 32 or ord(c) == 127 for c in name):
                return f"class name {name!r} is empty or holds a control character (a newline, tab ...)"
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                return f"class name {name!r} is not valid UTF-8 (labels.txt and model cards are UTF-8)"
        if len(set(names)) != len(names):
            return "a class name appears twice"
        if len(names) < 2:
            return f"{len(names)} class(es); a classifier needs at least two"
        if declared_classes is not None and tuple(declared_classes) != tuple(names):
            return f"loaded classes {list(names)} but the entry declares {list(declared_classes)}"
        return None

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """Pixels as the model reads them: float32 in [0, 1]."""
        return x.astype(np.float32) * np.float32(self.pixel_scale)

    def summary(self) -> dict:
        """What ``zoo show DATASET`` prints: shapes, classes and counts, range, source."""
        def counts(y):
            if self.task.kind != "classification":
                return None
            return [int(c) for c in np.bincount(y, minlength=self.classes)]

        lo = min(float(self.x_train.min()), float(self.x_test.min())) * self.pixel_scale
        hi = max(float(self.x_train.max()), float(self.x_test.max())) * self.pixel_scale
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "train": {"images": list(self.x_train.shape), "dtype": str(self.x_train.dtype),
                      "class_counts": counts(self.y_train)},
            "test": {"images": list(self.x_test.shape), "dtype": str(self.x_test.dtype),
                     "class_counts": counts(self.y_test)},
            "classes": list(self.class_names),
            "task": self.task.describe(),
            "normalisation": self.normalisation,
            "input_range": [round(lo, 4), round(hi, 4)],
            "source": self.source,
        }
