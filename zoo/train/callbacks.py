"""What watches a fit: the optimizer from the recipe, the best-model checkpoint written atomically, early
stopping that survives a resume, and the backups a killed run resumes from (checked before use)."""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
from pathlib import Path

from zoo.errors import ZooError, one_line
from zoo.run import runs
from zoo.run.run_model import load_run_model
from zoo.train.recipes import DEFAULT_LEARNING_RATES

# Keras' BackupAndRestore files; a damaged pair is refused before it is used.
BACKUP_WEIGHTS, BACKUP_METADATA = "latest.weights.h5", "training_metadata.json"


def make_optimizer(recipe, steps_per_epoch: int):
    import keras

    rate = recipe.learning_rate or DEFAULT_LEARNING_RATES[recipe.optimizer]
    if recipe.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            rate, decay_steps=max(1, steps_per_epoch * recipe.epochs), alpha=0.01)
    kwargs = {}
    if recipe.optimizer == "adamw" and recipe.weight_decay is not None:
        kwargs["weight_decay"] = recipe.weight_decay
    if recipe.optimizer in ("sgd", "rmsprop") and getattr(recipe, "momentum", None) is not None:
        kwargs["momentum"] = recipe.momentum
    optimizer = {
        "adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop, "nadam": keras.optimizers.Nadam,
    }[recipe.optimizer]
    return optimizer(learning_rate=rate, **kwargs)


def _best_checkpoint(path: Path, monitor: str, sign: float = 1.0, best: float = math.inf, saved=None):
    """Keep the model with the lowest ``sign * logs[monitor]`` so far in ``path``, replaced atomically.

    Keras' ModelCheckpoint writes in place; a run killed mid-save would leave a
    corrupt model.keras, so this writes beside it and renames.
    """
    import keras

    class AtomicBestCheckpoint(keras.callbacks.Callback):

        def on_epoch_end(self, epoch, logs=None):
            nonlocal best
            value = (logs or {}).get(monitor)
            if value is None or not sign * value < best:
                return
            best = sign * value
            tmp = path.with_name(f".{path.name}.tmp.keras")
            try:
                (saved or self.model).save(tmp)
                os.replace(tmp, path)
            except OSError as exc:  # disk full, read-only: name the file users know
                tmp.unlink(missing_ok=True)  # never leave a half-written model behind
                raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    return AtomicBestCheckpoint()


def _early_stopping(monitor: str, sign: float, patience: int, recorded=(), run_dir: Path | None = None):
    """Keras' EarlyStopping that, on ``--resume``, counts on from the epochs already recorded.

    Keras' callback starts counting afresh in every ``fit``, so a run resumed
    after a kill would train up to ``patience`` epochs more than the same run
    left alone, and end on other weights. Replaying the recorded values of
    ``monitor`` (lowest ``sign * value`` is best) restores its count and best
    value; when the best epoch is a recorded one, its weights come from the
    run's checkpoint, which kept that epoch (``run_dir/model.keras``).
    """
    import keras

    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            for epoch, value in enumerate(recorded):  # as on_epoch_end counts
                self.wait += 1
                if self.best is None or sign * value < sign * self.best:
                    self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.best is not None and run_dir is not None and (run_dir / runs.MODEL).is_file():
                self.best_weights = load_run_model(run_dir).get_weights()

    return ResumableEarlyStopping(monitor=monitor, mode="min" if sign > 0 else "max",
                                  patience=patience, restore_best_weights=True)


def _backup_problem(weights: Path, metadata: Path) -> str | None:
    """Why a backup's weights and epoch counter cannot be restored, or None."""
    import h5py

    try:
        with h5py.File(weights, "r"):
            pass
        epoch = json.loads(metadata.read_text(encoding="utf-8"))["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            return f"{metadata.name}: 'epoch' is not a count of epochs"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return one_line(exc)
    return None


def check_backup(backup: Path) -> None:
    """Make sure ``--resume`` can restore ``backup``, or say clearly why not.

    Keras' ``BackupAndRestore`` keeps the previous epoch's files beside the
    latest (``.bkp``) and falls back to them only when the weights fail to
    open; a truncated file would otherwise end in a misleading error. A
    damaged latest pair with a good previous pair is replaced by it here.

    Raises:
        ZooError: neither pair can be restored.
    """
    weights, metadata = backup / BACKUP_WEIGHTS, backup / BACKUP_METADATA
    if not weights.exists() and not metadata.exists():
        return  # no epoch finished yet: the run starts from its first epoch
    problem = _backup_problem(weights, metadata)
    if problem is None:
        return
    previous = (Path(f"{weights}.bkp"), Path(f"{metadata}.bkp"))
    if all(p.exists() for p in previous) and _backup_problem(*previous) is None:
        for old, latest in zip(previous, (weights, metadata)):
            shutil.copyfile(old, latest)
        return
    raise ZooError(f"{backup}: the backup is damaged ({problem}) and cannot be resumed from; "
                   f"remove {backup} to train the run's epochs again")


def _trim_history(history: Path, backup: Path) -> None:
    """Drop history rows of epochs the backup did not record.

    A kill between CSVLogger's row and BackupAndRestore's save would otherwise
    leave a row that the resumed run writes again. No backup yet means no
    finished epoch: the backup is kept until the run is complete.
    """
    meta = backup / "training_metadata.json"
    if not history.is_file():
        return
    finished = runs.read_json(meta).get("epoch", 0) if meta.is_file() else 0
    with open(history, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    # A row cut short by a kill or a full disk is dropped with the unfinished epochs.
    kept = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) < finished]
    tmp = history.with_name(f".{history.name}.tmp")
    with open(tmp, "w", newline="") as f:
        csv.writer(f).writerows(kept)
    os.replace(tmp, history)  # a kill now leaves the old history or the new one
