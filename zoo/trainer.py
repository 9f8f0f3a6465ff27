"""The core trainer: fit any registered architecture on any compatible dataset.

One run directory per run (see ``zoo.runs``). Training is Keras ``fit`` over
tf.data pipelines; the callbacks give early stopping, a best-model checkpoint,
resumable backups, a CSV history and NaN detection.
"""
from __future__ import annotations

import contextlib
import csv
import json
import importlib.util
import math
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from zoo import calls, evaluation, plugins, plots, recipes, runs, tasks
from zoo.augment import AUGMENTATIONS, augmentation  # noqa: F401 - zoo.trainer's names, as before
from zoo.errors import IncompatibleError, PluginError, UsageError, ZooError, first_line, one_line
from zoo.recipes import DEFAULT_LEARNING_RATES  # noqa: F401 - zoo.trainer's name, as before
from zoo.run_model import check_model_archive, load_run_model  # noqa: F401 - zoo.trainer's names, as before
from zoo.versions import versions


class TrainingError(ZooError):
    """Training ran but failed (e.g. the loss became NaN)."""


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict
    config: dict = field(default_factory=dict)


def input_pipeline(x, y, spec, task, batch_size: int,
                   shuffle_seed: int | None = None, augment=None, epoch=None):
    """tf.data: shuffled batches, normalised (and augmented) on the fly, prefetched.

    Examples stay in their stored dtype (uint8 images) in memory; each batch
    becomes float32 model input when it is read (``spec``: ``x * scale +
    offset``), and its targets become what the task's loss reads (``task.encode``:
    one-hot labels for classification, so that label smoothing is available).

    Shuffling permutes indices, once per epoch, and gathers whole batches, as
    Keras does for NumPy input: ``Dataset.shuffle`` over the images themselves
    moved one element at a time and made a short LSTM epoch about 10% slower
    than plain Keras. The permutation is a function of ``(shuffle_seed,
    epoch)``, where ``epoch`` is a variable that ``EpochSeeds`` sets as each
    epoch begins: a run resumed in a new process shuffles its remaining
    epochs exactly as the uninterrupted run would (a tf.data random counter
    would start again from the first epoch's permutation).
    """
    import tensorflow as tf

    count = len(x)
    images, labels = tf.constant(x), tf.constant(task.targets(y))
    whole = count // batch_size

    def order(_):
        indices = tf.range(count, dtype=tf.int64)
        if shuffle_seed is None:
            return indices
        seed = tf.stack([tf.constant(shuffle_seed, tf.int64), tf.cast(epoch.value(), tf.int64)])
        return tf.random.experimental.stateless_shuffle(indices, seed=seed)

    def batches(indices):
        # Whole batches by reshaping, then the remainder: no per-element work.
        steps = tf.data.Dataset.from_tensor_slices(tf.reshape(indices[:whole * batch_size], [whole, batch_size]))
        if count % batch_size:
            steps = steps.concatenate(tf.data.Dataset.from_tensors(indices[whole * batch_size:]))
        return steps

    def prepare(batch):
        batch_images = tf.cast(tf.gather(images, batch), tf.float32) * spec.scale
        if spec.offset:
            batch_images += spec.offset
        if augment is not None and len(x.shape) == 3:
            # Keras image layers want a channel axis; grayscale models add their own.
            batch_images = augment(batch_images[..., None], training=True)[..., 0]
        elif augment is not None:
            batch_images = augment(batch_images, training=True)
        return batch_images, task.encode(tf.gather(labels, batch))

    # One element per pass over the data; its permutation is read when the pass begins.
    data = tf.data.Dataset.from_tensors(0).map(order).flat_map(batches)
    # flat_map hides the length; Keras needs it to end each epoch without a warning.
    data = data.apply(tf.data.experimental.assert_cardinality(math.ceil(count / batch_size)))
    return data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def epoch_seeds(seed: int, augment=None):
    """The variable ``input_pipeline`` shuffles by, and the callback that sets it each epoch.

    The callback also re-seeds the augmentation layers' generators from
    ``(seed, epoch)``, so that augmentation, too, is the same after a resume.
    """
    import keras
    import tensorflow as tf

    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="zoo_epoch")
    generators = []
    for layer in (augment.layers if augment is not None else ()):
        generators += [v for v in vars(layer).values() if isinstance(v, keras.random.SeedGenerator)]

    class EpochSeeds(keras.callbacks.Callback):

        def on_epoch_begin(self, index, logs=None):
            epoch.assign(index)
            for n, generator in enumerate(generators):
                generator.state.assign(np.array([(seed + 7919 * index + 104729 * n) % 2**31, 0],
                                                dtype=generator.state.dtype))

    return epoch, EpochSeeds()


