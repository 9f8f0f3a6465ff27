"""Object detection: boxes and classes per photo, a single-shot detector's outputs, COCO scores.

Targets are, per photo, a ``(boxes, 5)`` float32 array of ``class, ymin, xmin,
ymax, xmax`` (fractions of the photo; none for a background photo). The model
answers one row per anchor of the task's ``AnchorGrid``: four box codes
(``BoxCoding``) and one logit per class (sigmoid: a photo may hold several
classes, or none). Trained with RetinaNet's focal loss and a Huber box loss as
MediaPipe Model Maker's detector is; scored with pycocotools' COCO mAP.
"""
from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.data.tasks import base
from zoo.data.tasks.base import Check, Task

# Model Maker's detector loss (mediapipe/model_maker .../object_detector/hyperparameters.py and
# tf-models' RetinaNet): focal alpha 0.25, gamma 1.5; Huber delta 0.1 weighted 50.
FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 1.5
HUBER_DELTA, BOX_WEIGHT = 0.1, 50.0
# A file's boxes agree with Keras' when they overlap this much (IoU), class for class. MediaPipe gives
# boxes in whole pixels of the model's input: each edge off by up to half a pixel keeps a 40-pixel box
# (an eighth of a 320 x 320 input) above (39/41)^2 = 0.90.
SAME_BOX_IOU = 0.9
SAME_SCORE = 0.01  # ... and their scores differ by at most this
ANSWER_SCORE = 0.3  # zoo predict's default floor for a box it prints


def detection_loss(y_true, y_pred, classes: int):
    """Focal loss over every anchor not ignored, Huber over the anchors that hold a box, each summed
    and divided by the number of anchors that hold a box (at least one). ``y_true``: (B, A, 5) codes and
    class (-1 background, -2 ignored); ``y_pred``: (B, A, 4 + classes) codes and logits."""
    import tensorflow as tf

    labels = y_true[..., 4]
    positive = tf.cast(labels >= 0, tf.float32)
    counted = tf.cast(labels > -1.5, tf.float32)
    positives = tf.maximum(tf.reduce_sum(positive), 1.0)
    truth = tf.one_hot(tf.cast(tf.maximum(labels, 0), tf.int32), classes) * positive[..., None]
    logits = y_pred[..., 4:]
    cross = tf.nn.sigmoid_cross_entropy_with_logits(labels=truth, logits=logits)
    p = tf.sigmoid(logits)
    p_t = truth * p + (1 - truth) * (1 - p)
    alpha = truth * FOCAL_ALPHA + (1 - truth) * (1 - FOCAL_ALPHA)
    focal = tf.reduce_sum(alpha * tf.pow(1 - p_t, FOCAL_GAMMA) * cross * counted[..., None])
    error = tf.abs(y_true[..., :4] - y_pred[..., :4])
    huber = tf.where(error <= HUBER_DELTA, 0.5 * error ** 2, HUBER_DELTA * (error - 0.5 * HUBER_DELTA))
    box = tf.reduce_sum(huber * positive[..., None]) / 4.0
    return (focal + BOX_WEIGHT * box) / positives


def _loss_class():
    """The loss as a registered Keras ``Loss`` (made when first asked for: Keras loads with this module)."""
    import keras

    name = "zoo>DetectionLoss"
    known = keras.saving.get_registered_object(name)
    if known is not None:
        return known

    @keras.saving.register_keras_serializable(package="zoo", name="DetectionLoss")
    class DetectionLoss(keras.losses.Loss):
        def __init__(self, classes: int = 1, name="detection_loss", **kwargs):
            super().__init__(name=name, **kwargs)
            self.classes = int(classes)

        def call(self, y_true, y_pred):
            import tensorflow as tf

            # One figure per batch: normalised by the batch's positives, not averaged per photo.
            return tf.fill(tf.shape(y_true)[:1], detection_loss(y_true, y_pred, self.classes))

        def get_config(self):
            return {**super().get_config(), "classes": self.classes}

    return DetectionLoss


