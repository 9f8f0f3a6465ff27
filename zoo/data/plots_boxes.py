"""A detector's figures: test photos with their true and found boxes, and precision against recall."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from zoo.data.plots import _pyplot

TRUE, FOUND = "#2ca02c", "#ff7f0e"  # green: the annotation; orange: the model's


def boxes_grid(photos: np.ndarray, truth, found: list, class_names, path: Path) -> None:
    """Up to 12 photos, each with its true boxes (green) and the model's (orange, with class and score)."""
    plt = _pyplot()
    count = len(photos)
    columns = min(4, max(count, 1))
    rows = max(1, math.ceil(count / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, photo, true_boxes, boxes in zip(axes.flat, photos, truth, found):
        height, width = photo.shape[:2]
        ax.imshow(photo)
        for label, ymin, xmin, ymax, xmax in np.asarray(true_boxes).tolist():
            ax.add_patch(plt.Rectangle((xmin * width, ymin * height), (xmax - xmin) * width, (ymax - ymin) * height,
                                       fill=False, edgecolor=TRUE, linewidth=2))
        for label, score, ymin, xmin, ymax, xmax in boxes:
            ax.add_patch(plt.Rectangle((xmin * width, ymin * height), (xmax - xmin) * width, (ymax - ymin) * height,
                                       fill=False, edgecolor=FOUND, linewidth=1.5, linestyle="--"))
            ax.text(xmin * width, ymin * height, f"{class_names[label]} {score:.2f}", color="white", fontsize=7,
                    va="bottom", bbox={"facecolor": FOUND, "edgecolor": "none", "pad": 1})
    fig.suptitle("test photos: true boxes (green), found (orange, dashed)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def precision_recall(curve: dict, path: Path) -> None:
    """COCO's precision at each recall (IoU 0.5), one line per class."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    recall = curve.get("recall") or []
    for name, precision in (curve.get("precision") or {}).items():
        values = [p if isinstance(p, (int, float)) and p >= 0 else math.nan for p in precision]
        ax.plot(recall[:len(values)], values, label=str(name))
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("precision against recall (IoU 0.5)")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