def make_optimizer(recipe, steps_per_epoch: int):
    import keras

    rate = recipe.learning_rate or DEFAULT_LEARNING_RATES[recipe.optimizer]
    if recipe.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            rate, decay_steps=max(1, steps_per_epoch * recipe.epochs), alpha=0.01)
    kwargs = {}
    if recipe.optimizer == "adamw" and recipe.weight_decay is not None:
        kwargs["weight_decay"] = recipe.weight_decay
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


BACKUP_WEIGHTS, BACKUP_METADATA = "latest.weights.h5", "training_metadata.json"


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


def train(architecture: str | None = None, dataset: str | None = None, *,
          recipe: str | None = None, overrides: dict | None = None, params: dict | None = None,
          seed: int | None = None, data_dir: str | None = None, output: str | None = None,
          resume: str | None = None, tensorboard: bool = False, verbose: int | str = "auto",
          strategy: str = "auto", devices: str | None = None, cluster: str | None = None,
          task_index: int | None = None, data_options: dict | None = None, callbacks=(),
          start_from: str | None = None) -> TrainResult:
    """Train ``architecture`` on ``dataset`` into a run directory.

    Args:
        architecture, dataset: registered names (aliases and any case accepted).
        recipe: recipe name (default: the architecture's default, ``tuned``).
        overrides: Recipe fields from flags (epochs, batch_size, ...).
        params: architecture hyperparameters (already parsed, see
            ``zoo.recipes.parse_params``).
        seed: seeds weights, shuffling, augmentation and noise.
        data_dir: where the dataset's files are (``--data-dir``).
        data_options: the dataset's own load options (``--image-size``,
            ``--color``: ``{"image_size": (64, 64), "color": "rgb"}``).
        start_from: a finished run of the same architecture and input whose
            weights the new model starts from (``zoo.transfer``; ``--from``).
        callbacks: more Keras callbacks for fit, after zoo's own (``zoo
            tune``'s pruning callback); an exception one raises ends the run
            as it is, its checkpoint kept.
        output: run directory (default ``runs/<arch>-<dataset>-<time>``).
        resume: an interrupted run directory to continue from its last
            finished epoch; its config.json is used, the other arguments must
            be None.
        tensorboard: also write TensorBoard logs to ``RUN/tensorboard``.
        verbose: Keras' fit verbosity.
        strategy, devices, cluster, task_index: how to distribute training
            (``--strategy``, ``--devices``, ``--cluster``, ``--task-index``;
            see ``zoo.distribute``). A multi-worker run is started on every
            worker with the same arguments; only the chief writes the run
            directory, the others keep their files beside it in a hidden
            scratch directory, deleted at the end.

    Returns:
        A ``TrainResult`` with the run directory and its metrics.

    Raises:
        UsageError: a bad name or setting, or settings given with ``resume``.
        ZooError: a data, plugin or run-time fault (one line each).
    """
    # The run directory is locked while this process writes it; the lock goes
    # with the process, so a killed run can be resumed at once.
    with contextlib.ExitStack() as held:
        return _train(held, architecture, dataset, recipe=recipe, overrides=overrides, params=params,
                      seed=seed, data_dir=data_dir, output=output, resume=resume,
                      tensorboard=tensorboard, verbose=verbose, strategy=strategy, devices=devices,
                      cluster=cluster, task_index=task_index, data_options=data_options,
                      callbacks=tuple(callbacks), start_from=start_from)


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

    @property
    def chief(self) -> bool:
        return self.worker is None or self.worker.is_chief

    def stored(self):
        """Names and settings read from a resumed run's config.json are the file's fault, not a flag's."""
        return runs.stored_settings(self.run_dir / runs.CONFIG) if self.resume else contextlib.nullcontext()