@dataclass
class BoxCheck(Check):
    """A detector file against Keras: mAP@0.5 within a point (quantized) and the same boxes (float)."""

    keras_map: float = 0.0
    file_map: float = 0.0
    same_boxes: float = 1.0  # the share of the file's boxes that Keras gives too (same class and score, IoU)

    @property
    def passed(self) -> bool:
        close_map = (self.keras_map - self.file_map) * 100 <= base.QUANTIZED_POINTS + 1e-9
        return close_map and (self.quantized or (self.max_abs_diff <= self.atol and self.same_boxes == 1.0))

    def describe(self) -> str:
        if self.quantized:
            return (f"mAP@0.5 {self.file_map:.4f} vs Keras {self.keras_map:.4f} "
                    f"({100 * (self.file_map - self.keras_map):+.2f} points; at most -{base.QUANTIZED_POINTS:g})")
        return (f"max |difference| {self.max_abs_diff:.2e} in boxes and scores (at most {self.atol:g}), "
                f"{self.same_boxes:.2%} of its boxes are Keras' (all required), mAP@0.5 {self.file_map:.4f} "
                f"vs Keras {self.keras_map:.4f} (at most {base.QUANTIZED_POINTS:g} point below)")

    def to_dict(self) -> dict:
        return {"test_map50": round(self.file_map, 6), "same_boxes": round(self.same_boxes, 6),
                "max_abs_diff": float(f"{self.max_abs_diff:.3g}"), "verified": self.passed,
                "criterion": (f"mAP@0.5 within {base.QUANTIZED_POINTS:g} point of Keras" if self.quantized else
                              f"boxes (fractions of the photo) and scores within {self.atol:g} of Keras'; every box "
                              f"it gives above {ANSWER_SCORE} is one Keras gives (same class, IoU >= {SAME_BOX_IOU}, "
                              f"score within {SAME_SCORE}); mAP@0.5 within {base.QUANTIZED_POINTS:g} point")}

    def keras_figures(self) -> dict:
        return {"keras_test_map50": round(self.keras_map, 6)}


