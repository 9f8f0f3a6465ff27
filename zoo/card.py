"""The model card: ``model_card.json`` beside exported files, read in one place.

Cards are written by ``zoo export`` and read by ``zoo predict``, ``zoo
generate``, ``zoo serve`` and the web page; a card may be damaged or edited by
hand, so every field read here is checked for its type before it is used, and a
bad one is named (``DataError``) instead of giving wrong answers. Nothing here
imports TensorFlow.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo import runs
from zoo.errors import DataError

EXPORT_DIR = "export"  # RUN/export by default: a run keeps its artifacts
CARD = "model_card.json"
LABELS = "labels.txt"
CARD_VERSION = 1


def read_beside(path: Path) -> dict:
    card = path.parent / CARD
    return runs.read_json(card) if card.is_file() else {}


def field(card: dict, key: str, kind, path: Path, default=None):
    """``card[key]`` checked to be a ``kind`` (a damaged or hand-edited card is named, never trusted)."""
    value = card.get(key, default)
    if value is default:
        return value
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataError(f"{path.parent / CARD}: '{key}' must be a {names}, found {type(value).__name__}")
    return value


def names(values, what: str, where: Path) -> list:
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise DataError(f"{where}: {what} must be a list of non-empty names")
    return values


def read_labels(labels: Path) -> list:
    try:
        text = labels.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{labels}: not UTF-8 text (byte {exc.start})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def number(value, key: str, where: Path) -> float | None:
    """A finite number from a card (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise DataError(f"{where}: {key} must be a finite number, found {str(value)[:40]!r}")
    return float(value)


def file_entry(card: dict, path: Path) -> dict:
    """The card's ``files`` entry of this file, or ``{}`` (a file the card does not list)."""
    files = card.get("files")
    if files is not None and not isinstance(files, list):
        raise DataError(f"{path.parent / CARD}: 'files' must be a list, found {type(files).__name__}")
    for entry in files or ():
        if isinstance(entry, dict) and entry.get("file") == path.name:
            return entry
    return {}
