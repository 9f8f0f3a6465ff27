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


def for_task(data, metrics: dict, history: dict, outputs, run_dir: Path) -> None:
    """The figures of a run, as its task has them (``task.plot``): curves, and for a classifier the
    confusion matrix and the tutorials' prediction grid, for a regression predicted against true."""
    data.task.plot(data, metrics, history, outputs, run_dir)


def predicted_vs_true(outputs: np.ndarray, truth: np.ndarray, task, path: Path) -> None:
    """Each test example's prediction against its true value, with the tolerance band."""
    plt = _pyplot()
    outputs = outputs.reshape(len(outputs), task.units)
    truth = truth.reshape(len(truth), task.units)
    fig, axes = plt.subplots(1, task.units, figsize=(5 * task.units, 5), squeeze=False)
    for i, (ax, name) in enumerate(zip(axes[0], task.outputs)):
        low, high = float(min(truth[:, i].min(), outputs[:, i].min())), float(max(truth[:, i].max(), outputs[:, i].max()))
        ax.plot([low, high], [low, high], "k-", lw=0.8, label="perfect")
        ax.fill_between([low, high], [low - task.tolerance, high - task.tolerance],
                        [low + task.tolerance, high + task.tolerance], color="#cccccc", alpha=0.5,
                        label=f"within {task.tolerance:g}")
        ax.scatter(truth[:, i], outputs[:, i], s=6, color="#1f77b4")
        ax.set_xlabel(f"true {name}")
        ax.set_ylabel(f"predicted {name}")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def curves(history: dict, path: Path, metrics=("loss", "accuracy")) -> None:
    """Loss and a metric per epoch, train against validation."""
    plt = _pyplot()
    epochs = [int(e) + 1 for e in history.get("epoch", [])]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        ax.plot(epochs, history.get(metric, []), "b.-", label=f"train {metric}")  # a dot: one epoch shows
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "r.--", label=f"validation {metric}")
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
                class_names, path: Path, rows: int = 5, cols: int = 3, draw=None) -> None:
    """The tutorials' grid: each example with its prediction, beside its probabilities.

    The example is drawn as its layout draws one (``draw(ax, example)``: ``Layout.draw``; an image
    without it). The caption
    is "predicted probability% (true)", blue when right, red when wrong.
    """
    plt = _pyplot()
    count = min(rows * cols, len(images))
    fig = plt.figure(figsize=(2 * 2 * cols, 2 * rows))
    for i in range(count):
        predicted = int(np.argmax(probabilities[i]))
        color = "blue" if predicted == int(labels[i]) else "red"
        ax = plt.subplot(rows, 2 * cols, 2 * i + 1)
        (draw or _picture)(ax, images[i])
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


def _picture(ax, example) -> None:
    ax.imshow(np.asarray(example), cmap="binary")