@dataclass(frozen=True)
class Detection(Task):
    """Find each object of ``class_names`` in a photo: its box and class."""

    class_names: tuple
    anchors: Any = None  # an AnchorGrid; None: the default grid
    coding: Any = None  # a BoxCoding; None: SSD's
    kind = "detection"
    summary = "boxes and classes in a photo (anchors, focal + Huber loss, COCO mAP)"
    mediapipe = "detector"
    page_answer = "boxes"
    answer_score = ANSWER_SCORE
    head_name = "detections"
    metrics_fields = ("test_map", "test_map50")
    verification_figure = ("test_map50", "mAP@0.5")
    aliases = ("object-detection",)
    figures = (("curves.png", "Training curves"), ("detections.png", "Test photos: true and found boxes"),
               ("precision_recall.png", "Precision against recall (IoU 0.5)"))
    file_columns = (("MAP@0.5", "test_map50", ".4f"), ("SAME BOXES", "same_boxes", ".2%"),
                    ("MAX DIFF", "max_abs_diff", ".1e"))

    def __post_init__(self):
        # zoo.data.anchors is imported here, when a detection task is made, not when the class is:
        # every command that loads plugins (zoo list) registers this class.
        from zoo.data.anchors import AnchorGrid, BoxCoding

        if self.anchors is None:
            object.__setattr__(self, "anchors", AnchorGrid())
        if self.coding is None:
            object.__setattr__(self, "coding", BoxCoding())

    @property
    def output_names(self) -> tuple:
        return tuple(self.class_names)

    @property
    def output_shape(self) -> tuple:
        return (len(self.anchors.anchors()), 4 + self.units)

    @classmethod
    def restore(cls, described: dict, class_names: tuple):
        from zoo.data.anchors import AnchorGrid, BoxCoding

        return cls(tuple(class_names or ()), AnchorGrid.restore(described["anchors"]),
                   BoxCoding(**described.get("coding", {})))

    def describe(self) -> dict:
        return {"kind": self.kind, "classes": list(self.class_names), "anchors": self.anchors.describe(),
                "coding": self.coding.describe()}

    def problem(self, y: np.ndarray, split: str) -> str | None:
        if y.ndim != 1 or y.dtype != object:
            return f"y_{split} must hold one (boxes, 5) array per photo (an object array). Received: {y.dtype} {list(y.shape)}"
        for n, boxes in enumerate(y):
            if not isinstance(boxes, np.ndarray) or boxes.ndim != 2 or boxes.shape[1] != 5:
                return f"y_{split}[{n}] must be a (boxes, 5) array of class, ymin, xmin, ymax, xmax"
            if len(boxes) and (not np.isfinite(boxes).all() or (boxes[:, 0] < 0).any()
                               or (boxes[:, 0] >= self.units).any() or (boxes[:, 1:] < 0).any()
                               or (boxes[:, 1:] > 1).any() or (boxes[:, 3] <= boxes[:, 1]).any()
                               or (boxes[:, 4] <= boxes[:, 2]).any()):
                return f"y_{split}[{n}] holds a box outside the photo, inverted, or of an unknown class"
        return None

    def dataset_problem(self, dataset, declared_classes) -> str | None:
        if tuple(dataset.class_names) != self.class_names:
            return "the task's class names are not the dataset's"
        if tuple(dataset.input_shape[:2]) != tuple(self.anchors.image_size):
            return (f"the anchors are laid on {list(self.anchors.image_size)} images but the photos are "
                    f"{list(dataset.input_shape[:2])}")
        return super().dataset_problem(dataset, declared_classes)

    def class_counts(self, y) -> list | None:
        counts = np.zeros(self.units, np.int64)
        for boxes in y:
            counts += np.bincount(boxes[:, 0].astype(np.int64), minlength=self.units)
        return [int(c) for c in counts]

    def targets(self, y: np.ndarray) -> np.ndarray:
        from zoo.data.anchors import assign

        anchors = self.anchors.anchors()
        return np.stack([assign(boxes, anchors, self.coding) for boxes in y]) if len(y) else np.zeros(
            (0, len(anchors), 5), np.float32)

    def compile_args(self, label_smoothing: float = 0.0) -> dict:
        return {"loss": _loss_class()(self.units)}

    def keras_objects(self) -> dict:
        return {"zoo>DetectionLoss": _loss_class()}

    # --- from outputs to boxes -------------------------------------------------

    def decoded(self, outputs: np.ndarray) -> tuple:
        """``(boxes, probabilities)`` of every anchor from raw outputs ``(..., A, 4 + C)``."""
        boxes = self.coding.decode(outputs[..., :4], self.anchors.anchors())
        probabilities = 1.0 / (1.0 + np.exp(-np.clip(outputs[..., 4:].astype(np.float64), -60, 60)))
        return boxes, probabilities.astype(np.float32)

    def detections(self, outputs: np.ndarray, post=None) -> list:
        """Per photo, ``[(class, score, ymin, xmin, ymax, xmax)]`` from raw outputs ``(N, A, 4 + C)``,
        kept by ``post`` (a ``zoo.data.anchors.Postprocess``; None: its defaults, MediaPipe's)."""
        from zoo.data.anchors import Postprocess

        post = Postprocess() if post is None else post
        boxes, probabilities = self.decoded(outputs)
        return [post.detections(b, p) for b, p in zip(boxes, probabilities)]

    def scores(self, outputs: np.ndarray, y: np.ndarray) -> dict:
        found = self.detections(outputs)
        return coco_scores(found, y, self.class_names, self.anchors.image_size)

    def headline(self, metrics: dict) -> str:
        return f"test mAP@0.5 {metrics['test_map50']:.4f}, mAP@[.5:.95] {metrics['test_map']:.4f}"

    def figure(self, metrics: dict) -> str:
        return f"{metrics['test_map50']:.4f}"

    def compare(self, name: str, outputs: np.ndarray, reference: np.ndarray, labels: np.ndarray,
                quantized: bool) -> BoxCheck:
        """The file's raw outputs against Keras': boxes and scores of every anchor, the boxes found, mAP@0.5."""
        mine, theirs = self.decoded(outputs), self.decoded(reference)
        diff = max(float(np.max(np.abs(mine[0] - theirs[0]))), float(np.max(np.abs(mine[1] - theirs[1])))) if len(
            outputs) else 0.0
        return self.compare_found(name, self.detections(outputs), reference, labels, quantized, diff)

    def postprocess_in_graph(self) -> dict:
        """Anchors (cy, cx, h, w), the box coding and ``Postprocess``' floor and overlap, for a file that keeps
        its boxes itself (``zoo export --litert-boxes``)."""
        from zoo.data.anchors import Postprocess

        post = Postprocess()
        return {"anchors": self.anchors.anchors().tolist(), "coding": self.coding.describe(),
                "classes": self.units, "min_score": post.min_score, "iou_threshold": post.iou_threshold}

    def compare_answers(self, name: str, answers, reference: np.ndarray, labels: np.ndarray, quantized: bool = False):
        """A runtime's boxes per photo (``[(class, score, ymin, xmin, ymax, xmax)]``, what MediaPipe's
        ObjectDetector keeps, in Python or a browser) against Keras, by ``compare_found``."""
        if not isinstance(answers, (list, tuple)) or len(answers) != len(reference):
            raise ValueError(f"boxes for {len(answers) if isinstance(answers, (list, tuple)) else 'no'} photos, "
                             f"expected {len(reference)}")
        found = []
        for photo in answers:
            try:
                boxes = [(int(b[0]), *(float(v) for v in b[1:])) for b in photo]
            except (TypeError, ValueError, IndexError, OverflowError):
                boxes = None
            if boxes is None or any(len(b) != 6 for b in boxes):
                raise ValueError("a box that is not class, score, ymin, xmin, ymax, xmax")
            if any(not 0 <= b[0] < self.units or not all(math.isfinite(v) for v in b[1:]) for b in boxes):
                raise ValueError("a box of an unknown class or with a number that is not finite")
            found.append(boxes)
        return self.compare_found(name, found, reference, labels, quantized)

    def compare_found(self, name: str, found: list, reference: np.ndarray, labels: np.ndarray, quantized: bool,
                      max_abs_diff: float = 0.0) -> BoxCheck:
        """A runtime's detections (``[(class, score, ymin, xmin, ymax, xmax)]`` per photo, after its own
        post-processing: MediaPipe's ObjectDetector suppresses overlaps by rules of its own) against Keras'
        raw outputs ``reference``: every box the file gives above ``ANSWER_SCORE`` is one Keras gives (an
        anchor of the same class, score within ``SAME_SCORE``, IoU >= ``SAME_BOX_IOU``), and mAP@0.5 within
        a point of Keras' own."""
        from zoo.data.anchors import iou

        boxes, probabilities = self.decoded(reference)
        boxes = np.clip(boxes, 0.0, 1.0)  # as every runtime's boxes are given (clipped to the photo)
        matched = total = 0
        score_diffs = []  # of each matched box: how far its score is from its Keras twin's
        for file_boxes, keras_boxes, keras_probabilities in zip(found, boxes, probabilities):
            for label, score, *corners in (f for f in file_boxes if f[1] >= ANSWER_SCORE):
                total += 1
                near = np.flatnonzero(np.abs(keras_probabilities[:, label] - score) <= SAME_SCORE)
                overlaps = iou(np.array([corners]), keras_boxes[near])[0] if len(near) else np.zeros(0)
                if len(near) and overlaps.max() >= SAME_BOX_IOU:
                    matched += 1
                    twins = near[overlaps >= SAME_BOX_IOU]
                    score_diffs.append(float(np.min(np.abs(keras_probabilities[twins, label] - score))))
        max_abs_diff = max(max_abs_diff, max(score_diffs, default=0.0))
        file_map = coco_scores(found, labels, self.class_names, self.anchors.image_size)["test_map50"]
        keras_map = coco_scores(self.detections(reference), labels, self.class_names,
                                self.anchors.image_size)["test_map50"]
        same = matched / total if total else 1.0
        return BoxCheck(file=name, quantized=quantized, test_accuracy=file_map, keras_accuracy=keras_map,
                        agreement=same, max_abs_diff=max_abs_diff, images=int(len(labels)), atol=base.FLOAT_ATOL,
                        keras_map=keras_map, file_map=file_map, same_boxes=same)

    def card_output(self) -> dict:
        anchors, columns = self.output_shape
        return {"shape": [None, anchors, columns], "dtype": "float32",
                "meaning": "one row per anchor: 4 box codes (ty, tx, th, tw against the anchor, see 'anchors' "
                           "and 'coding' in task) then one logit per class of labels.txt (sigmoid)"}

    def answer(self, row: np.ndarray, top_k: int) -> dict:
        """The boxes above ``ANSWER_SCORE``, as fractions of the photo (the layout scales them to pixels)."""
        from zoo.data.anchors import Postprocess

        found = Postprocess(min_score=ANSWER_SCORE).detections(*(part[0] for part in self.decoded(row[None])))
        return {"boxes": [{"class": self.class_names[c], "score": round(s, 4),
                           "box": [round(v, 5) for v in (ymin, xmin, ymax, xmax)]}
                          for c, s, ymin, xmin, ymax, xmax in found]}

    @classmethod
    def answer_line(cls, answer: dict) -> str:
        boxes = answer.get("boxes") or []
        if not boxes:
            return "no boxes"
        return "; ".join(f"{b['class']} {b['score']:.2f} at x {b['x']} y {b['y']} width {b['width']} "
                         f"height {b['height']}" if "x" in b else f"{b['class']} {b['score']:.2f} at {b['box']}"
                         for b in boxes)

    def report_sections(self, metrics: dict) -> list:
        per_class = metrics.get("per_class_ap50")
        if not isinstance(per_class, dict):
            return []
        return [{"title": "Average precision per class", "headers": ["class", "AP@0.5", "AP@[.5:.95]"],
                 "rows": [(name, *(f"{v:.4f}" if isinstance(v, (int, float)) else v for v in values))
                          for name, values in per_class.items() if isinstance(values, list)]}]

    def plot(self, data, metrics: dict, history: dict, outputs, run_dir) -> None:
        """Curves, test photos with their true (green) and found (orange) boxes, precision against recall."""
        from zoo.data import plots
        from zoo.data.anchors import Postprocess
        from zoo.data.plots_boxes import boxes_grid, precision_recall

        plots.curves(history, run_dir / "curves.png", metrics=self.curve_metrics)
        boxes_grid(data.x_test[:12], data.y_test[:12], self.detections(outputs[:12], Postprocess(ANSWER_SCORE)),
                   self.class_names, run_dir / "detections.png")
        if isinstance(metrics.get("precision_recall"), dict):
            precision_recall(metrics["precision_recall"], run_dir / "precision_recall.png")


