"""A training request, checked and resolved into a plan before any data is read.

``TrainRequest`` holds what a caller asked for (the arguments of
``zoo.trainer.train``, once); ``plan_run`` checks every argument, resolves
names and the recipe (a resumed run's from its config.json) and returns the
``RunPlan`` every later step reads, so a library caller gets the same
one-line errors as the CLI before any data is read or directory made.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

from zoo.api import calls, plugins
from zoo.errors import IncompatibleError, PluginError, UsageError, ZooError
from zoo.run import runs
from zoo.run.run import RunConfig
from zoo.train import recipes

# What a run's weights depend on: config.json's fields a resumed run rebuilds its model and data from.
DIGESTED = ("architecture", "dataset", "params", "recipe_settings", "seed", "input_shape", "class_names",
            "task", "data_options")


def settings_digest(config: dict) -> str:
    """SHA-256 of the settings a run's backup was trained with (``DIGESTED``), as canonical JSON."""
    import hashlib

    chosen = {key: config.get(key) for key in DIGESTED}
    return hashlib.sha256(json.dumps(chosen, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def refuse_with_resume(resume: str, **given) -> None:
    """``--resume`` continues a run with its own settings: any other setting given is refused."""
    flags = {"recipe": "--recipe", "output": "--output", "params": "-p", "seed": "--seed",
             "data_dir": "--data-dir"}
    named = [flag for key, flag in flags.items() if given.get(key) not in (None, {}, ())]
    named += [f"--{key.replace('_', '-')}" for key, value in (given.get("data_options") or {}).items()
              if value is not None]
    named += [f"--{key.replace('_', '-')}" for key, value in (given.get("overrides") or {}).items()
              if value is not None]
    if named:
        raise UsageError(f"--resume {resume} continues the run with its own settings; "
                         f"{', '.join(named)} cannot be changed (give only --resume RUN)")


@dataclass
class RunPlan:
    """Everything decided before data is read: entries, recipe, seed, run directory, distribution.

    ``plan_run`` makes it and refuses bad arguments, so a library caller gets
    the same one-line errors as the CLI before any data is read or any
    directory is made.
    """

    arch_entry: object
    data_entry: object
    recipe_name: str
    settings: object  # the resolved zoo.registry.Recipe
    hyper: dict  # every hyperparameter of the architecture
    seed: int
    data_dir: str | None
    output: str | None
    resume: str | None
    data_options: dict  # the dataset's load options, checked
    tensorboard: bool
    strategy: tuple  # (strategy, devices, cluster, task_index), as given
    worker: object  # this process' place in a cluster, or None
    run_dir: Path | None = None  # known before loading only when resuming
    config: dict | None = None  # the resumed run's config.json
    recipe_file: str | None = None  # --recipe FILE (zoo tune's best-recipe.json), recorded in config.json
    adapted: str | None = None  # how the recipe was fitted to the data (zoo.recipes.for_data), or None
    quantization_aware: bool = False  # a QAT stage (zoo.train.qat): trained through int8's rounding

    @property
    def chief(self) -> bool:
        return self.worker is None or self.worker.is_chief

    def stored(self):
        """Names and settings read from a resumed run's config.json are the file's fault, not a flag's."""
        return runs.stored_settings(self.run_dir / runs.CONFIG) if self.resume else contextlib.nullcontext()


@dataclass(frozen=True)
class TrainRequest:
    """What a caller asked ``zoo.trainer.train`` for: its arguments, held once (see there)."""

    architecture: str | None = None
    dataset: str | None = None
    recipe: str | None = None
    overrides: dict | None = None
    params: dict | None = None
    seed: int | None = None
    data_dir: str | None = None
    output: str | None = None
    resume: str | None = None
    tensorboard: bool = False
    verbose: int | str = "auto"
    strategy: str = "auto"
    devices: str | None = None
    cluster: str | None = None
    task_index: int | None = None
    data_options: dict | None = None
    callbacks: tuple = ()
    start_from: str | None = None
    quantization_aware: bool = False


def plan_run(held, architecture=None, dataset=None, **given) -> RunPlan:
    """``plan_of`` the request these arguments (``zoo.trainer.train``'s) make."""
    return plan_of(held, TrainRequest(architecture, dataset, **given))


def plan_of(held, request: TrainRequest) -> RunPlan:
    """Step: check every argument and resolve names and the recipe; no data is read yet.

    A resumed run's settings come from its config.json (locked in ``held``).

    Raises:
        UsageError, IncompatibleError: a bad name, setting or pairing.
        ZooError: a resumed run's config.json cannot be used.
    """
    architecture, dataset, recipe, overrides = request.architecture, request.dataset, request.recipe, request.overrides
    params, seed, data_dir, output, resume = request.params, request.seed, request.data_dir, request.output, request.resume
    data_options, tensorboard = request.data_options, request.tensorboard
    strategy, devices, cluster, task_index = request.strategy, request.devices, request.cluster, request.task_index
    from zoo.train import distribute

    # The strategy's flags and this process' place in a cluster, without TensorFlow yet.
    _, _, worker = distribute.plan(strategy, devices, cluster, task_index)
    if worker is not None and not resume and not output:
        raise UsageError("multi-worker training needs --output RUN (the same on every worker)")
    run_dir = config = None
    if resume:
        refuse_with_resume(resume, recipe=recipe, output=output, params=params, seed=seed,
                           data_dir=data_dir, overrides=overrides, data_options=data_options)
        chief = worker is None or worker.is_chief
        run_dir = (runs.resolve_run(resume, need_model=False) if chief else
                   distribute.prepare_worker_dir(distribute.run_path(resume), worker.index, resume=True))
        held.enter_context(runs.lock(run_dir))
        typed = RunConfig.read(run_dir / runs.CONFIG, resume=True)
        config = typed.raw
        if typed.status == "complete":
            raise UsageError(f"--resume {resume}: the run already finished")
        recorded = config.get("settings_sha256")
        if recorded is not None and recorded != settings_digest(config):
            raise ZooError(f"{run_dir / runs.CONFIG}: edited since the run began (its architecture, dataset, "
                           "params, recipe or seed no longer match what the backup was trained with); a run "
                           "resumes only with its own settings: train a new run instead")
        for kind, given, trained in (("architecture", architecture, typed.architecture),
                                     ("dataset", dataset, typed.dataset)):
            if given is not None and plugins.get(kind, given).name != trained:
                raise UsageError(f"--resume {resume}: the run trained {trained}, not {given}")
        architecture, dataset = typed.architecture, typed.dataset
        recipe, seed, params = typed.recipe, typed.seed, typed.params  # checked for a resume (RESUME_FIELDS)
        data_dir, data_options = config.get("data_dir"), config.get("data_options") or {}  # as written: checked where used
        if isinstance(data_options, dict):  # JSON wrote the tuples (--image-size) as lists
            data_options = {k: tuple(v) if isinstance(v, list) else v for k, v in data_options.items()}
        overrides = {k: v for k, v in config["recipe_settings"].items() if k not in ("params", "data_options")}
        if overrides.get("augment") is None:  # recorded off: stays off (None would mean the recipe's)
            overrides["augment"] = "none"
        quantization_aware = bool(config.get("quantization_aware"))
    else:
        quantization_aware = request.quantization_aware
    if architecture is None or dataset is None:
        raise UsageError("give ARCH and DATASET (or --resume RUN)")
    seed = 0 if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= recipes.MAX_SEED:
        raise UsageError(f"--seed must be an integer in 0..{recipes.MAX_SEED}. Received: {seed!r}")

    def stored():  # what comes from a resumed run's config.json is that file's fault
        return runs.stored_settings(run_dir / runs.CONFIG) if resume else contextlib.nullcontext()

    with stored():
        arch_entry = plugins.get("architecture", architecture)
        data_entry = plugins.get("dataset", dataset)
    with stored():
        data_options = data_entry.check_options(data_options)
    if data_entry.input_kind not in arch_entry.accepts:
        raise IncompatibleError(f"{arch_entry.name} reads {', '.join(arch_entry.accepts)} input; "
                                f"{data_entry.name} gives {data_entry.input_kind}")
    try:
        recipe_name, settings, hyper = recipes.resolve(arch_entry, recipe, overrides, params, data_entry)
    except (UsageError, TypeError, ValueError) as exc:
        if not resume:
            raise
        # Flags are checked by the CLI; here only a damaged config.json is at fault.
        raise ZooError(f"{run_dir / runs.CONFIG}: its recipe cannot be used ({exc})") from None
    if settings.data_options and not resume:  # what the recipe was measured with, unless a flag says otherwise
        # Only the options this dataset has: efficientnet-lite0's 224 x 224 RGB for a photo folder, while
        # fashion-sample (no --image-size) stays 28 x 28 gray.
        wanted = {k: v for k, v in settings.data_options.items() if k in data_entry.options}
        try:
            data_options = {**data_entry.check_options(wanted), **data_options}
        except UsageError as exc:
            raise PluginError(f"recipe '{recipe_name}' for {arch_entry.name} on {data_entry.name}: its "
                              f"data_options cannot be used ({exc})") from None
    if tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise UsageError("--tensorboard needs the tensorboard package: pip install 'zoo[tensorboard]'")
    declared_task = data_entry.declared_task()
    if declared_task is not None and settings.monitor not in declared_task.monitors:
        raise IncompatibleError(f"--monitor {settings.monitor}: a {declared_task.kind} task is judged by "
                                f"{' or '.join(declared_task.monitors)}")
    if quantization_aware and not resume:
        settings = recipes.quantization_aware_stage(settings, overrides or {})
    recipe_file = str(Path(recipe).resolve()) if not resume and recipes.is_recipe_file(recipe) else None
    return RunPlan(arch_entry, data_entry, recipe_name, settings, hyper, seed, data_dir, output, resume,
                   data_options, tensorboard, (strategy, devices, cluster, task_index), worker, run_dir, config,
                   recipe_file, quantization_aware=quantization_aware)


def check_pairing(plan: RunPlan) -> None:
    """Step: build the model once on what the dataset declares, so that a bad pairing fails before loading.

    Raises:
        IncompatibleError: the architecture's builder refuses the dataset's shape or task.
    """
    declared_task, declared_spec = plan.data_entry.declared_task(), plan.data_entry.declared_spec()
    # Token ids: the Embedding's size is known once the tokenizer is fitted to the loaded data.
    unfitted = declared_spec.form.fitted and declared_spec.tokenizer is None
    if declared_spec.shape and declared_task is not None and not unfitted:
        calls.build_model(plan.arch_entry, declared_spec.shape, declared_task, plan.hyper, declared_spec)


def load_data(plan: RunPlan):
    """Step: seed everything, then load the dataset and check it against its declaration."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(plan.seed)
    tf.config.experimental.enable_op_determinism()
    with plan.stored():
        data = calls.load_dataset(plan.data_entry, data_dir=plan.data_dir, seed=plan.seed,
                                  options=plan.data_options)
    if plan.settings.monitor not in data.task.monitors:
        raise IncompatibleError(f"--monitor {plan.settings.monitor}: a {data.task.kind} task is judged by "
                                f"{' or '.join(data.task.monitors)}")
    return data


def fit_recipe(plan: RunPlan, data) -> None:
    """Step: the recipe as it trains on this data (``zoo.recipes.for_data``): its batch size for a
    small dataset, its task's own settings. What changed is recorded in config.json."""
    examples = int(len(data.x_train) * (1 - plan.settings.validation_split))
    plan.settings, plan.adapted = recipes.for_data(plan.settings, data.task, examples)
