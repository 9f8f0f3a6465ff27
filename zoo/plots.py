"""The tutorials' figures, drawn for a finished run (matplotlib, Agg backend)."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no screen on servers and CI
    import matplotlib.pyplot as plt

    return plt


def read_history(path: Path) -> dict:
    """history.csv as column name -> list of floats ("NA", Keras' missing value, is NaN)."""
    def number(text):
        try:
            return float(text)
        except (TypeError, ValueError):
            return math.nan

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [number(r[key]) for r in rows] for key in (rows[0] if rows else {})}


def curves(history: dict, path: Path) -> None:
    """Loss and accuracy per epoch, train against validation."""
    plt = _pyplot()
    epochs = [int(e) + 1 for e in history.get("epoch", [])]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, history.get(metric, []), "b-", label=f"train {metric}")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "r--", label=f"validation {metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def confusion(matrix: np.ndarray, class_names, path: Path) -> None:
    """Confusion matrix of the test set, with counts in the cells."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, int(count), ha="center", va="center", fontsize=7,
                color="white" if count > threshold else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def predictions(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray,
                class_names, path: Path, rows: int = 5, cols: int = 3) -> None:
    """The tutorials' grid: each image with its prediction, beside its probabilities.

    The caption is "predicted probability% (true)", blue when right, red when wrong.
    """
    plt = _pyplot()
    count = min(rows * cols, len(images))
    fig = plt.figure(figsize=(2 * 2 * cols, 2 * rows))
    for i in range(count):
        predicted = int(np.argmax(probabilities[i]))
        color = "blue" if predicted == int(labels[i]) else "red"
        ax = plt.subplot(rows, 2 * cols, 2 * i + 1)
        ax.imshow(images[i], cmap=plt.cm.binary)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{class_names[predicted]} {100 * np.max(probabilities[i]):2.0f}% "
                      f"({class_names[int(labels[i])]})", color=color, fontsize=8)
        ax = plt.subplot(rows, 2 * cols, 2 * i + 2)
        bars = ax.bar(range(len(class_names)), probabilities[i], color="#777777")
        ax.set_ylim([0, 1])
        ax.set_xticks([])
        ax.set_yticks([])
        bars[predicted].set_color("red")
        bars[int(labels[i])].set_color("blue")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
