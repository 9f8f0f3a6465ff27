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

    @property
    def input_shape(self) -> tuple:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def classes(self) -> int:
        return len(self.class_names)

    @property
    def normalisation(self) -> str:
        """How stored pixels become model input, in words (for model cards)."""
        if self.pixel_scale == 1.0:
            return "float32 pixels in [0, 1], used as they are"
        return f"float32(pixel) * {self.pixel_scale:.10g} (pixel / {round(1 / self.pixel_scale)}), in [0, 1]"

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """Pixels as the model reads them: float32 in [0, 1]."""
        return x.astype(np.float32) * np.float32(self.pixel_scale)

    def summary(self) -> dict:
        """What ``zoo show DATASET`` prints: shapes, classes and counts, range, source."""
        def counts(y):
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
            "normalisation": self.normalisation,
            "input_range": [round(lo, 4), round(hi, 4)],
            "source": self.source,
        }