def plan_run(held, architecture=None, dataset=None, *, recipe=None, overrides=None, params=None, seed=None,
             data_dir=None, output=None, resume=None, tensorboard=False, strategy="auto", devices=None,
             cluster=None, task_index=None, data_options=None) -> RunPlan:
    """Step: check every argument and resolve names and the recipe; no data is read yet.

    A resumed run's settings come from its config.json (locked in ``held``).

    Raises:
        UsageError, IncompatibleError: a bad name, setting or pairing.
        ZooError: a resumed run's config.json cannot be used.
    """
    from zoo import distribute

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
        config = runs.read_config(run_dir, resume=True)
        if config.get("status") == "complete":
            raise UsageError(f"--resume {resume}: the run already finished")
        recorded = config.get("settings_sha256")
        if recorded is not None and recorded != settings_digest(config):
            raise ZooError(f"{run_dir / runs.CONFIG}: edited since the run began (its architecture, dataset, "
                           "params, recipe or seed no longer match what the backup was trained with); a run "
                           "resumes only with its own settings: train a new run instead")
        for kind, given in (("architecture", architecture), ("dataset", dataset)):
            if given is not None and plugins.get(kind, given).name != config[kind]:
                raise UsageError(f"--resume {resume}: the run trained {config[kind]}, not {given}")
        architecture, dataset = config["architecture"], config["dataset"]
        recipe, seed, data_dir = config["recipe"], config["seed"], config.get("data_dir")
        params = config["params"]
        data_options = config.get("data_options") or {}
        overrides = {k: v for k, v in config["recipe_settings"].items() if k not in ("params", "data_options")}
        if overrides.get("augment") is None:  # recorded off: stays off (None would mean the recipe's)
            overrides["augment"] = "none"
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
    recipe_file = str(Path(recipe).resolve()) if not resume and recipes.is_recipe_file(recipe) else None
    return RunPlan(arch_entry, data_entry, recipe_name, settings, hyper, seed, data_dir, output, resume,
                   data_options, tensorboard, (strategy, devices, cluster, task_index), worker, run_dir, config,
                   recipe_file)


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


def build(plan: RunPlan, data, dist):
    """Step: the architecture's model for the loaded data's spec and task, its variables in ``dist``'s scope."""
    with dist.scope():  # variables are mirrored on every device (and worker)
        return calls.build_model(plan.arch_entry, data.input_shape, data.task, plan.hyper, data.input_spec)


def compile_model(model, settings, task, steps: int, dist) -> None:
    """Step: the optimizer from the recipe, the loss and metrics from the task."""
    with dist.scope():  # one definition of loss, metrics and optimizer for every strategy
        model.compile(optimizer=make_optimizer(settings, steps), **task.compile_args(settings.label_smoothing))


