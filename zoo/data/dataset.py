"""The dataset object that loaders return and the trainer and exporters use."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    """Train and test arrays with what is needed to use them.

    Examples stay in their stored dtype (uint8 for IDX and image folders) and
    are normalised on the fly by ``normalise``, as the input spec says; the
    noisy variants hold float32 images already in [0, 1].

    Attributes:
        name: the registered dataset name.
        class_names: one name per class; labels are indices into it.
        x_train, y_train, x_test, y_test: examples (N x the example's shape)
            and targets (N class indices, or N x outputs values).
        source: where the data came from: at least ``{"path": ...}``, and for
            files read from disk ``"md5"``: file name -> MD5 of the decoded
            content.
        spec: a ``zoo.spec.InputSpec``: layout, dtype, scale and offset,
            channels, stored range. Fields left None are filled in from the
            arrays (``input_spec``).
        pixel_scale, input_kind, stored_range: the short form of a spec
            (its scale, layout and stored_range), used when ``spec`` is None.
        task: ``zoo.tasks.Classification`` or ``Regression``; None means
            classification over ``class_names``.
        test_texts: for text, the test examples as the texts they were read
            as (``zoo export --mediapipe`` gives them to MediaPipe's own
            tokenizer); optional.
        tokenizer: for text, the ``zoo.tokenizer.Tokenizer`` that turned the
            texts into the token ids of ``x_train`` and ``x_test`` (its
            description must be the spec's ``tokenizer``); zoo writes it
            beside the run and the export as ``tokenizer.json``.
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
    spec: object = None  # zoo.spec.InputSpec; built from the short form when None
    tokenizer: object = None  # zoo.tokenizer.Tokenizer, for text
    test_texts: object = None  # text: the test split's texts as read (a phone's runtime is verified on them)

    def __post_init__(self):
        from zoo.data.spec import InputSpec

        if self.task is None:
            from zoo.data.tasks import Classification

            self.task = Classification(tuple(self.class_names))
        if self.spec is None:
            self.spec = InputSpec(self.input_kind, scale=self.pixel_scale, offset=0.0,
                                  stored_range=self.stored_range)
        elif isinstance(self.spec, InputSpec):
            # One description: the short form's attributes say what the spec says.
            self.input_kind, self.stored_range = self.spec.layout, self.spec.stored_range
            if self.spec.scale is not None:
                self.pixel_scale = self.spec.scale

    @property
    def input_spec(self):
        """The complete spec of one example: the declared one, filled in from ``x_train``."""
        return self.spec.of_arrays(self.x_train)

    @property
    def input_shape(self) -> tuple:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def classes(self) -> int:
        """Output units: one per class, or per regression output."""
        return self.task.units

    @property
    def normalisation(self) -> str:
        """How stored values become model input, in words (for model cards)."""
        return self.input_spec.normalisation

    @property
    def black_white(self) -> tuple:
        """``(low, high)``: the stored values of black and white."""
        return self.input_spec.black_white

    def image_input(self) -> dict:
        """How an 8-bit image file's pixel becomes model input (``InputSpec.image_input``)."""
        return self.input_spec.image_input()

    def problem(self, declared_shape=None, declared_classes=None, declared_spec=None) -> str | None:
        """What is wrong with the arrays (or with what they should match), or None.

        Checked for every loaded dataset, built-in or plugin: array types and
        lengths, empty splits, zero-sized examples, train and test shapes,
        the shape, classes and input spec the entry declared (layout, dtype,
        channels, scale), label range, NaN or infinity in float data, and
        class names that could not be written one per line.
        """
        from zoo.data.arrays import finite

        problem = self._task_problem(declared_classes)
        if problem:
            return problem
        from zoo.data.spec import InputSpec

        if not isinstance(self.spec, InputSpec):
            return f"spec must be a zoo.spec.InputSpec. Received: {type(self.spec).__name__}"
        if not (isinstance(self.pixel_scale, (int, float)) and np.isfinite(self.pixel_scale)
                and self.pixel_scale > 0):
            return f"pixel_scale must be a positive number. Received: {self.pixel_scale!r}"
        problem = self.spec.problem()
        if problem:
            return problem
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
            problem = self.spec.array_problem(x, split)
            if problem:
                return problem
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            return (f"train examples are {list(self.x_train.shape[1:])} but test examples are "
                    f"{list(self.x_test.shape[1:])}")
        complete = self.input_spec
        problem = complete.problem()  # the loaded arrays must fit the layout (rank, channels)
        if problem:
            return problem
        if declared_shape is not None and tuple(declared_shape) != self.input_shape:
            return (f"loaded examples of shape {list(self.input_shape)} but the entry declares "
                    f"{list(declared_shape)}")
        if declared_spec is not None:
            problem = declared_spec.disagreement(complete)
            if problem:
                return problem
        # The layout's own checks: a tokenizer that covers the ids, images' black and white.
        return complete.form.data_problem(self)

    def _task_problem(self, declared_classes) -> str | None:
        """What is wrong with the task or its class names, or None."""
        from zoo.data.tasks import Task

        if not isinstance(self.task, Task):
            return f"task must be a zoo.tasks task (Classification, Regression ...). Received: {type(self.task).__name__}"
        return self.task.dataset_problem(self, declared_classes)

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """Examples as the model reads them: float32(x) * scale + offset."""
        return self.input_spec.normalise(x)

    def calibration_examples(self, size: int, seed: int) -> np.ndarray:
        """At most ``size`` training examples drawn with ``seed``, in their order, normalised: what int8's
        ranges are calibrated on (``zoo export``'s converter and a QAT stage's first ranges)."""
        x = self.x_train
        picked = np.sort(np.random.default_rng(seed).choice(len(x), size=min(size, len(x)), replace=False))
        return self.normalise(x[picked])

    def summary(self) -> dict:
        """What ``zoo show DATASET`` prints: shapes, classes and counts, range, source."""
        counts = self.task.class_counts
        spec = self.input_spec
        plural = spec.form.plural
        lo = min(float(self.x_train.min()), float(self.x_test.min())) * spec.scale + spec.offset
        hi = max(float(self.x_train.max()), float(self.x_test.max())) * spec.scale + spec.offset
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            # "images", "sequences" or "vectors": each layout is called what it is.
            "train": {plural: list(self.x_train.shape), "dtype": str(self.x_train.dtype),
                      "class_counts": counts(self.y_train)},
            "test": {plural: list(self.x_test.shape), "dtype": str(self.x_test.dtype),
                     "class_counts": counts(self.y_test)},
            "classes": list(self.class_names),
            "task": self.task.describe(),
            "input": spec.describe(),
            "normalisation": self.normalisation,
            "input_range": [round(lo, 4), round(hi, 4)],
            "source": self.source,
        }