def coco_scores(found: list, truth, class_names: tuple, image_size: tuple) -> dict:
    """COCO mAP@[.5:.95], mAP@0.5 and per class, by pycocotools, with boxes in the model's input pixels."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        from zoo.errors import ZooError

        raise ZooError("detection scores need pycocotools: pip install 'zoo[detection]'") from None
    height, width = image_size

    def xywh(ymin, xmin, ymax, xmax):
        return [xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height]

    images = [{"id": i, "width": width, "height": height} for i in range(len(truth))]
    annotations = []
    for i, boxes in enumerate(truth):
        for label, *corners in boxes.tolist():
            box = xywh(*corners)
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(label) + 1,
                                "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations,
                  "categories": [{"id": c + 1, "name": n} for c, n in enumerate(class_names)]}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt.createIndex()
        results = [{"image_id": i, "category_id": label + 1, "bbox": xywh(*corners), "score": score}
                   for i, photo in enumerate(found) for label, score, *corners in photo]
        if not results or not annotations:
            return {"test_map": 0.0, "test_map50": 0.0, "per_class_ap50": {n: [0.0, 0.0] for n in class_names},
                    "detections": len(results), "boxes": len(annotations), "test_images": len(truth)}
        evaluation = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    precision = evaluation.eval["precision"]  # [IoU thresholds, recall points, classes, areas, max detections]

    def ap(values):
        values = values[values > -1]
        return float(values.mean()) if values.size else 0.0

    per_class = {n: [round(ap(precision[0, :, c, 0, -1]), 6), round(ap(precision[:, :, c, 0, -1]), 6)]
                 for c, n in enumerate(class_names)}
    curve = precision[0, :, :, 0, -1]
    return {"test_map": round(float(max(evaluation.stats[0], 0.0)), 6),
            "test_map50": round(float(max(evaluation.stats[1], 0.0)), 6),
            "test_recall100": round(float(max(evaluation.stats[8], 0.0)), 6),
            "per_class_ap50": per_class, "detections": len(results), "boxes": len(annotations),
            "test_images": len(truth),
            "precision_recall": {"recall": [round(r, 2) for r in evaluation.params.recThrs.tolist()],
                                 "precision": {n: [round(float(v), 4) for v in curve[:, c]]
                                               for c, n in enumerate(class_names)}}}