def open_run(plan: RunPlan, data, dist, held) -> tuple[Path, dict]:
    """Step: the run directory (new, locked) and its config.json; a resumed run keeps its own."""
    from zoo import distribute

    run_dir, config = plan.run_dir, plan.config
    if not plan.resume:
        if plan.chief:
            run_dir = runs.new_run_dir(plan.arch_entry.name, plan.data_entry.name, plan.output, held=held)
        else:
            run_dir = distribute.prepare_worker_dir(Path(plan.output), plan.worker.index, resume=False)
            held.enter_context(runs.lock(run_dir))
        spec = data.input_spec
        config = {
            "architecture": plan.arch_entry.name, "architecture_plugin": plan.arch_entry.plugin,
            "dataset": plan.data_entry.name, "dataset_plugin": plan.data_entry.plugin,
            "data_dir": str(Path(plan.data_dir).resolve()) if plan.data_dir else None,
            "data_options": {k: list(v) if isinstance(v, tuple) else v for k, v in plan.data_options.items()},
            "data_source": data.source, "input_shape": list(data.input_shape),
            "input": spec.describe(),
            "class_names": list(data.class_names), "task": data.task.describe(),
            "pixel_scale": spec.scale,
            "normalisation": spec.normalisation, "image_input": spec.image_input(),
            "recipe": plan.recipe_name, "recipe_file": plan.recipe_file,
            "recipe_settings": plan.settings.to_dict(), "recipe_adapted": plan.adapted,
            "params": plan.hyper,
            "seed": plan.seed, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "status": "running", "versions": versions(),
        }
    config["distribution"] = dist.describe(plan.settings.batch_size)
    if not plan.resume:
        config["settings_sha256"] = settings_digest(config)
        if data.tokenizer is not None:  # text: the vocabulary and steps, for predict and export
            from zoo import tokenizer

            tokenizer.write(data.tokenizer, run_dir / tokenizer.TOKENIZER_FILE)
        runs.write_json(run_dir / runs.CONFIG, config)
    return run_dir, config


def _train(held, architecture, dataset, *, recipe, overrides, params, seed, data_dir, output, resume,
           tensorboard, verbose, strategy, devices, cluster, task_index, data_options,
           callbacks=(), start_from=None) -> TrainResult:
    from zoo import distribute

    if start_from and resume:
        raise UsageError("--from with --resume: a resumed run continues from its own backup")

    # Everything that can be refused is refused before data is read.
    plan = plan_run(held, architecture, dataset, recipe=recipe, overrides=overrides, params=params,
                    seed=seed, data_dir=data_dir, output=output, resume=resume, tensorboard=tensorboard,
                    strategy=strategy, devices=devices, cluster=cluster, task_index=task_index,
                    data_options=data_options)
    # Before anything touches TensorFlow's devices: --devices may split the CPU.
    dist = distribute.configure(strategy, devices, cluster, task_index)
    if not resume:
        check_pairing(plan)
    data = load_data(plan)
    fitted = (plan.config or {}).get("fitted") if resume else None
    if isinstance(fitted, dict) and dist.is_chief:
        # Every epoch was trained and the finish failed: resuming only finishes.
        return finish(plan.run_dir, plan.config, data, float(fitted.get("training_seconds") or 0.0),
                      str(fitted.get("final_weights_sha256") or ""), resume)
    fit_recipe(plan, data)
    model = build(plan, data, dist)
    started = None
    if start_from:  # before the run directory exists: a refused --from writes nothing
        from zoo import transfer

        with dist.scope():
            started = transfer.start_from(model, start_from, plan.arch_entry.name, data, plan.hyper)
    run_dir, config = open_run(plan, data, dist, held)
    if started:
        config["started_from"] = started
        runs.write_json(run_dir / runs.CONFIG, config)
    # A frozen front and nothing augmenting: its features are computed once (zoo.frozen).
    front = once_frozen(model, plan, data, dist, run_dir, config, verbose)
    trained, fitted_data = (front.head, front.data) if front else (model, data)
    training, validation, steps, seeding = pipelines(fitted_data, plan.settings, dist, plan.seed)
    compile_model(trained, plan.settings, data.task, steps, dist)
    history, seconds = fit(plan, trained, training, validation, seeding, run_dir, config, dist, verbose, callbacks,
                           saved=model)
    if front:
        seconds += front.seconds

    final_weights = distribute.weights_digest(model)
    if not dist.is_chief:
        # The chief evaluates and writes the run; this worker's scratch directory goes.
        # (Its own history may lack an epoch: on resume the chief's epoch wins.)
        finished = (history.epoch[-1] + 1 if getattr(history, "epoch", None)
                    else len(plots.read_history(run_dir / runs.HISTORY).get("epoch", [])))
        shutil.rmtree(run_dir, ignore_errors=True)
        return TrainResult(run_dir, {"worker": dist.task_index, "workers": dist.workers,
                                     "epochs_run": finished, "training_seconds": round(seconds, 2),
                                     "final_weights_sha256": final_weights}, config)

    # Recorded before finishing: a finish that fails is resumed without training again.
    config["fitted"] = {"training_seconds": round(seconds, 2), "final_weights_sha256": final_weights}
    return finish(run_dir, config, data, seconds, final_weights, resume)


