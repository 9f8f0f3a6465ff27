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

# Layout -> the meaning of one example's axes, for errors and model cards.
LAYOUTS = {
    "image": "height x width, or height x width x channels",
    "sequence": "time steps x features",
    "vector": "features",
    "text": "token ids (a tokenizer's output)",
}
# The number of an image's channels -> what they mean; an image without a
# channel axis is gray.
CHANNELS = {1: "gray", 3: "rgb", 4: "rgba"}


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
        if self.layout not in LAYOUTS:
            return f"input layout {self.layout!r} is not one of {', '.join(LAYOUTS)}"
        if self.shape is not None:
            shape = self.shape
            if not isinstance(shape, tuple) or not all(
                    isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1 for d in shape):
                return f"input shape must be a tuple of positive ints. Received: {shape!r}"
            ranks = {"image": (2, 3), "sequence": (2,), "vector": (1,), "text": (1,)}[self.layout]
            if len(shape) not in ranks:
                article = "an" if self.layout[0] in "aeiou" else "a"
                return (f"{article} {self.layout} example is {LAYOUTS[self.layout]}; "
                        f"shape {list(shape)} has {len(shape)} axes")
            if self.layout == "image" and len(shape) == 3 and shape[2] not in CHANNELS:
                return f"an image has 1, 3 or 4 channels; shape {list(shape)} has {shape[2]}"
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
        if self.channels is not None:
            if self.layout != "image":
                return f"channels describe images; a {self.layout} has none"
            if self.channels not in CHANNELS.values():
                return f"channels {self.channels!r} is not one of {', '.join(CHANNELS.values())}"
            if self.shape is not None and self.channels != _channels_of(self.shape):
                return f"channels {self.channels!r} but shape {list(self.shape)} holds {_channels_of(self.shape)}"
        if self.layout == "text" and self.dtype is not None and not np.issubdtype(np.dtype(self.dtype), np.integer):
            return f"text is token ids: integers, not {self.dtype}"
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
        # 8-bit pixels are divided by 255; token ids are used as they are.
        default_scale = 1.0 / 255.0 if np.issubdtype(dtype, np.integer) and self.layout != "text" else 1.0
        return replace(
            self, shape=self.shape if self.shape is not None else shape,
            dtype=self.dtype if self.dtype is not None else dtype.name,
            scale=self.scale if self.scale is not None else default_scale,
            offset=self.offset if self.offset is not None else 0.0,
            channels=(self.channels or _channels_of(shape)) if self.layout == "image" else None)

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

    def range_problem(self, low: float, high: float) -> str | None:
        """Whether images whose stored values span ``low..high`` contradict their black and white.

        ``zoo predict`` maps an image file's 0..255 onto ``black_white``; if
        the data lies outside it, or (undeclared) fills only a corner of the
        default 0..255 or 0..1, every predicted image would be fed values the
        model never saw. A dataset stored 0..16 must say so
        (``stored_range=(0, 16)``); zoo refuses it at load rather than let
        ``zoo predict`` answer wrongly.
        """
        if self.layout != "image":
            return None
        black, white = self.black_white
        span = white - black
        declared = "declared" if self.stored_range is not None else "default"
        fix = f"declare its black and white: zoo.spec.image(..., stored_range=({_g(low)}, {_g(high)}))"
        if low < black - span / 100 or high > white + span / 100:
            return (f"images hold values {_g(low)}..{_g(high)}, outside their {declared} stored range "
                    f"{_g(black)}..{_g(white)} (black..white); {fix}")
        if self.stored_range is None and high - black < span / 8:
            return (f"images hold values {_g(low)}..{_g(high)}, a small corner of the default stored range "
                    f"{_g(black)}..{_g(white)}: zoo predict would map an image file's white to {_g(white)}; {fix}")
        return None

    def range_from_scale(self, low: float, high: float) -> tuple | None:
        """The stored range a declared scale implies, where nothing declares one: a scale puts white at
        ``1 / scale`` (``pixel_scale=1/16``: digits stored 0..16), if the data fills that range (more
        than an eighth of it, nothing outside). None where the scale says nothing new or the data
        disagrees (then ``range_problem`` names it)."""
        if self.layout != "image" or self.stored_range is not None or not self.scale or self.offset:
            return None
        white = 1.0 / self.scale
        if abs(white - self.black_white[1]) <= 1e-6 * white:  # the default range already says it
            return None
        if low < -white / 100 or high > white * 1.01 or high < white / 8:
            return None
        return (0.0, float(f"{white:.10g}"))

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
        shape = " x ".join(map(str, self.shape)) if self.shape else "of any shape"
        if self.layout == "image":  # height x width; the channels say the rest
            size = " x ".join(map(str, self.shape[:2])) if self.shape else "of any size"
            return f"image {size}, {self.channels or 'gray'}"
        return f"{self.layout} {shape} ({LAYOUTS[self.layout]})"

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


def _g(value: float) -> str:
    return f"{float(value):.6g}"


def _channels_of(shape: tuple) -> str:
    return CHANNELS.get(shape[2], "gray") if len(shape) == 3 else "gray"


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
