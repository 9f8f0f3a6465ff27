"""A run's model: its ``.keras`` archive checked, then loaded with Keras safe mode on.

Training, evaluation, transfer and export open a run's model through here (TensorFlow is
imported only when a model is loaded).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from zoo.data import tasks
from zoo.errors import ZooError, first_line
from zoo.run import runs

# A .keras archive may unpack to at most this many times its own size (or
# 256 MiB, whichever is more): Keras' weights barely compress, and a small
# file that unpacks to gigabytes is a zip bomb.
MAX_UNPACK_RATIO = 64
MIN_UNPACK_LIMIT = 256 << 20


def check_model_archive(path: Path) -> None:
    """Refuse a ``.keras`` file that is not a zip, or whose members would unpack too large.

    The sizes come from the zip's directory, before anything is decompressed
    (zipfile also stops a member that unpacks to more than it declares).
    """
    if not zipfile.is_zipfile(path):
        raise ZooError(f"{path}: not a Keras model file (not a .keras zip archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise ZooError(f"{path}: damaged zip archive ({first_line(exc)})") from None
    limit = max(MAX_UNPACK_RATIO * path.stat().st_size, MIN_UNPACK_LIMIT)
    if unpacked > limit:
        raise ZooError(f"{path}: unpacks to {unpacked} bytes, more than the {limit} allowed for a "
                       f"{path.stat().st_size}-byte file; refusing to load it")


def load_run_model(run_dir: Path):
    """A run's model, loaded with Keras safe mode on; faults become one-line errors."""
    import keras

    path = run_dir / runs.MODEL
    check_model_archive(path)
    config = runs.read_json(run_dir / runs.CONFIG) if (run_dir / runs.CONFIG).is_file() else {}
    task = tasks.from_config(config) if config else None
    try:
        model = keras.saving.load_model(path, safe_mode=True,
                                        custom_objects=task.keras_objects() if task is not None else None)
    except Exception as exc:  # Keras raises many types for a bad file
        first = first_line(exc)
        if "safe_mode" in first or "arbitrary code execution" in first:
            raise ZooError(f"{path}: refused by Keras safe mode: it holds code (a Python lambda "
                           f"or similar) that would run on loading; zoo never runs it") from None
        raise ZooError(f"{path}: cannot be loaded ({first[:200]})") from None
    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ZooError(f"{path}: not a model with one input and one output")
    shape = list(model.inputs[0].shape[1:])
    gives = tuple(model.outputs[0].shape[1:])
    if "input_shape" in config and shape != list(config["input_shape"]):
        raise ZooError(f"{path}: the model reads {shape} but the run's config.json says "
                       f"{config['input_shape']}")
    if task is not None and gives != task.output_shape:
        if len(task.output_shape) != 1:
            raise ZooError(f"{path}: the model gives {list(gives)} outputs per example but the run's task "
                           f"needs {list(task.output_shape)}")
        raise ZooError(f"{path}: the model gives {gives[-1] if gives else 0} outputs but the run has "
                       + (f"{task.units} classes" if task.classifies else f"{task.units} outputs"))
    return model
