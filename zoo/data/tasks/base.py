"""What every task has, and how an exported file is judged against the Keras model (``Check``).

A task is a frozen dataclass with a ``kind`` (its registered name); the
methods below are what zoo asks of it. ``Task`` gives the defaults a new task
may keep; ``zoo.tasks.Classification`` and ``Regression`` are complete
examples.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Verification thresholds, for every task (the figures the export issue set).
FLOAT_ATOL = 1e-4  # max |output_file - output_keras| for float files
QUANTIZED_POINTS = 1.0  # a quantized file's figure may drop at most this many points ...
# ... unless chance allows the drop: McNemar's exact test (one-sided) of the examples the file
# gets wrong where Keras was right against those it gets right where Keras was wrong.
SIGNIFICANCE = 0.05
# The fields of a zoo predict answer that name what was answered (the layout's ``example``) or say how
# much of it was known, not what the model said.
ANSWER_NAMES = ("image", "example", "text", "coverage")


@dataclass
class Check:
    """How one exported file compares with the Keras model on the test set (a task's subclass judges).

    ``test_accuracy`` is the task's own figure (a regression's correctness);
    ``agreement`` the share of examples on which the file answers as Keras does.
    """

    file: str
    quantized: bool
    test_accuracy: float
    keras_accuracy: float
    agreement: float
    max_abs_diff: float
    images: int
    atol: float = FLOAT_ATOL  # float files: the largest difference allowed
    classifies = False  # judged on the top class (accuracy, examples lost and gained)

    @property
    def passed(self) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError

    @staticmethod
    def limits() -> dict:
        """The thresholds files are judged by, for the card's ``verification`` section."""
        return {"float_max_abs_diff": FLOAT_ATOL, "quantized_max_accuracy_drop_points": QUANTIZED_POINTS}

    def keras_figures(self) -> dict:
        """The Keras model's own figures, for the card's ``verification`` section."""
        return {"keras_test_accuracy": round(self.keras_accuracy, 6)}


