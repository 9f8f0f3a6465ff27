"""The input spec: a data description of one example, declared by a dataset.

A dataset entry declares what it knows without loading (so ``zoo list`` and
``zoo show`` stay free of TensorFlow and of the data itself); the loaded
``Dataset`` carries the complete spec, and the two are compared when data is
loaded. The trainer, export and predict read the spec instead of assuming
28x28 grayscale pixels divided by 255.

A field left as None in a declaration means "not declared": it is not checked
and is filled in from the loaded arrays.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np


def layout_of(name):
    """The registered layout called ``name`` (``zoo.layouts``), or None."""
    from zoo.data import layouts

    try:
        return layouts.get(name) if isinstance(name, str) else None
    except KeyError:
        return None


@dataclass(frozen=True)
class InputSpec:
    """One example as a dataset stores it, and how it becomes model input.

    Attributes:
        layout: ``"image"`` (height x width, or height x width x channels),
            ``"sequence"`` (time steps x features) or ``"vector"`` (features).
        shape: one example's shape, e.g. ``(28, 28)``, ``(64, 64, 3)`` or
            ``(100, 2)``; None: known only after loading.
        dtype: the stored dtype, e.g. ``"uint8"`` or ``"float32"``; None: not
            declared.
        scale, offset: model input = float32(stored value) * scale + offset
            (``1/255`` and ``0`` for 8-bit pixels). None: not declared.
        channels: for images, ``"gray"``, ``"rgb"`` or ``"rgba"``; None: as
            the shape says (no channel axis or one channel is gray, three rgb).
        stored_range: the stored values of black and white, ``(low, high)``,
            for images; None: ``(0, 255)`` for integers, ``(0, 1)`` for floats.
            It says how an 8-bit image file (``zoo predict``) becomes stored
            values: a dataset stored 0..16 declares ``(0, 16)``.
        tokenizer: for ``"text"``, the tokenizer's description
            (``zoo.tokenizer.Tokenizer.describe()``: its steps, how many ids
            it gives and the SHA-256 of its ``tokenizer.json``, which holds
            the vocabulary); None until a text dataset is loaded.
    """

    layout: str = "image"
    shape: tuple | None = None
    dtype: str | None = None
    scale: float | None = None
    offset: float | None = None
    channels: str | None = None
    stored_range: tuple | None = None
    tokenizer: dict | None = None

    def problem(self) -> str | None:
        """What is wrong with the declaration itself, or None."""
        layout = layout_of(self.layout)
        if layout is None:
            from zoo.data import layouts

            return f"input layout {self.layout!r} is not one of {', '.join(layouts.known())}"
        if self.shape is not None:
            shape = self.shape
            if not isinstance(shape, tuple) or not all(
                    isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1 for d in shape):
                return f"input shape must be a tuple of positive ints. Received: {shape!r}"
        if self.dtype is not None:
            try:
                dtype = np.dtype(self.dtype)
            except TypeError:
                return f"input dtype {self.dtype!r} is not a numpy dtype"
            if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
                return f"input dtype {self.dtype} is not integers or floats"
        for name in ("scale", "offset"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                return f"input {name} must be a finite number. Received: {value!r}"
        if self.scale is not None and self.scale <= 0:
            return f"input scale must be positive. Received: {self.scale!r}"
        problem = layout.shape_problem(self)  # ranks, channels, what its values must be
        if problem:
            return problem
        if self.tokenizer is not None and (not isinstance(self.tokenizer, dict) or not isinstance(
                self.tokenizer.get("ids"), int) or self.tokenizer["ids"] < 2):
            return "tokenizer must be a tokenizer's description (zoo.tokenizer.Tokenizer.describe())"
        if self.stored_range is not None:
            low_high = self.stored_range
            if (not isinstance(low_high, (tuple, list)) or len(low_high) != 2
                    or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in low_high)
                    or not low_high[0] < low_high[1]):
                return f"stored_range must be (low, high) with low < high. Received: {low_high!r}"
        return None

    def of_arrays(self, x) -> InputSpec:
        """This spec completed from loaded examples ``x`` (N x shape): shape, dtype, channels."""
        shape = tuple(int(d) for d in x.shape[1:])
        dtype = np.dtype(x.dtype)
        layout = layout_of(self.layout)
        default_scale = layout.default_scale(dtype)  # 8-bit pixels are divided by 255; token ids used as they are
        return replace(
            self, shape=self.shape if self.shape is not None else shape,
            dtype=self.dtype if self.dtype is not None else dtype.name,
            scale=self.scale if self.scale is not None else default_scale,
            offset=self.offset if self.offset is not None else 0.0,
            channels=self.channels or layout.channels_of(shape))

    def disagreement(self, loaded: InputSpec) -> str | None:
        """How ``loaded`` (a dataset's complete spec) differs from this declaration, or None."""
        for name, words in (("layout", "layout"), ("shape", "examples of shape"), ("dtype", "dtype"),
                            ("channels", "channels"), ("scale", "scale"), ("offset", "offset")):
            declared, got = getattr(self, name), getattr(loaded, name)
            if declared is None:
                continue
            if name == "shape":
                declared, got = list(declared), list(got)
            elif name in ("scale", "offset"):
                if math.isclose(declared, got, rel_tol=1e-9, abs_tol=1e-12):
                    continue
            if declared != got:
                return f"loaded {words} {got} but the entry declares {declared}"
        return None

    def array_problem(self, x, split: str) -> str | None:
        """What is wrong with ``x_<split>`` for this (complete) spec, or None."""
        if self.dtype is not None and np.dtype(x.dtype) != np.dtype(self.dtype):
            return f"x_{split} has dtype {x.dtype} but the input spec says {self.dtype}"
        if self.shape is not None and tuple(x.shape[1:]) != tuple(self.shape):
            return f"x_{split} holds examples of shape {list(x.shape[1:])}; the input spec says {list(self.shape)}"
        return None

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """Stored examples as the model reads them: float32(x) * scale + offset."""
        out = np.asarray(x).astype(np.float32) * np.float32(self.scale if self.scale is not None else 1.0)
        if self.offset:
            out += np.float32(self.offset)
        return out

    @property
    def black_white(self) -> tuple:
        """``(low, high)``: the stored values of black and white (images)."""
        if self.stored_range is not None:
            return tuple(float(v) for v in self.stored_range)
        integer = self.dtype is not None and np.issubdtype(np.dtype(self.dtype), np.integer)
        return (0.0, 255.0) if integer else (0.0, 1.0)

    def image_input(self) -> dict:
        """How an 8-bit image file's pixel becomes model input: ``pixel * scale + offset``.

        Independent of how the dataset stores its examples: a file's 0 is the
        dataset's black and 255 its white, then normalised as training was.
        """
        low, high = self.black_white
        scale, offset = self.scale or 1.0, self.offset or 0.0
        return {"scale": float(f"{(high - low) / 255.0 * scale:.10g}"),
                "offset": float(f"{low * scale + offset:.10g}"),
                "formula": "float32(8-bit pixel) * scale + offset",
                "stored_range": [low, high]}

    @property
    def normalisation(self) -> str:
        """How stored values become model input, in words (for model cards)."""
        scale, offset = self.scale if self.scale is not None else 1.0, self.offset or 0.0
        if scale == 1.0 and not offset:
            return "float32(value): stored values used as they are"
        words = f"float32(value) * {scale:.10g}"
        if 1 / scale == round(1 / scale):
            words += f" (value / {round(1 / scale)})"
        return words + (f" + {offset:.10g}" if offset else "")

    def words(self) -> str:
        """``image 28 x 28, gray`` / ``sequence 100 x 2 (time steps x features)``."""
        return layout_of(self.layout).words(self)

    @property
    def form(self):
        """The ``zoo.layouts.Layout`` this spec's examples have."""
        return layout_of(self.layout)

    def describe(self) -> dict:
        out = asdict(self)
        out["shape"] = list(self.shape) if self.shape is not None else None
        out["stored_range"] = list(self.stored_range) if self.stored_range is not None else None
        return out

    @classmethod
    def from_dict(cls, data: dict) -> InputSpec:
        """The spec a run's config.json or a model card recorded (``describe()``'s output)."""
        fields = {k: data.get(k) for k in cls.__dataclass_fields__ if k in data}
        if fields.get("shape") is not None:
            fields["shape"] = tuple(int(d) for d in fields["shape"])
        if fields.get("stored_range") is not None:
            fields["stored_range"] = tuple(fields["stored_range"])
        spec = cls(**fields)
        problem = spec.problem()
        if problem:
            raise ValueError(problem)
        return spec


def image(shape=None, dtype="uint8", channels=None, scale=None, stored_range=None) -> InputSpec:
    """An image spec: 8-bit pixels divided by 255 unless said otherwise."""
    if scale is None and dtype is not None:
        scale = 1.0 / 255.0 if np.issubdtype(np.dtype(dtype), np.integer) else 1.0
    return InputSpec("image", None if shape is None else tuple(shape), dtype, scale, 0.0, channels, stored_range)


def sequence(shape=None, dtype="float32", scale=1.0) -> InputSpec:
    """A sequence spec: time steps x features, float values used as stored."""
    return InputSpec("sequence", None if shape is None else tuple(shape), dtype, scale, 0.0)


def text(length=None, tokenizer=None) -> InputSpec:
    """A text spec: ``length`` int32 token ids, used as they are (an Embedding reads them).

    ``tokenizer``: the ``zoo.tokenizer.Tokenizer`` that made them, once fitted.
    """
    return InputSpec("text", None if length is None else (int(length),), "int32", 1.0, 0.0,
                     tokenizer=tokenizer.describe() if tokenizer is not None else None)


def vector(shape=None, dtype="float32", scale=1.0) -> InputSpec:
    """A vector spec: one row of features, used as stored."""
    return InputSpec("vector", None if shape is None else tuple(shape), dtype, scale, 0.0)
