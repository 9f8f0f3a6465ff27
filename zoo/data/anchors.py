"""Anchors and box coding for single-shot detectors, described as data (NumPy only: ``zoo predict`` uses it).

A detector's output is one row per anchor: four box codes and one logit per
class. The anchors are a grid per feature level (``AnchorGrid``: strides,
the anchor size relative to the stride, scales and aspect ratios, in
RetinaNet's order: level, row, column, then scale x ratio); a box is coded
against its anchor as SSD and TensorFlow's Object Detection API code it
(``BoxCoding``: ``ty = (cy - acy) / ah * y_scale``, ``th = log(h / ah) *
h_scale``), which is what MediaPipe's ObjectDetector decodes when the anchors
travel in a model's metadata. Boxes are ``ymin, xmin, ymax, xmax`` as
fractions of the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

POSITIVE_IOU = 0.5  # an anchor overlapping a true box this much learns it ...
NEGATIVE_IOU = 0.4  # ... one below this learns background; between the two, nothing (RetinaNet's)


@dataclass(frozen=True)
class BoxCoding:
    """How a box is written against its anchor (the Object Detection API's scales)."""

    y_scale: float = 10.0
    x_scale: float = 10.0
    h_scale: float = 5.0
    w_scale: float = 5.0

    def encode(self, boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """``(N, 4)`` boxes (ymin, xmin, ymax, xmax) against ``(N, 4)`` anchors (cy, cx, h, w)."""
        h = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)
        w = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
        cy, cx = boxes[:, 0] + h / 2, boxes[:, 1] + w / 2
        return np.stack([(cy - anchors[:, 0]) / anchors[:, 2] * self.y_scale,
                         (cx - anchors[:, 1]) / anchors[:, 3] * self.x_scale,
                         np.log(h / anchors[:, 2]) * self.h_scale,
                         np.log(w / anchors[:, 3]) * self.w_scale], axis=1).astype(np.float32)

    def decode(self, codes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """``(..., A, 4)`` codes back into boxes (ymin, xmin, ymax, xmax), fractions of the image."""
        codes = codes.astype(np.float64)
        cy = codes[..., 0] / self.y_scale * anchors[:, 2] + anchors[:, 0]
        cx = codes[..., 1] / self.x_scale * anchors[:, 3] + anchors[:, 1]
        # exp of a code far beyond any real box would overflow: no box is more than e^10 anchors tall
        h = np.exp(np.minimum(codes[..., 2] / self.h_scale, 10.0)) * anchors[:, 2]
        w = np.exp(np.minimum(codes[..., 3] / self.w_scale, 10.0)) * anchors[:, 3]
        # Not clipped to the image: MediaPipe suppresses overlaps between the boxes as decoded, and so
        # does Postprocess, which clips the boxes it keeps.
        return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1).astype(np.float32)

    def describe(self) -> dict:
        return {"y_scale": self.y_scale, "x_scale": self.x_scale, "h_scale": self.h_scale, "w_scale": self.w_scale}


@dataclass(frozen=True)
class AnchorGrid:
    """Anchors on feature maps of strides ``strides`` over an ``image_size`` (height, width) input."""

    image_size: tuple = (320, 320)
    strides: tuple = (16, 32, 64)
    anchor_size: float = 4.0  # the base anchor's side in strides
    scales: tuple = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))
    ratios: tuple = (0.5, 1.0, 2.0)  # height / width

    @property
    def per_cell(self) -> int:
        return len(self.scales) * len(self.ratios)

    def grid(self, stride: int) -> tuple:
        """The feature map's (rows, columns) at ``stride`` (a "same"-padded stride-2 chain's)."""
        return math.ceil(self.image_size[0] / stride), math.ceil(self.image_size[1] / stride)

    def anchors(self) -> np.ndarray:
        """``(A, 4)`` anchors as (cy, cx, h, w), fractions of the image; A = sum over levels of
        rows x columns x scales x ratios."""
        height, width = self.image_size
        found = []
        for stride in self.strides:
            rows, columns = self.grid(stride)
            cells = [((r + 0.5) * stride / height, (c + 0.5) * stride / width)
                     for r in range(rows) for c in range(columns)]
            shapes = [(self.anchor_size * stride * scale * math.sqrt(ratio) / height,
                       self.anchor_size * stride * scale / math.sqrt(ratio) / width)
                      for scale in self.scales for ratio in self.ratios]
            found += [(cy, cx, h, w) for cy, cx in cells for h, w in shapes]
        return np.array(found, np.float32)

    def describe(self) -> dict:
        return {"image_size": list(self.image_size), "strides": list(self.strides), "anchor_size": self.anchor_size,
                "scales": list(self.scales), "ratios": list(self.ratios)}

    @classmethod
    def restore(cls, described: dict) -> AnchorGrid:
        return cls(tuple(int(v) for v in described["image_size"]), tuple(int(v) for v in described["strides"]),
                   float(described["anchor_size"]), tuple(float(v) for v in described["scales"]),
                   tuple(float(v) for v in described["ratios"]))


