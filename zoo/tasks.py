"""Tasks: what a dataset asks of a model, and everything that differs by it.

A dataset declares its task (``zoo.DatasetEntry(task=...)``, and the loaded
``Dataset.task``). The task owns the model's head (units and activation),
the training targets, loss and metrics, which validation figures may pick
the best epoch, the test scores in ``metrics.json`` and the headline that
``zoo train`` and ``zoo runs`` print. Nothing else in zoo assumes
classification.

* ``Classification(class_names)``: integer labels, a softmax head with one
  unit per class, categorical cross-entropy, accuracy.
* ``Regression(outputs, tolerance)``: float targets, a linear head with one
  unit per output, mean squared error; scored by MSE, MAE, RMSE and the share
  of test predictions within ``tolerance`` of the truth (the multiplication
  tutorial's "correctness").
* ``Generation(class_names)``: the next token of a text, given the window of
  tokens before it: a classification over the tokenizer's ids (one "class"
  per id, named printably), scored by accuracy, cross-entropy and
  perplexity, without a confusion matrix of every token against every other.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Classification:
    """Pick one of ``class_names``; labels are indices into it."""

    class_names: tuple
    kind = "classification"
    classifies = True  # one softmax unit per class; labels are indices (Generation too)
    activation = "softmax"
    monitors = ("val_loss", "val_accuracy")

    @property
    def units(self) -> int:
        return len(self.class_names)

    def targets(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.int32)

    def describe(self) -> dict:
        return {"kind": self.kind, "classes": list(self.class_names)}

    def problem(self, y: np.ndarray, split: str) -> str | None:
        """What is wrong with one split's labels, or None."""
        if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
            return f"y_{split} is {y.dtype} {list(y.shape)}; expected integer labels (N,)"
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.units):
            bad = int(np.argmax((y < 0) | (y >= self.units)))
            return (f"{split} label {int(y[bad])} at index {bad} is out of range for "
                    f"{self.units} classes (0-{self.units - 1})")
        return None

    def compile_args(self, label_smoothing: float = 0.0) -> dict:
        """Keras ``compile`` arguments: the loss and metrics (labels arrive one-hot)."""
        import keras

        return {"loss": keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
                "metrics": [keras.metrics.CategoricalAccuracy(name="accuracy")]}

    def recipe_for(self, recipe):
        """``recipe`` as this task trains it: unchanged (label smoothing is for classes)."""
        return recipe

    def encode(self, labels):
        """Batch labels as the loss reads them (a tf op, inside tf.data): one-hot."""
        import tensorflow as tf

        return tf.one_hot(labels, self.units)

    def scores(self, outputs: np.ndarray, y: np.ndarray) -> dict:
        from zoo import evaluation

        return evaluation.scores(outputs, y, self.class_names)

    def headline(self, metrics: dict) -> str:
        return f"test accuracy {metrics['test_accuracy']:.4f}"


@dataclass(frozen=True)
class Regression:
    """Predict ``len(outputs)`` numbers; scored within ``tolerance`` of the truth."""

    outputs: tuple = ("value",)
    tolerance: float = 0.04
    kind = "regression"
    classifies = False
    activation = "linear"
    monitors = ("val_loss", "val_mae")

    @property
    def units(self) -> int:
        return len(self.outputs)

    def targets(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float32)
        return y.reshape(len(y), self.units)

    def describe(self) -> dict:
        return {"kind": self.kind, "outputs": list(self.outputs), "tolerance": self.tolerance}

    def problem(self, y: np.ndarray, split: str) -> str | None:
        if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)):
            return f"y_{split} has dtype {y.dtype}; expected numbers"
        if y.shape[1:] not in ((), (self.units,)) or (y.ndim == 1 and self.units != 1):
            return f"y_{split} is {list(y.shape)}; expected (N,) or (N, {self.units}) for outputs {list(self.outputs)}"
        if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
            return f"y_{split} holds NaN or infinity"
        return None

    def compile_args(self, label_smoothing: float = 0.0) -> dict:
        import keras

        return {"loss": keras.losses.MeanSquaredError(),
                "metrics": [keras.metrics.MeanAbsoluteError(name="mae")]}

    def encode(self, targets):
        return targets

    def recipe_for(self, recipe):
        """``recipe`` without what only classes have: label smoothing (recorded as 0)."""
        import dataclasses

        return dataclasses.replace(recipe, label_smoothing=0.0) if recipe.label_smoothing else recipe

    def scores(self, outputs: np.ndarray, y: np.ndarray) -> dict:
        predicted = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), self.units)
        truth = np.asarray(y, dtype=np.float64).reshape(len(y), self.units)
        error = predicted - truth
        mse = float(np.mean(error ** 2))
        within = np.all(np.abs(error) <= self.tolerance, axis=1)
        return {
            "test_mse": round(mse, 8), "test_mae": round(float(np.mean(np.abs(error))), 8),
            "test_rmse": round(math.sqrt(mse), 8),
            "test_correctness": round(float(np.mean(within)), 6),
            "tolerance": self.tolerance, "test_examples": int(len(truth)),
            # The loss the model was trained on, under the name every task has.
            "test_loss": round(mse, 8),
        }

    def headline(self, metrics: dict) -> str:
        return (f"test RMSE {metrics['test_rmse']:.4f}, {metrics['test_correctness']:.2%} within "
                f"{metrics['tolerance']:g}")