@dataclass
class FrozenFront:
    head: object  # the model's trainable head, fitted on ``data``
    data: object  # the dataset with the frozen front's features as examples
    seconds: float  # computing them


def once_frozen(model, plan: RunPlan, data, dist, run_dir: Path, config: dict, verbose) -> FrozenFront | None:
    """Step: where the model's front is frozen and nothing augments, its features for the training images,
    computed once (``zoo.frozen``); recorded in config.json. None: train the model as it is."""
    from zoo import frozen, spec

    if plan.settings.augment or dist.multi_worker or dist.replicas > 1:
        return None
    parts = frozen.split(model)
    if parts is None:
        return None
    started = time.perf_counter()
    if verbose:
        print(f"computing the frozen {parts.layer}'s features of {len(data.x_train)} training examples once",
              flush=True)
    features = frozen.compute(parts.features, data.x_train, data.normalise)
    seconds = time.perf_counter() - started
    config["frozen_features"] = {"layer": parts.layer, "shape": list(features.shape[1:]),
                                 "seconds": round(seconds, 2)}
    runs.write_json(run_dir / runs.CONFIG, config)
    # The test set is scored by the whole model when the run finishes, not here.
    as_features = replace(data, x_train=features, x_test=features[:0], spec=spec.vector(features.shape[1:]),
                          tokenizer=None, test_texts=None)
    return FrozenFront(parts.head, as_features, seconds)