class Task:
    """The defaults of a task; a subclass (a frozen dataclass) sets ``kind`` and overrides what differs.

    Attributes (class level):
        kind: the registered name, recorded in config.json and model cards.
        summary: one line for ``zoo list tasks``.
        classifies: outputs are probabilities over ``class_names`` (labels are indices).
        generates: ``zoo generate`` runs it, not ``zoo predict``.
        mediapipe: the kind of MediaPipe Tasks API that runs it, or None.
        activation: the head's activation; head_name: the head layer's name.
        monitors: the validation figures that may pick the best epoch; by default the validation
            side of ``curve_metrics`` (loss, then the task's own), set when the subclass is defined.
        metrics_fields: what a finished run's metrics.json must hold (``zoo runs`` prints them).
        verification_figure: the card's figure a file is judged on (``test_accuracy``) and its words.
        page_answer: what a web page shows of an answer: ``"values"`` (a row of numbers), ``"classes"``
            (the top classes with bars) or ``"boxes"`` (drawn on the photo).
    """

    kind = "task"
    summary = ""
    classifies = False
    generates = False
    # The MediaPipe Tasks API that runs such a model ("classifier": ImageClassifier, TextClassifier, as
    # the layout's family says), or None: MediaPipe has none for it.
    mediapipe = None
    page_answer = "values"
    answer_score = 0.0  # zoo predict and the web page leave out answers scored below it (a detector's boxes)
    activation = "linear"
    head_name = "outputs"
    monitors = ("val_loss",)  # a subclass that does not set it gets "val_" + each of its curve_metrics
    metrics_fields = ("test_loss",)
    verification_figure = ("test_accuracy", "test accuracy")
    curve_metrics = ("loss",)  # drawn per epoch, train against validation
    # The run's figures its report shows, (file beside it, caption), in order; a missing file is left out.
    figures = (("curves.png", "Training curves"), ("confusion.png", "Confusion matrix"),
               ("predictions.png", "Predictions on the test set"))
    # zoo export's table of files: (header, the card's field of each file, format) per column.
    file_columns = (("ACCURACY", "test_accuracy", ".4f"), ("SAME CLASS", "agreement", ".2%"),
                    ("MAX DIFF", "max_abs_diff", ".1e"))
    aliases = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "monitors" not in cls.__dict__:  # what is drawn per epoch is what may pick the best one
            cls.monitors = tuple(f"val_{name}" for name in cls.curve_metrics)

    @property
    def units(self) -> int:
        return len(self.output_names)

    @property
    def output_names(self) -> tuple:
        """One name per output unit, in order (``labels.txt``)."""
        raise NotImplementedError

    @property
    def output_shape(self) -> tuple:
        """The shape of the model's output for one example (a row of ``units``; a detector's is a row per anchor)."""
        return (self.units,)

    def keras_objects(self) -> dict:
        """Keras objects a run's saved model needs to load (a loss of the task's own), by registered name."""
        return {}

    @classmethod
    def restore(cls, described: dict, class_names: tuple):
        """The task a run's config.json or a model card describes (``describe()``'s output)."""
        raise NotImplementedError

    @classmethod
    def names_in_card(cls, card, described: dict) -> list | None:
        """The output names a model card (a ``zoo.data.card.ModelCard``) records, or None."""
        return card.names(described.get("outputs"), "task.outputs") if "outputs" in described else None

    def describe(self) -> dict:
        return {"kind": self.kind}

    def recipe_for(self, recipe):
        """``recipe`` as this task trains it."""
        return recipe

    def encode(self, targets):
        """Batch targets as the loss reads them (a tf op, inside tf.data)."""
        return targets

    def dataset_problem(self, dataset, declared_classes) -> str | None:
        """What is wrong with a loaded dataset's task or class names, or None."""
        return None if self.units >= 1 else f"a {self.kind} task needs at least one output"

    def compare_answers(self, name: str, answers, reference: np.ndarray, labels: np.ndarray, quantized: bool = False):
        """A runtime's answers on the test examples against Keras' outputs ``reference``, by ``compare``'s
        rules: here its raw outputs, a row per example (LiteRT.js, MediaPipe's classifiers); a task whose
        runtimes post-process the outputs (a detector's boxes) overrides this.

        Raises:
            ValueError: answers that are not one output per example (named in one line).
        """
        try:
            outputs = np.asarray(answers, np.float32)
        except (TypeError, ValueError):
            raise ValueError("answers that are not rows of numbers") from None
        if outputs.shape != np.asarray(reference).shape:
            raise ValueError(f"outputs of shape {list(outputs.shape)}, expected {list(np.asarray(reference).shape)}")
        return self.compare(name, outputs, np.asarray(reference), np.asarray(labels), quantized)

    def postprocess_in_graph(self) -> dict | None:
        """What an exporter needs to write the task's own post-processing into a file's graph (a detector's
        anchors, box coding, score floor and suppression), or None: the outputs are the answer."""
        return None

    def more_scores(self, model, data, outputs) -> dict:
        """Scores beyond ``scores`` that need the Keras model or the data's texts (metrics.json)."""
        return {}

    def class_counts(self, y) -> list | None:
        """How many examples of each class ``y`` holds (``zoo show``), or None where there are no classes."""
        return None

    def figure(self, metrics: dict) -> str:
        """``zoo runs``' short RESULT cell."""
        return self.headline(metrics)

    def card_output(self) -> dict:
        """The model card's ``output`` section."""
        return {"shape": [None, self.units], "dtype": "float32", "names": list(self.output_names),
                "meaning": "the model's outputs, in the order of labels.txt"}

    def report_sections(self, metrics: dict) -> list:
        """The report's sections after the scores table, as data: ``{"title", "rows", "headers", "note",
        "css"}`` each (the report escapes and lays them out)."""
        return []

    def answer(self, row: np.ndarray, top_k: int) -> dict:
        """What ``zoo predict`` says of one example's outputs (besides its name)."""
        return {"values": {c: round(float(v), 6) for c, v in zip(self.output_names, row)}}

    @classmethod
    def answer_line(cls, answer: dict) -> str:
        """``zoo predict``'s line for one answer (after the example's name): the values, or each field."""
        if isinstance(answer.get("values"), dict):
            return ", ".join(f"{k} {v:.6g}" for k, v in answer["values"].items())
        return ", ".join(f"{k} {v}" for k, v in answer.items() if k not in ANSWER_NAMES)

    def plot(self, data, metrics: dict, history: dict, outputs, run_dir) -> None:
        """The run's figures beside its report (curves.png at least)."""
        from zoo.data import plots

        plots.curves(history, run_dir / "curves.png", metrics=self.curve_metrics)


def mcnemar(lost: int, gained: int) -> float:
    """McNemar's exact one-sided p: how likely ``lost`` or more of the ``lost + gained`` examples on which
    a file and Keras disagree about the truth go against the file, were neither better."""
    flips = lost + gained
    return sum(math.comb(flips, k) for k in range(lost, flips + 1)) / 2 ** flips if flips else 1.0