@dataclass(frozen=True)
class Generation(Classification):
    """The next token after a window of tokens; ``class_names`` names each token id printably.

    A classifier over the vocabulary, so it trains, exports and verifies as
    one (softmax head, cross-entropy, accuracy = the share of held-out
    windows whose next token is the most probable); what it reports differs:
    perplexity (``exp`` of the cross-entropy) and, in the report, text the
    model wrote (``zoo.generate``).
    """

    kind = "generation"

    def describe(self) -> dict:
        return {"kind": self.kind, "tokens": self.units}

    def scores(self, outputs: np.ndarray, y: np.ndarray) -> dict:
        labels = np.asarray(y, dtype=np.int64)
        picked = np.asarray(outputs)[np.arange(len(labels)), labels]
        loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
        return {"test_accuracy": round(float(np.mean(np.argmax(outputs, axis=1) == labels)), 6),
                "test_loss": round(loss, 6), "test_perplexity": round(math.exp(loss), 4),
                "test_examples": int(len(labels))}

    def headline(self, metrics: dict) -> str:
        return (f"held-out next-token accuracy {metrics['test_accuracy']:.4f}, "
                f"perplexity {metrics['test_perplexity']:.2f}")


def token_label(token: str) -> str:
    """A token as a class name: printable, one line, never empty (JSON's escapes, and ``\\uXXXX``
    for white space), and distinct for distinct tokens."""
    escaped = json.dumps(token, ensure_ascii=False)[1:-1]
    return "".join(c if c.isprintable() and not c.isspace() else f"\\u{ord(c):04x}" for c in escaped)


TASKS = {"classification": Classification, "regression": Regression, "generation": Generation}


def from_config(config: dict):
    """The task a run's config.json records (classification for runs made before tasks)."""
    described = config.get("task") if isinstance(config.get("task"), dict) else {}
    if described.get("kind") == "regression":
        return Regression(tuple(described.get("outputs") or ("value",)),
                          float(described.get("tolerance", 0.04)))
    if described.get("kind") == "generation":
        return Generation(tuple(config.get("class_names") or ()))
    return Classification(tuple(config.get("class_names") or ()))


def headline(config: dict, metrics: dict) -> str:
    """What ``zoo train`` says of a finished run, whatever its task."""
    return from_config(config).headline(metrics)


def figure(config: dict, metrics: dict) -> str:
    """``zoo runs``' short RESULT cell: the accuracy, or RMSE and correctness."""
    if from_config(config).kind == "regression":
        return f"RMSE {metrics['test_rmse']:.4f}, {metrics['test_correctness']:.1%} ok"
    return f"{metrics['test_accuracy']:.4f}"


# What a finished run's metrics.json must hold for zoo runs, by task.
METRICS_FIELDS = {"classification": ("test_accuracy",), "regression": ("test_rmse", "test_correctness"),
                  "generation": ("test_accuracy", "test_perplexity")}


def head(x, task, dropout: float = 0.0):
    """The last layers every architecture ends with: optional dropout, then the task's Dense head.

    Softmax units, one per class, for classification; linear units, one per
    output, for regression. Builders call this instead of writing an
    activation themselves, so that any architecture fits any task.

    Args:
        x: the features (a Keras tensor).
        task: the ``task`` zoo passes to ``build``.
        dropout: dropout rate before the head (0 for none).
    """
    from keras import layers

    if dropout:
        x = layers.Dropout(dropout)(x)
    name = {"classification": "classifier", "generation": "next_token"}.get(task.kind, "regressor")
    return layers.Dense(task.units, activation=task.activation, name=name)(x)
