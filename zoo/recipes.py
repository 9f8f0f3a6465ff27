"""Resolve what a training run uses: a named recipe, flag overrides, -p params."""
from __future__ import annotations

import dataclasses
import math

from zoo.errors import UsageError
from zoo.registry import Architecture, Recipe

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam")
MONITORS = ("val_loss", "val_accuracy", "val_mae")
SCHEDULES = ("constant", "cosine")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(arch: str, key: str, text: str, default):
    """Convert ``text`` to the type of ``default`` (tuples are comma lists)."""
    what = {bool: "true or false", int: "an integer", float: "a number",
            tuple: "a comma-separated list of integers"}
    try:
        if isinstance(default, bool):
            lowered = text.strip().lower()
            if lowered in _TRUE | _FALSE:
                return lowered in _TRUE
            raise ValueError
        if isinstance(default, tuple):
            values = tuple(int(v) for v in text.split(",") if v.strip())
            if not values:
                raise ValueError
            return values
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        kind = next(v for t, v in what.items() if isinstance(default, t))
        raise UsageError(f"-p {key}={text}: '{arch}' expects {kind} for '{key}'") from None
    return text


def parse_params(arch: Architecture, assignments) -> dict:
    """Parse ``-p KEY=VALUE`` options against the architecture's documented params.

    Raises:
        UsageError: malformed assignment, unknown key, or wrong value type.
    """
    parsed = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"-p {item}: expected KEY=VALUE")
        if key not in arch.params:
            known = ", ".join(sorted(arch.params)) or "none"
            raise UsageError(f"-p {item}: '{arch.name}' has no parameter '{key}' (known: {known})")
        parsed[key] = _convert(arch.name, key, value, arch.params[key].default)
        problem = arch.params[key].problem(parsed[key])
        if problem:
            raise UsageError(f"-p {item}: '{arch.name}' needs {key} {problem}. Received: {key}={value}")
    return parsed


def resolve(arch: Architecture, recipe_name: str | None = None, overrides: dict | None = None,
            params: dict | None = None, dataset=None) -> tuple[str, Recipe, dict]:
    """The recipe (with flag overrides applied) and the model's full hyperparameters.

    Args:
        arch: the architecture entry.
        recipe_name: a recipe of ``arch``; None for its default.
        overrides: Recipe fields set by flags (None values are ignored).
        params: parsed ``-p`` values; they win over the recipe's params.
        dataset: the dataset entry, whose ``recipes`` for ``arch`` take the
            place of the architecture's recipes of the same name.

    Returns:
        (recipe name, Recipe, hyperparameters passed to ``arch.build``).

    Raises:
        UsageError: unknown recipe or an out-of-range value.
    """
    name = (recipe_name or arch.default_recipe).lower()
    # A dataset may bring recipes for an architecture (its tutorial's settings).
    available = {**arch.recipes, **((dataset.recipes or {}).get(arch.name, {}) if dataset else {})}
    if name not in available:
        raise UsageError(f"--recipe {recipe_name}: '{arch.name}' has recipes "
                         f"{', '.join(sorted(available))}")
    recipe = available[name]
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    if changes.get("augment") == "none":  # --augment none turns the recipe's augmentation off
        changes["augment"] = None
    recipe = dataclasses.replace(recipe, **changes)
    validate(recipe)
    hyper = {key: p.default for key, p in arch.params.items()}
    hyper.update(recipe.params)
    hyper.update(params or {})
    return name, recipe, hyper


MAX_EPOCHS = 1_000_000
MAX_BATCH_SIZE = 2**31 - 1  # TensorFlow's int32 shapes
MAX_SEED = 2**32 - 1  # what NumPy's and Keras' seeding accept


def validate(recipe: Recipe) -> None:
    """Refuse settings that cannot train: out of range, not finite, unknown names."""
    for name in ("epochs", "batch_size"):
        value = getattr(recipe, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"--{name.replace('_', '-')} must be an integer. Received: {value!r}")
    if not 1 <= recipe.epochs <= MAX_EPOCHS:
        raise UsageError(f"--epochs must be in 1..{MAX_EPOCHS}. Received: {recipe.epochs}")
    if not 1 <= recipe.batch_size <= MAX_BATCH_SIZE:
        raise UsageError(f"--batch-size must be in 1..{MAX_BATCH_SIZE}. Received: {recipe.batch_size}")
    for name in ("learning_rate", "validation_split", "label_smoothing", "weight_decay"):
        value = getattr(recipe, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise UsageError(f"--{name.replace('_', '-')} must be a finite number. Received: {value!r}")
    if recipe.learning_rate is not None and not recipe.learning_rate > 0:
        raise UsageError(f"--learning-rate must be positive. Received: {recipe.learning_rate}")
    if recipe.weight_decay is not None and recipe.weight_decay < 0:
        raise UsageError(f"weight decay must not be negative. Received: {recipe.weight_decay}")
    if not 0 <= recipe.validation_split < 1:
        raise UsageError(f"--validation-split must be in [0, 1). Received: {recipe.validation_split}")
    if recipe.patience is not None and recipe.patience < 1:
        raise UsageError(f"--patience must be at least 1. Received: {recipe.patience}")
    if recipe.optimizer not in OPTIMIZERS:
        raise UsageError(f"--optimizer {recipe.optimizer}: expected one of {', '.join(OPTIMIZERS)}")
    if recipe.monitor not in MONITORS:
        raise UsageError(f"--monitor {recipe.monitor}: expected one of {', '.join(MONITORS)}")
    if recipe.schedule not in SCHEDULES:
        raise UsageError(f"schedule {recipe.schedule}: expected one of {', '.join(SCHEDULES)}")
    from zoo.augment import AUGMENTATIONS

    if recipe.augment is not None and recipe.augment not in AUGMENTATIONS:
        raise UsageError(f"--augment {recipe.augment}: expected one of {', '.join(AUGMENTATIONS)}")
    if not 0 <= recipe.label_smoothing < 1:
        raise UsageError(f"label smoothing must be in [0, 1). Received: {recipe.label_smoothing}")