def fit(plan: RunPlan, model, training, validation, seeding, run_dir: Path, config: dict, dist, verbose,
        extra_callbacks=(), saved=None):
    """Step: Keras fit with zoo's callbacks; a resumed run continues after its last finished epoch.

    ``saved``: the model the checkpoint keeps, when ``model`` is only its
    trainable head (``once_frozen``); by default ``model`` itself.

    Returns:
        ``(history, training seconds)``.

    Raises:
        TrainingError: the loss became NaN, or a file could not be written.
    """
    import keras

    settings, resume = plan.settings, plan.resume
    # Without a validation set the training loss is all there is to go by.
    monitor = settings.monitor if validation is not None else "loss"
    # The checkpoint keeps the lowest value: accuracies are negated.
    sign = -1.0 if monitor.endswith("accuracy") else 1.0
    backup = run_dir / runs.BACKUP
    history_path = run_dir / runs.HISTORY
    recorded = []  # the monitor's values in the epochs a resumed run already finished
    if resume:
        check_backup(backup)
        _trim_history(history_path, backup)
        recorded = plots.read_history(history_path).get(monitor, [])
    # The resumed run keeps the checkpoint unless it beats the earlier best.
    best_so_far = min((sign * v for v in recorded), default=math.inf)
    callbacks = [
        seeding,  # first: the epoch's shuffle and augmentation seeds, before its data is read
        keras.callbacks.CSVLogger(str(history_path), append=bool(resume)),
        keras.callbacks.TerminateOnNaN(),
        _best_checkpoint(run_dir / runs.MODEL, monitor, sign, best_so_far, saved),
        # Saved after the CSV row, so a resumed run never skips a logged epoch.
        # Kept after fit (removed once metrics.json is written), so a kill
        # while evaluating resumes after the last epoch instead of from scratch.
        keras.callbacks.BackupAndRestore(str(backup), double_checkpoint=True, delete_checkpoint=False),
    ]
    if settings.patience and validation is not None:
        callbacks.append(_early_stopping(monitor, sign, settings.patience, recorded, run_dir))
    if plan.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    callbacks += list(extra_callbacks)

    started = time.perf_counter()
    try:
        # Keras fit, or for multi-worker zoo's loop around Keras' own train/test steps.
        history = dist.fit(model, training, validation_data=validation, epochs=settings.epochs,
                           callbacks=callbacks, verbose=verbose if dist.is_chief else 0,
                           run=resume or plan.output)
    except OSError as exc:  # disk full, a read-only or vanished directory
        _write_failed(exc, run_dir, config)
    except ValueError as exc:
        if not resume or "load" not in str(exc).lower():
            raise
        # Keras' restore: weights that do not fit the model zoo built from config.json.
        raise ZooError(f"{backup}: cannot be restored into the run's model ({first_line(exc, 160)}); the "
                       f"backup is damaged or config.json was edited; remove {backup} to train the run's "
                       "epochs again") from None
    seconds = time.perf_counter() - started
    losses = history.history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        config["status"] = "failed: loss became NaN"
        runs.write_json(run_dir / runs.CONFIG, config)
        kept = f"; the best model so far is kept in {run_dir / runs.MODEL}" \
            if (run_dir / runs.MODEL).is_file() else ""
        raise TrainingError(f"training stopped: the loss became NaN in epoch "
                            f"{len(plots.read_history(history_path).get('epoch', [])) + 1} "
                            f"(try a lower --learning-rate){kept}")
    return history, seconds


