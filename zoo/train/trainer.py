"""The core trainer: fit any registered architecture on any compatible dataset.

One run directory per run (see ``zoo.runs``). Training is Keras ``fit`` over
tf.data pipelines; the callbacks give early stopping, a best-model checkpoint,
resumable backups, a CSV history and NaN detection.
"""
from __future__ import annotations

import contextlib
import math
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from zoo.api import calls, plugins
from zoo.data import evaluation, plots
from zoo.data.augment import AUGMENTATIONS, augmentation  # noqa: F401 - zoo.trainer's names, as before
from zoo.errors import IncompatibleError, UsageError, ZooError, first_line, one_line
from zoo.run import runs
from zoo.run.run_model import check_model_archive, load_run_model  # noqa: F401 - zoo.trainer's names, as before
from zoo.train.callbacks import (BACKUP_METADATA, BACKUP_WEIGHTS, _best_checkpoint, _early_stopping,  # noqa: F401
                                 _trim_history, check_backup, make_optimizer)
from zoo.train.pipeline import epoch_seeds, input_pipeline, pipelines  # noqa: F401 - zoo.trainer's names, as before
from zoo.train.plan import (RunPlan, TrainRequest, check_pairing, fit_recipe, load_data, plan_of,  # noqa: F401
                            plan_run, refuse_with_resume, settings_digest)
from zoo.train.recipes import DEFAULT_LEARNING_RATES  # noqa: F401 - zoo.trainer's name, as before
from zoo.versions import versions


class TrainingError(ZooError):
    """Training ran but failed (e.g. the loss became NaN)."""


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict
    config: dict = field(default_factory=dict)




def train(architecture: str | None = None, dataset: str | None = None, *,
          recipe: str | None = None, overrides: dict | None = None, params: dict | None = None,
          seed: int | None = None, data_dir: str | None = None, output: str | None = None,
          resume: str | None = None, tensorboard: bool = False, verbose: int | str = "auto",
          strategy: str = "auto", devices: str | None = None, cluster: str | None = None,
          task_index: int | None = None, data_options: dict | None = None, callbacks=(),
          start_from: str | None = None, quantization_aware: bool = False) -> TrainResult:
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
        quantization_aware: with ``start_from``, a quantization-aware stage
            (``zoo.train.qat``; ``--qat``): the run's weights fine-tuned
            through int8's rounding, with the recipe's ``qat_epochs`` and
            ``qat_learning_rate``; the architecture, dataset, recipe, params,
            seed and data are the earlier run's unless given.
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
    request = TrainRequest(architecture, dataset, recipe=recipe, overrides=overrides, params=params, seed=seed,
                           data_dir=data_dir, output=output, resume=resume, tensorboard=tensorboard,
                           verbose=verbose, strategy=strategy, devices=devices, cluster=cluster,
                           task_index=task_index, data_options=data_options, callbacks=tuple(callbacks),
                           start_from=start_from, quantization_aware=quantization_aware)
    with contextlib.ExitStack() as held:
        return _train(held, request)


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
    from zoo.train import distribute

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
            # A QAT stage (zoo.train.qat) says so from the start: a resume before its first epoch trains it so.
            **({"quantization_aware": _qat().describe(plan.settings)} if plan.quantization_aware else {}),
        }
    config["distribution"] = dist.describe(plan.settings.batch_size)
    if not plan.resume:
        config["settings_sha256"] = settings_digest(config)
        if data.tokenizer is not None:  # text: the vocabulary and steps, for predict and export
            from zoo.data import tokenizer

            tokenizer.write(data.tokenizer, run_dir / tokenizer.TOKENIZER_FILE)
        runs.write_json(run_dir / runs.CONFIG, config)
    return run_dir, config


def _train(held, request: TrainRequest) -> TrainResult:
    from zoo.train import distribute

    resume, start_from, verbose, callbacks = request.resume, request.start_from, request.verbose, request.callbacks
    if start_from and resume:
        raise UsageError("--from with --resume: a resumed run continues from its own backup")
    if request.quantization_aware:
        request = _qat().stage_request(request)

    # Everything that can be refused is refused before data is read.
    plan = plan_of(held, request)
    # Before anything touches TensorFlow's devices: --devices may split the CPU.
    dist = distribute.configure(request.strategy, request.devices, request.cluster, request.task_index)
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
        from zoo.train import transfer

        with dist.scope():
            started = transfer.start_from(model, start_from, plan.arch_entry.name, data, plan.hyper)
    run_dir, config = open_run(plan, data, dist, held)
    if started:
        config["started_from"] = started
        runs.write_json(run_dir / runs.CONFIG, config)
    whole = quantization_aware(model, plan, data, dist) if plan.quantization_aware else model
    # A frozen front and nothing augmenting: its features are computed once (zoo.frozen).
    front = once_frozen(whole, plan, data, dist, run_dir, config, verbose)
    trained, fitted_data = (front.head, front.data) if front else (whole, data)
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


def _qat():
    from zoo.train import qat

    return qat


def quantization_aware(model, plan: RunPlan, data, dist):
    """Step: the graph a QAT stage trains (``zoo.train.qat``): ``model``'s layers and weights, rounded where
    int8 rounds, its activation ranges calibrated on training examples (config.json records the stage from
    ``open_run`` on)."""
    qat = _qat()
    with dist.scope():
        graph, _ = qat.quantization_aware(model, data.calibration_examples(qat.CALIBRATION_EXAMPLES, plan.seed))
    return graph


@dataclass
class FrozenFront:
    head: object  # the model's trainable head, fitted on ``data``
    data: object  # the dataset with the frozen front's features as examples
    seconds: float  # computing them


def once_frozen(model, plan: RunPlan, data, dist, run_dir: Path, config: dict, verbose) -> FrozenFront | None:
    """Step: where the model's front is frozen and nothing augments, its features for the training images,
    computed once (``zoo.frozen``); recorded in config.json. None: train the model as it is."""
    from zoo.data import spec
    from zoo.train import frozen

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
    from zoo.reports import report

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
    from zoo.run.run import Run

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
