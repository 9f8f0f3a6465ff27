"""Regression: predict ``len(outputs)`` numbers; scored within ``tolerance`` of the truth.

A linear head with one unit per output, mean squared error; scored by MSE,
MAE, RMSE and the share of test predictions within ``tolerance`` of the
truth (the multiplication tutorial's "correctness"). A float file passes
verification within 1e-4 of the output range; a quantized one with an RMSE at
most 5% above Keras' plus 1% of the output range.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zoo.data.tasks import base
from zoo.data.tasks.base import Check, Task

# Quantized files: RMSE at most this much above Keras', plus a share of the output range.
REGRESSION_RMSE_RATIO, REGRESSION_RANGE_SHARE = 1.05, 0.01


@dataclass
class ValueCheck(Check):
    """``test_accuracy`` is the correctness (within tolerance of the truth); ``agreement`` within it of Keras."""

    rmse: float = 0.0  # the file's and Keras' RMSE on the test set
    keras_rmse: float = 0.0
    span: float = 1.0  # the range of Keras' outputs on the test set

    @property
    def passed(self) -> bool:
        return self.rmse <= self.rmse_limit if self.quantized else self.max_abs_diff <= self.atol

    @property
    def rmse_limit(self) -> float:
        """Quantized: RMSE at most 5% above Keras', plus 1% of the output range."""
        return REGRESSION_RMSE_RATIO * self.keras_rmse + REGRESSION_RANGE_SHARE * self.span

    def describe(self) -> str:
        if self.quantized:
            return (f"RMSE {self.rmse:.4g} vs Keras {self.keras_rmse:.4g} (at most {self.rmse_limit:.4g}: "
                    f"5% above Keras' plus 1% of the output range)")
        return f"max |difference| {self.max_abs_diff:.2e} (at most {self.atol:.3g})"

    def to_dict(self) -> dict:
        criterion = ("RMSE at most 5% above Keras' plus 1% of the output range" if self.quantized else
                     f"max abs difference <= {self.atol:.3g} (1e-4 of the output range)")
        # A regression has no accuracy: its figures say what they are.
        return {"agreement": round(self.agreement, 6), "max_abs_diff": float(f"{self.max_abs_diff:.3g}"),
                "verified": self.passed, "criterion": criterion,
                "test_correctness": round(self.test_accuracy, 6), "test_rmse": round(self.rmse, 8)}

    def keras_figures(self) -> dict:
        return {"keras_test_correctness": round(self.keras_accuracy, 6), "keras_test_rmse": round(self.keras_rmse, 8)}


@dataclass(frozen=True)
class Regression(Task):
    """Predict ``len(outputs)`` numbers; scored within ``tolerance`` of the truth."""

    outputs: tuple = ("value",)
    tolerance: float = 0.04
    kind = "regression"
    summary = "numbers (linear outputs, mean squared error, RMSE and the share within a tolerance)"
    head_name = "regressor"  # linear outputs: the base's activation
    metrics_fields = ("test_rmse", "test_correctness")
    verification_figure = ("test_correctness", "correctness")
    curve_metrics = ("loss", "mae")
    file_columns = (("CORRECT", "test_correctness", ".4f"), ("NEAR KERAS", "agreement", ".2%"),
                    ("MAX DIFF", "max_abs_diff", ".1e"))

    @property
    def output_names(self) -> tuple:
        return tuple(self.outputs)

    @classmethod
    def restore(cls, described: dict, class_names: tuple):
        return cls(tuple(described.get("outputs") or ("value",)), float(described.get("tolerance", 0.04)))

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

    def dataset_problem(self, dataset, declared_classes) -> str | None:
        return None if self.units >= 1 else "a regression task needs at least one output"

    def compile_args(self, label_smoothing: float = 0.0) -> dict:
        import keras

        return {"loss": keras.losses.MeanSquaredError(),
                "metrics": [keras.metrics.MeanAbsoluteError(name="mae")]}

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

    def figure(self, metrics: dict) -> str:
        return f"RMSE {metrics['test_rmse']:.4f}, {metrics['test_correctness']:.1%} ok"

    def compare(self, name: str, outputs: np.ndarray, reference: np.ndarray, labels: np.ndarray,
                quantized: bool) -> ValueCheck:
        """The share within the tolerance of the truth ("correctness", scored like accuracy), the share
        within it of Keras' outputs, the largest difference (float files: at most 1e-4 of the output
        range, or 1e-4 where the range is below 1)."""
        truth = labels.reshape(len(labels), self.units).astype(np.float32)
        reference = reference.reshape(truth.shape)
        outputs = outputs.reshape(truth.shape)

        def correct(values, target):
            return float(np.mean(np.all(np.abs(values - target) <= self.tolerance, axis=1))) if len(truth) else 0.0

        def rmse(values):
            return float(np.sqrt(np.mean((values - truth) ** 2))) if len(truth) else 0.0

        span = float(reference.max() - reference.min()) if len(truth) else 0.0
        return ValueCheck(file=name, quantized=quantized, test_accuracy=correct(outputs, truth),
                          keras_accuracy=correct(reference, truth), agreement=correct(outputs, reference),
                          max_abs_diff=float(np.max(np.abs(outputs - reference))) if len(truth) else 0.0,
                          images=int(len(truth)), atol=base.FLOAT_ATOL * max(1.0, span),
                          rmse=rmse(outputs), keras_rmse=rmse(reference), span=span)

    def card_output(self) -> dict:
        return {"shape": [None, self.units], "dtype": "float32", "names": list(self.outputs),
                "meaning": f"predicted values (linear), in the order of labels.txt; scored within "
                           f"{self.tolerance:g} of the truth"}

    def plot(self, data, metrics: dict, history: dict, outputs, run_dir) -> None:
        """Curves (loss, MAE) and predicted against true values on the test set."""
        from zoo.data import plots

        plots.curves(history, run_dir / "curves.png", metrics=self.curve_metrics)
        plots.predicted_vs_true(np.asarray(outputs), np.asarray(data.y_test), self, run_dir / "predictions.png")
