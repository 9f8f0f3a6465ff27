"""Resolve what a training run uses: a named recipe, flag overrides, -p params."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from zoo.api.registry import Architecture, Recipe
from zoo.errors import UsageError
from zoo.run import runs

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam")
# Keras' default learning rate of each optimizer: what a recipe without one trains with.
DEFAULT_LEARNING_RATES = {"adam": 1e-3, "adamw": 1e-3, "sgd": 1e-2, "rmsprop": 1e-3, "nadam": 1e-3}
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
        if len(text) > 64:  # no integer or number a model needs is this long
            raise ValueError
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
        item = item if len(item) <= 60 else item[:59] + "…"  # as it is named in messages
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"-p {item}: expected KEY=VALUE")
        if key not in arch.params:
            known = ", ".join(sorted(arch.params)) or "none"
            raise UsageError(f"-p {item}: '{arch.name}' has no parameter '{key}' (known: {known})")
        parsed[key] = _convert(arch.name, key, value, arch.params[key].default)
        problem = arch.params[key].problem(parsed[key])
        if problem:
            shown = value if len(value) <= 40 else value[:39] + "…"
            raise UsageError(f"-p {item}: '{arch.name}' needs {key} {problem}. Received: {key}={shown}")
    return parsed


RECIPE_FILE_VERSION = 1


def is_recipe_file(name: str | None) -> bool:
    """Whether ``--recipe`` names a file (``best-recipe.json``, ``path/to/x``) rather than a recipe."""
    import os

    return bool(name) and (name.endswith(".json") or os.sep in name)


def write_recipe_file(path, arch: str, base: str, recipe: Recipe, params: dict, note: str = "") -> None:
    """A recipe as a file ``zoo train ARCH DATASET --recipe FILE`` accepts (what ``zoo tune`` writes)."""
    import json

    # The dataset options a recipe brings stay with the named recipe (the base), not the file.
    settings = {k: v for k, v in recipe.to_dict().items() if k not in ("params", "note", "data_options")}
    data = {"zoo_recipe": RECIPE_FILE_VERSION, "architecture": arch, "base": base, "settings": settings,
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}, "note": note}
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def read_recipe_file(path: str, arch: Architecture) -> tuple[str, dict, dict]:
    """``(base recipe name, settings, params)`` from a recipe file, checked against ``arch``.

    The format (what ``zoo tune`` writes as ``best-recipe.json``)::

        {"zoo_recipe": 1,                 # the format's version
         "architecture": "cnn",           # the architecture it is for
         "base": "tuned",                 # the recipe whose settings it changes
         "settings": {"epochs": 20, ...}, # Recipe fields (zoo.registry.Recipe)
         "params": {"units": 256, ...},   # the architecture's -p parameters
         "note": "..."}                   # optional, free text

    Every setting and parameter is checked for its type and range here, and a
    fault is named by the file and the key (``settings.epochs``), never by a
    flag the user did not give.

    Raises:
        UsageError: the file is missing, not a zoo recipe file, for another
            architecture, or holds a setting or parameter zoo does not know
            or cannot use.
    """
    import json

    where = f"--recipe {path}"
    try:
        data = runs.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0][:160]
        raise UsageError(f"{where}: not a readable recipe file ({reason})") from None
    if not isinstance(data, dict) or data.get("zoo_recipe") != RECIPE_FILE_VERSION:
        raise UsageError(f"{where}: not a zoo recipe file (no \"zoo_recipe\": {RECIPE_FILE_VERSION})")
    if data.get("architecture") != arch.name:
        shown = str(data.get("architecture"))[:40]
        raise UsageError(f"{where}: a recipe for '{shown}', not '{arch.name}'")
    unknown = sorted(set(data) - {"zoo_recipe", "architecture", "base", "settings", "params", "note"})
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(repr(k[:40]) for k in unknown[:5])} (a recipe "
                         "file holds zoo_recipe, architecture, base, settings, params and note)")
    base = data.get("base", arch.default_recipe)
    if not isinstance(base, str):
        raise UsageError(f"{where}: \"base\" must be a recipe's name, found {type(base).__name__}")
    settings, params = data.get("settings", {}), data.get("params", {})
    for key, value in (("settings", settings), ("params", params)):
        if not isinstance(value, dict):
            raise UsageError(f"{where}: \"{key}\" must be an object, found {type(value).__name__}")
    fields = set(Recipe.__dataclass_fields__) - {"params", "note", "data_options"}
    unknown = sorted(f"settings.{k}" for k in set(settings) - fields) + \
        sorted(f"params.{k}" for k in set(params) - set(arch.params))
    if unknown:
        raise UsageError(f"{where}: unknown {', '.join(u[:60] for u in unknown[:5])}")
    if settings.get("augment", "") is None:
        settings = {**settings, "augment": "none"}  # recorded off: stays off
    # Each setting alone on the default recipe: a fault is this file's key.
    for key, value in settings.items():
        trial = None if key == "augment" and value == "none" else value
        try:
            validate(dataclasses.replace(Recipe(), **{key: trial}))
        except UsageError as exc:
            raise UsageError(f"{where}: settings.{key} = {json.dumps(value, default=str)[:60]} cannot be "
                             f"used ({_without_flag(str(exc))})") from None
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    for key, value in params.items():
        problem = arch.params[key].problem(value)
        if problem:
            raise UsageError(f"{where}: params.{key} = {json.dumps(value, default=str)[:60]}: "
                             f"'{arch.name}' needs {problem}")
    return base, settings, params


def _without_flag(message: str) -> str:
    """``--epochs must be ...`` as ``must be ...``: the file's key is named instead of the flag."""
    import re

    return re.sub(r"^--[a-z-]+ ", "", re.sub(r"^(\w[\w ]*?) (must|should) ", r"\2 ", message))