def corners(anchors: np.ndarray) -> np.ndarray:
    """(cy, cx, h, w) -> (ymin, xmin, ymax, xmax)."""
    return np.stack([anchors[:, 0] - anchors[:, 2] / 2, anchors[:, 1] - anchors[:, 3] / 2,
                     anchors[:, 0] + anchors[:, 2] / 2, anchors[:, 1] + anchors[:, 3] / 2], axis=1)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` intersection over union of two sets of (ymin, xmin, ymax, xmax) boxes."""
    top = np.maximum(a[:, None, 0], b[None, :, 0])
    left = np.maximum(a[:, None, 1], b[None, :, 1])
    bottom = np.minimum(a[:, None, 2], b[None, :, 2])
    right = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def assign(truth: np.ndarray, anchors: np.ndarray, coding: BoxCoding) -> np.ndarray:
    """One photo's targets: ``(A, 5)``, four codes and the class (-1 background, -2 ignored).

    ``truth``: ``(boxes, 5)`` rows of class, ymin, xmin, ymax, xmax. Each true box
    also takes its best anchor, however low the overlap: no box goes unlearnt.
    """
    targets = np.zeros((len(anchors), 5), np.float32)
    targets[:, 4] = -1.0
    if len(truth) == 0:
        return targets
    overlap = iou(corners(anchors), truth[:, 1:5])
    best_truth, best = overlap.argmax(axis=1), overlap.max(axis=1)
    best_truth[overlap.argmax(axis=0)] = np.arange(len(truth))
    best[overlap.argmax(axis=0)] = 1.0
    targets[:, :4] = coding.encode(truth[best_truth, 1:5], anchors)
    targets[:, 4] = np.where(best >= POSITIVE_IOU, truth[best_truth, 0], np.where(best < NEGATIVE_IOU, -1.0, -2.0))
    return targets


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, limit: int) -> np.ndarray:
    """Greedy non-maximum suppression: the indices kept, best first (what TFLite's and MediaPipe's
    post-processing do, in NumPy so that ``zoo predict`` needs no TensorFlow)."""
    order = np.argsort(-scores, kind="stable")
    kept = []
    while len(order) and len(kept) < limit:
        first, order = order[0], order[1:]
        kept.append(first)
        if len(order):
            order = order[iou(boxes[first][None], boxes[order])[0] <= iou_threshold]
    return np.array(kept, dtype=np.int64)


@dataclass(frozen=True)
class Postprocess:
    """From per-anchor outputs to detections: a score floor, class-wise NMS, at most ``limit``."""

    min_score: float = 0.05
    # MediaPipe's ObjectDetector suppresses a box overlapping a better one by IoU 0.3 or more (its
    # NonMaxSuppressionOptions' default; not settable from Python): the same here, so that zoo's scores,
    # zoo predict and the phone keep the same boxes.
    iou_threshold: float = 0.3
    limit: int = 100

    def detections(self, boxes: np.ndarray, probabilities: np.ndarray) -> list:
        """``[(class, score, ymin, xmin, ymax, xmax)]`` best first (boxes clipped to the photo), from one
        photo's decoded boxes ``(A, 4)`` and class probabilities ``(A, C)``."""
        found = []
        for label in range(probabilities.shape[1]):
            candidates = np.flatnonzero(probabilities[:, label] >= self.min_score)
            if not len(candidates):
                continue
            keep = candidates[nms(boxes[candidates], probabilities[candidates, label], self.iou_threshold, self.limit)]
            found += [(label, float(probabilities[i, label]), *map(float, np.clip(boxes[i], 0.0, 1.0))) for i in keep]
        found.sort(key=lambda d: -d[1])
        return found[:self.limit]
