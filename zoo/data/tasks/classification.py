"""Classification: pick one of ``class_names``; labels are indices into it.

A softmax head with one unit per class, categorical cross-entropy (labels
one-hot inside tf.data), accuracy; scored with a confusion matrix; a file
passes verification with the same top class as Keras everywhere (float) or
within a point of its accuracy, or a drop chance explains (quantized).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.data.tasks import base
from zoo.data.tasks.base import Check, Task, mcnemar


@dataclass
class ClassCheck(Check):
    lost: int = 0  # examples Keras gets right and the file wrong
    gained: int = 0  # ... and the other way round
    classifies = True

    @property
    def chance(self) -> float:
        return mcnemar(self.lost, self.gained)

    @property
    def passed(self) -> bool:
        if self.quantized:
            # Compared in whole examples so that 1 point is exact on any test set size.
            drop = (self.keras_accuracy - self.test_accuracy) * self.images
            # On a small test set one flipped example is several points: a larger drop is refused only
            # when chance cannot explain it.
            return drop <= base.QUANTIZED_POINTS / 100 * self.images + 1e-6 or self.chance >= base.SIGNIFICANCE
        return self.max_abs_diff <= self.atol and self.agreement == 1.0

    def describe(self) -> str:
        if self.quantized:
            return (f"accuracy {self.test_accuracy:.4f} vs Keras {self.keras_accuracy:.4f} "
                    f"({100 * (self.test_accuracy - self.keras_accuracy):+.2f} points; "
                    f"at most -{base.QUANTIZED_POINTS:g} allowed, or more where chance explains it: {self.lost} "
                    f"examples lost and {self.gained} gained, McNemar p = {self.chance:.2g}, "
                    f"below {base.SIGNIFICANCE:g} refuses)")
        return (f"max |difference| {self.max_abs_diff:.2e} (at most {self.atol:g}), "
                f"same top class on {self.agreement:.2%} of {self.images} examples (all required)")

    def to_dict(self) -> dict:
        if self.quantized:
            criterion = (f"accuracy within {base.QUANTIZED_POINTS:g} point of Keras, or a larger drop that "
                         f"chance explains (McNemar's exact one-sided test of the examples lost against those "
                         f"gained, p >= {base.SIGNIFICANCE:g})")
        else:
            criterion = f"max abs difference <= {self.atol:g} and same top class on every image"
        return {"test_accuracy": round(self.test_accuracy, 6), "agreement": round(self.agreement, 6),
                **({"examples_lost": self.lost, "examples_gained": self.gained,
                    "mcnemar_p": float(f"{self.chance:.3g}")} if self.quantized else {}),
                "max_abs_diff": float(f"{self.max_abs_diff:.3g}"), "verified": self.passed,
                "criterion": criterion}


@dataclass(frozen=True)
class Classification(Task):
    """Pick one of ``class_names``; labels are indices into it."""

    class_names: tuple
    kind = "classification"
    summary = "one of several classes (softmax, cross-entropy, accuracy)"
    classifies = True  # one softmax unit per class; labels are indices (Generation too)
    mediapipe = "classifier"
    page_answer = "classes"
    activation = "softmax"
    head_name = "classifier"
    metrics_fields = ("test_accuracy",)
    curve_metrics = ("loss", "accuracy")

    @property
    def output_names(self) -> tuple:
        return tuple(self.class_names)

    @classmethod
    def restore(cls, described: dict, class_names: tuple):
        return cls(tuple(class_names or ()))

    @classmethod
    def names_in_card(cls, card, described: dict) -> list | None:
        """The class names a card records (a generation model's "classes" are its tokens)."""
        names = card.field("class_names", list)
        return card.names(names, "'class_names'") if names is not None else None

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

    def dataset_problem(self, dataset, declared_classes) -> str | None:
        names = dataset.class_names
        if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) for n in names):
            return f"class_names must be a tuple of str. Received: {names!r}"[:300]
        if tuple(self.class_names) != tuple(names):
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

    def class_counts(self, y) -> list | None:
        return [int(c) for c in np.bincount(y, minlength=self.units)]

    def compile_args(self, label_smoothing: float = 0.0) -> dict:
        """Keras ``compile`` arguments: the loss and metrics (labels arrive one-hot)."""
        import keras

        return {"loss": keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
                "metrics": [keras.metrics.CategoricalAccuracy(name="accuracy")]}

    def encode(self, labels):
        """Batch labels as the loss reads them (a tf op, inside tf.data): one-hot."""
        import tensorflow as tf

        return tf.one_hot(labels, self.units)

    def scores(self, outputs: np.ndarray, y: np.ndarray) -> dict:
        from zoo.data import evaluation

        return evaluation.scores(outputs, y, self.class_names)

    def more_scores(self, model, data, outputs) -> dict:
        """Text kept as read: how the model does by how much of each text its vocabulary covers."""
        if data.test_texts is None:
            return {}
        from zoo.data import evaluation

        return evaluation.text_scores(outputs, data.y_test, data.class_names, data.test_texts, data.tokenizer)

    def headline(self, metrics: dict) -> str:
        return f"test accuracy {metrics['test_accuracy']:.4f}"

    def figure(self, metrics: dict) -> str:
        return f"{metrics['test_accuracy']:.4f}"

    def compare(self, name: str, outputs: np.ndarray, reference: np.ndarray, labels: np.ndarray,
                quantized: bool) -> ClassCheck:
        """Accuracy, the share of examples with Keras' top class, the largest probability difference."""
        predicted = outputs.argmax(axis=1)
        keras_right, file_right = reference.argmax(axis=1) == labels, predicted == labels
        return ClassCheck(
            file=name, quantized=quantized,
            test_accuracy=float(np.mean(predicted == labels)),
            keras_accuracy=float(np.mean(reference.argmax(axis=1) == labels)),
            agreement=float(np.mean(predicted == reference.argmax(axis=1))),
            max_abs_diff=float(np.max(np.abs(outputs - reference))) if len(labels) else 0.0,
            images=int(len(labels)), atol=base.FLOAT_ATOL,  # read now: tests tighten it
            lost=int(np.sum(keras_right & ~file_right)), gained=int(np.sum(~keras_right & file_right)))

    def report_sections(self, metrics: dict) -> list:
        """The test texts it was most sure of and wrong about (text), and the accuracy of each class."""
        sections = []
        wrong = metrics.get("most_confidently_wrong")
        if isinstance(wrong, list) and wrong:
            sections.append({"title": "Most confidently wrong test texts", "headers": ["text", "true", "predicted",
                                                                                        "probability"],
                             "rows": [(w.get("text"), w.get("true"), w.get("predicted"), w.get("probability"))
                                      for w in wrong if isinstance(w, dict)]})
        per_class = metrics.get("per_class_accuracy")
        if isinstance(per_class, dict):
            sections.append({"title": "Per class", "headers": ["class", "test accuracy"],
                             "rows": [(name, f"{value:.4f}" if isinstance(value, (int, float)) else value)
                                      for name, value in per_class.items()]})
        return sections

    def card_output(self) -> dict:
        return {"shape": [None, self.units], "dtype": "float32",
                "meaning": "class probabilities (softmax), in the order of labels.txt"}

    def answer(self, row: np.ndarray, top_k: int) -> dict:
        k = max(1, min(int(top_k), len(self.class_names)))
        order = np.argsort(-row, kind="stable")[:k]
        return {"predictions": [{"class": self.class_names[i], "index": int(i), "probability": round(float(row[i]), 6)}
                                for i in order]}

    @classmethod
    def answer_line(cls, answer: dict) -> str:
        return ", ".join(f"{p['class']} {p['probability']:.4f}" for p in answer["predictions"])

    def plot(self, data, metrics: dict, history: dict, outputs, run_dir) -> None:
        """Curves (loss, accuracy), the confusion matrix and the tutorials' prediction grid."""
        from zoo.data import plots

        plots.curves(history, run_dir / "curves.png")
        plots.confusion(np.array(metrics["confusion_matrix"]), data.class_names, run_dir / "confusion.png")
        plots.predictions(data.x_test[:15], data.y_test[:15], outputs[:15], data.class_names,
                          run_dir / "predictions.png", draw=data.input_spec.form.draw)