def resolve(arch: Architecture, recipe_name: str | None = None, overrides: dict | None = None,
            params: dict | None = None, dataset=None) -> tuple[str, Recipe, dict]:
    """The recipe (with flag overrides applied) and the model's full hyperparameters.

    Args:
        arch: the architecture entry.
        recipe_name: a recipe of ``arch``, or a recipe file (``zoo tune``'s
            ``best-recipe.json``: a base recipe, its settings and params);
            None for the architecture's default.
        overrides: Recipe fields set by flags (None values are ignored;
            ``augment="none"`` turns augmentation off).
        params: parsed ``-p`` values; they win over the recipe's params.
        dataset: the dataset entry, whose ``recipes`` for ``arch`` take the
            place of the architecture's recipes of the same name, and whose
            ``augmentations`` bound the augmentation: one asked for that the
            dataset does not allow is refused, the recipe's own is narrowed.

    Returns:
        (recipe name, Recipe, hyperparameters passed to ``arch.build``).

    Raises:
        UsageError: unknown recipe or an out-of-range value.
    """
    file_settings, file_params = {}, {}
    if is_recipe_file(recipe_name):
        recipe_name, file_settings, file_params = read_recipe_file(recipe_name, arch)
    name = (recipe_name or arch.default_recipe).lower()
    # A dataset may bring recipes for an architecture (its tutorial's settings).
    available = {**arch.recipes, **((dataset.recipes or {}).get(arch.name, {}) if dataset else {})}
    if name not in available:
        raise UsageError(f"--recipe {recipe_name}: '{arch.name}' has recipes "
                         f"{', '.join(sorted(available))}")
    recipe = available[name]
    # Flags win over a recipe file, which wins over the named recipe.
    changes = {**{k: v for k, v in file_settings.items() if v is not None},
               **{k: v for k, v in (overrides or {}).items() if v is not None}}
    if changes.get("augment") == "none":  # --augment none turns the recipe's augmentation off
        changes["augment"] = None
    elif "augment" in changes and dataset is not None:
        # Asked for by name: refused when it would change what an example is.
        from zoo.data.augment import refusal

        problem = refusal(changes["augment"], dataset)
        if problem:
            raise UsageError(problem)
    elif dataset is not None and recipe.augment is not None:
        # The recipe's own augmentation: only what the dataset allows (no flipped digits).
        from zoo.data.augment import narrowed

        changes["augment"] = narrowed(recipe.augment, dataset)
    if "batch_size" in changes and "min_steps" not in changes:
        changes["min_steps"] = None  # a batch size asked for is used as given
    recipe = dataclasses.replace(recipe, **changes)
    validate(recipe)
    hyper = {key: p.default for key, p in arch.params.items()}
    hyper.update(recipe.params)
    hyper.update(file_params)
    hyper.update(params or {})
    return name, recipe, hyper


def quantization_aware_stage(recipe: Recipe, overrides: dict) -> Recipe:
    """The recipe as a quantization-aware stage trains (``zoo train --from RUN --qat``).

    Its ``qat_epochs`` and ``qat_learning_rate`` (a tenth of the recipe's
    rate where it gives none) unless ``--epochs`` or ``--learning-rate`` say
    otherwise; no early stopping in so short a stage. Every other setting
    (batch, schedule, augmentation, validation) is the recipe's own.
    """
    import dataclasses

    rate = recipe.qat_learning_rate or (recipe.learning_rate or DEFAULT_LEARNING_RATES[recipe.optimizer]) / 10
    stage = dataclasses.replace(
        recipe, epochs=overrides.get("epochs") or recipe.qat_epochs,
        learning_rate=overrides.get("learning_rate") or float(f"{rate:.3g}"),
        patience=overrides.get("patience"))
    validate(stage)
    return stage


