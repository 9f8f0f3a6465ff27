"""What a user may set, described as data: a ``Param`` (a hyperparameter, a dataset's or an exporter's
option: type, help, default, bounds) and a ``Recipe`` (how to train: optimizer, schedule, stopping)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Param:
    """A documented, overridable hyperparameter of an architecture.

    Attributes:
        default: the value without ``-p``; its type is the type ``-p`` parses
            (bool, int, float, str, or a tuple of ints as a comma list).
        help: one line for ``zoo show ARCH``.
        low, high: the allowed range of a number (each element of a tuple),
            both inclusive; None for no bound. Floats must be finite anyway.
        choices: the allowed values of a string.
        max_length: the most values a tuple may hold (each checked against
            ``low`` and ``high``).
        search: what ``zoo tune`` tries: for an int or float, ``(low,
            high)`` (sampled on a log scale when ``low > 0`` and ``high /
            low >= 100``); for anything else, the values to try. None: not
            searched.
    """

    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    search: tuple | None = None
    max_length: int = 16
    # Export options (``Exporter.options``) become ``zoo export`` flags: ``metavar`` names the value in
    # ``--help``; ``multiple`` lets the flag repeat (and take comma lists); ``parse(values)`` turns what
    # was typed into the value (raising ``UsageError`` with "did you mean"); ``meanings`` says what
    # each choice does, for the error that names the exporter a value needs.
    metavar: str | None = None
    multiple: bool = False
    parse: Callable[..., Any] | None = None
    meanings: Mapping[str, str] | None = None

    @property
    def kind(self) -> str:
        """What a value must be, in words, after the type of ``default``."""
        default = self.default
        if isinstance(default, bool):
            return "true or false"
        if isinstance(default, int):
            return "an integer"
        if isinstance(default, float):
            return "a number"
        if isinstance(default, tuple):
            return f"a comma-separated list of 1 to {self.max_length} integers"
        if isinstance(default, str):
            return "a string"
        return "a value"

    def _right_type(self, value) -> bool:
        default = self.default
        if isinstance(default, bool):
            return isinstance(value, bool)
        if isinstance(default, int):
            return isinstance(value, int) and not isinstance(value, bool)
        if isinstance(default, float):
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(default, tuple):
            return (isinstance(value, tuple) and 1 <= len(value) <= self.max_length
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in value))
        if isinstance(default, str):
            return isinstance(value, str)
        return True  # a default of None or another type: the builder checks

    def problem(self, value) -> str | None:
        """What ``value`` should be instead ("at most 0.95"), or None when it is allowed.

        The value must have the type of ``default`` (a recipe file or a
        ``zoo tune`` study can hold anything), then fit ``choices``,
        ``low``/``high`` and ``max_length``.
        """
        import math

        if not self._right_type(value):
            return self.kind
        if self.choices is not None and value not in self.choices:
            return f"one of {', '.join(map(str, self.choices))}"
        numbers = value if isinstance(value, tuple) else (value,)
        for number in numbers:
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                continue
            if isinstance(number, float) and not math.isfinite(number):
                return "a finite number"
            if self.low is not None and number < self.low:
                return f"at least {self.low:g}"
            if self.high is not None and number > self.high:
                return f"at most {self.high:g}"
        return None


@dataclass(frozen=True)
class Recipe:
    """How to train: optimizer, schedule and stopping rule.

    ``params`` overrides the architecture's hyperparameter defaults, so a recipe
    can change the model as well as how it is fitted; ``note`` is the one
    line ``zoo show ARCH`` prints for it (where its settings come from, what
    they were measured to give).

    ``min_steps`` makes a recipe fit the data's size: a recipe written for
    60,000 images at batch 128 gives a folder of 200 photos two steps an
    epoch, too few for batch-norm statistics (or anything else) to settle. On
    such data the batch size shrinks, never below ``MIN_ADAPTED_BATCH``,
    until an epoch takes at least ``min_steps`` steps; a ``--batch-size``
    (or a recipe file's) is used as given.
    """

    optimizer: str = "adam"
    learning_rate: float | None = None  # None: the optimizer's Keras default
    batch_size: int = 32
    epochs: int = 5
    validation_split: float = 0.0  # 0: no validation set
    patience: int | None = None  # EarlyStopping on ``monitor``; None: off
    # Which validation figure picks the best epoch (checkpoint and early
    # stopping): "val_loss" or "val_accuracy". With label smoothing and late
    # over-fitting the two disagree, and accuracy is what a classifier is for.
    monitor: str = "val_loss"
    augment: str | None = None  # a name in zoo.trainer.AUGMENTATIONS; None: off
    label_smoothing: float = 0.0
    schedule: str = "constant"  # or "cosine": cosine decay over all steps
    weight_decay: float | None = None  # for adamw
    momentum: float | None = None  # for sgd and rmsprop; None: Keras' default (0)
    min_steps: int | None = None  # see above; None: the batch size whatever the data's size
    params: Mapping[str, Any] = field(default_factory=dict)
    # The dataset's load options this recipe was measured with (NSMC's tuned textcnn reads
    # syllables: {"tokenizer": "syllables"}); an option given by flag wins, and one the
    # dataset does not have is left out.
    data_options: Mapping[str, Any] = field(default_factory=dict)
    # The quantization-aware stage (``zoo train --from RUN --qat``, zoo.train.qat): its epochs, and its
    # learning rate (None: a tenth of ``learning_rate``, as fine-tuning a trained model goes slower).
    qat_epochs: int = 3
    qat_learning_rate: float | None = None
    note: str = ""

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["params"] = dict(self.params)
        out["data_options"] = dict(self.data_options)
        return out