def pipelines(data, settings, dist, seed: int):
    """Step: the training and validation tf.data pipelines, and the epoch-seeding callback.

    Returns:
        ``(training, validation or None, steps per epoch, EpochSeeds callback)``.
    """
    # Validation is the last part of the training set, as Keras' validation_split.
    x_train, y_train = data.x_train, data.y_train
    validation = None
    if settings.validation_split:
        cut = int(len(x_train) * (1 - settings.validation_split))
        x_train, y_train = data.x_train[:cut], data.y_train[:cut]
        # Multi-worker: each worker validates its share; the metrics are summed over all.
        x_val, y_val = dist.shard(data.x_train[cut:], data.y_train[cut:])
        validation = input_pipeline(x_val, y_val, data.input_spec, data.task,
                                    max(max(settings.batch_size, 256) // dist.local_replicas, 1))
    # Multi-worker: each worker trains on its share with --batch-size per worker.
    x_train, y_train = dist.shard(x_train, y_train, settings.batch_size)
    if len(x_train) == 0:
        raise UsageError(f"--validation-split {settings.validation_split} leaves no training images"
                         + (f" for each of {dist.workers} workers" if dist.multi_worker else ""))
    augment = augmentation(settings.augment, seed) if settings.augment else None
    epoch, seeding = epoch_seeds(seed, augment)
    training = input_pipeline(x_train, y_train, data.input_spec, data.task,
                              dist.replica_batch(settings.batch_size), shuffle_seed=seed, augment=augment,
                              epoch=epoch)
    steps = math.ceil(len(x_train) / settings.batch_size)
    return training, validation, steps, seeding


def finish(run_dir: Path, config: dict, data, seconds: float, final_weights: str, resume) -> TrainResult:
    """Step: score the kept model on the test set, draw the task's figures, write metrics.json.

    The backup goes last, once metrics.json is written: a kill before that
    resumes after the last epoch instead of training again.
    """
    try:
        return _finish(run_dir, config, data, seconds, final_weights, resume)
    except TrainingError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever it was, the run must not be left "running"
        if isinstance(exc, OSError):
            _write_failed(exc, run_dir, config)
        reason = exc.args[0] if isinstance(exc, ZooError) and exc.args else one_line(exc)
        config["status"] = f"failed while finishing: {reason}"
        try:
            runs.write_json(run_dir / runs.CONFIG, config)
        except ZooError:
            pass
        raise TrainingError(f"{run_dir}: training ended but finishing the run failed ({reason}); "
                            f"the trained model is kept: zoo train --resume {run_dir} finishes it") from None


def _finish(run_dir: Path, config: dict, data, seconds: float, final_weights: str, resume) -> TrainResult:
    backup, history_path = run_dir / runs.BACKUP, run_dir / runs.HISTORY
    best = load_run_model(run_dir)
    probabilities = evaluation.predict(best, data.x_test, normalise=data.normalise)
    metrics = data.task.scores(probabilities, data.y_test)
    recorded = plots.read_history(history_path)
    metrics.update(data.task.more_scores(best, data, probabilities))  # per-text scores, written samples
    metrics.update({
        "epochs_run": len(recorded.get("epoch", [])),
        "training_seconds": round(seconds, 2),
        "params": int(best.count_params()),
        "resumed": bool(resume),
        "distribution": {**config["distribution"], "final_weights_sha256": final_weights},
    })
    plots.for_task(data, metrics, recorded, probabilities, run_dir)
    runs.write_json(run_dir / runs.METRICS, metrics)
    config["status"] = "complete"
    config.pop("fitted", None)
    runs.write_json(run_dir / runs.CONFIG, config)
    shutil.rmtree(backup, ignore_errors=True)
    from zoo import report

    report.refresh(run_dir)
    return TrainResult(run_dir, metrics, config)


def _write_failed(exc: OSError, run_dir: Path, config: dict):
    """Stop with one line naming what could not be written; what was finished stays."""
    where = exc.filename or run_dir
    config["status"] = f"failed: cannot write {where}: {exc.strerror or exc}"
    try:  # on a full or read-only disk this may fail too; the old config.json then stays
        runs.write_json(run_dir / runs.CONFIG, config)
    except ZooError:
        pass
    kept = f"the best model so far is kept in {run_dir / runs.MODEL}; " \
        if (run_dir / runs.MODEL).is_file() else ""
    raise TrainingError(f"cannot write {where}: {exc.strerror or exc}; training stopped ({kept}"
                        f"free space or fix the directory, then: zoo train --resume {run_dir})") from None


def evaluate(run: str | None = None, dataset: str | None = None, data_dir: str | None = None) -> dict:
    """Re-evaluate a saved run's model on its dataset's test set (or another's)."""
    from zoo.run import Run

    opened = Run.open(run)
    run_dir, config = opened.directory, opened.config
    # What comes from config.json is that file's fault; --dataset and --data-dir are the user's.
    def stored(from_config: bool):
        return runs.stored_settings(opened.config_path) if from_config else contextlib.nullcontext()

    with stored(not dataset):
        entry = plugins.get("dataset", dataset or config.dataset)
    with stored(not (data_dir or dataset)):
        data = calls.load_dataset(entry, data_dir=data_dir or (None if dataset else config.data_dir),
                                  seed=config.seed, options=None if dataset else config.raw.get("data_options"))
    task = config.task
    if tuple(data.input_shape) != config.input_shape or data.task != task:
        raise IncompatibleError(
            f"{entry.name} gives {data.task.kind} over {data.classes} outputs from shape "
            f"{list(data.input_shape)}; the run's model reads {list(config.input_shape)} into "
            f"{task.units} outputs ({task.kind})")
    model = opened.model()
    metrics = data.task.scores(evaluation.predict(model, data.x_test, normalise=data.normalise), data.y_test)
    return {"run": str(run_dir), "dataset": entry.name, "headline": data.task.headline(metrics), **metrics}