# The smallest batch a recipe's ``min_steps`` shrinks to: smaller batches make
# batch-norm statistics noisy (and a 2-core CPU idle).
MIN_ADAPTED_BATCH = 8


def for_data(recipe: Recipe, task, train_examples: int) -> tuple[Recipe, str | None]:
    """The recipe as it trains on ``train_examples`` examples of ``task``, and what was changed (or None).

    * ``min_steps``: the batch size shrinks so that an epoch takes at least
      that many steps (not below ``MIN_ADAPTED_BATCH``), and the learning
      rate with it, by the square root of the ratio (the rule for Adam-style
      optimizers: a batch 16 times smaller makes each step's gradient about
      4 times noisier). The recipe then records ``min_steps`` as None: it
      is fitted, and a resumed run trains with the batch size and rate it
      began with.
    * the task's own settings (``task.recipe_for``): label smoothing means
      nothing to regression targets, so a regression run records 0.
    """
    changed = []
    adapted = task.recipe_for(recipe)
    if adapted.label_smoothing != recipe.label_smoothing:
        changed.append(f"label smoothing {recipe.label_smoothing:g} -> {adapted.label_smoothing:g} "
                       f"({task.kind} has no classes to smooth)")
    if adapted.min_steps and train_examples:
        batch = min(adapted.batch_size, max(MIN_ADAPTED_BATCH, train_examples // adapted.min_steps))
        if batch != adapted.batch_size:
            rate = adapted.learning_rate or DEFAULT_LEARNING_RATES[adapted.optimizer]
            scaled = float(f"{rate * math.sqrt(batch / adapted.batch_size):.3g}")
            changed.append(f"batch size {adapted.batch_size} -> {batch} and learning rate {rate:g} -> "
                           f"{scaled:g} (an epoch of {train_examples} examples takes at least "
                           f"{adapted.min_steps} steps)")
            adapted = dataclasses.replace(adapted, batch_size=batch, learning_rate=scaled)
        adapted = dataclasses.replace(adapted, min_steps=None)
    return adapted, "; ".join(changed) or None


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
    for name in ("learning_rate", "validation_split", "label_smoothing", "weight_decay", "momentum"):
        value = getattr(recipe, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise UsageError(f"--{name.replace('_', '-')} must be a finite number. Received: {value!r}")
    if recipe.learning_rate is not None and not recipe.learning_rate > 0:
        raise UsageError(f"--learning-rate must be positive. Received: {recipe.learning_rate}")
    if isinstance(recipe.qat_epochs, bool) or not isinstance(recipe.qat_epochs, int) or \
            not 1 <= recipe.qat_epochs <= MAX_EPOCHS:
        raise UsageError(f"qat_epochs must be an integer in 1..{MAX_EPOCHS}. Received: {recipe.qat_epochs!r}")
    rate = recipe.qat_learning_rate
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                             or not math.isfinite(rate) or not rate > 0):
        raise UsageError(f"qat_learning_rate must be a positive number. Received: {rate!r}")
    if recipe.momentum is not None and not 0 <= recipe.momentum < 1:
        raise UsageError(f"momentum must be in [0, 1). Received: {recipe.momentum}")
    if recipe.weight_decay is not None and recipe.weight_decay < 0:
        raise UsageError(f"weight decay must not be negative. Received: {recipe.weight_decay}")
    if not 0 <= recipe.validation_split < 1:
        raise UsageError(f"--validation-split must be in [0, 1). Received: {recipe.validation_split}")
    if recipe.min_steps is not None and (isinstance(recipe.min_steps, bool) or not isinstance(recipe.min_steps, int)
                                         or not 1 <= recipe.min_steps <= MAX_EPOCHS):
        raise UsageError(f"min_steps must be an integer in 1..{MAX_EPOCHS}. Received: {recipe.min_steps!r}")
    if recipe.patience is not None and recipe.patience < 1:
        raise UsageError(f"--patience must be at least 1. Received: {recipe.patience}")
    if recipe.optimizer not in OPTIMIZERS:
        raise UsageError(f"--optimizer {recipe.optimizer}: expected one of {', '.join(OPTIMIZERS)}")
    if recipe.monitor not in MONITORS:
        raise UsageError(f"--monitor {recipe.monitor}: expected one of {', '.join(MONITORS)}")
    if recipe.schedule not in SCHEDULES:
        raise UsageError(f"schedule {recipe.schedule}: expected one of {', '.join(SCHEDULES)}")
    from zoo.data.augment import transformations

    if recipe.augment is not None:
        transformations(recipe.augment)  # raises UsageError for an unknown name
    if not 0 <= recipe.label_smoothing < 1:
        raise UsageError(f"label smoothing must be in [0, 1). Received: {recipe.label_smoothing}")
