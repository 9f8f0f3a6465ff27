"""``zoo tune``: hyperparameter search with Optuna, each trial a normal zoo run.

A study lives in ``runs/tune-<arch>-<dataset>-<stamp>/``: ``tune.json``
(what is searched, and how), ``study.db`` (Optuna's sqlite storage) and one
run directory per trial (``trial-000`` ...), trained by the same trainer,
seeding and run layout as ``zoo train``. Trials are judged on the validation
set only, never the test set: the best epoch's ``val_accuracy`` for a
classifier, ``val_loss`` otherwise (a recipe without a validation split gets
10% held out). Optuna's median pruner stops trials whose validation figures
fall behind (``optuna_integration.KerasPruningCallback``).

``zoo tune --resume DIR`` continues a killed study: the trial that was
running is marked failed, and the sampler is seeded from the number of trials
so far, so it does not propose the points it proposed before. At the end the
best trial's recipe is written as ``best-recipe.json``, which ``zoo train
ARCH DATASET --recipe FILE`` accepts.

Optuna is an extra: ``pip install 'zoo[tune]'``.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

from zoo.api import calls, plugins
from zoo.data import tasks
from zoo.errors import UsageError, ZooError
from zoo.run import runs
from zoo.run.run import RunConfig
from zoo.train import recipes

INSTALL = "pip install 'zoo[tune]'"
STUDY, SETTINGS, BEST = "study.db", "tune.json", "best-recipe.json"
TUNING_VALIDATION_SPLIT = 0.1  # held out when the recipe trains on everything
# The recipe fields searched for every architecture: (kind, low, high) or ("choice", values).
RECIPE_SPACE = {
    "learning_rate": ("log", 1e-4, 1e-2),
    "batch_size": ("choice", (32, 64, 128, 256)),
}
CLASSIFIER_SPACE = {"label_smoothing": ("float", 0.0, 0.15)}


@dataclass
class TuneResult:
    directory: Path
    best_trial: int
    best_value: float
    monitor: str
    recipe_file: Path
    command: str
    trials: int


def _optuna():
    try:
        import optuna
        import optuna_integration  # noqa: F401 - the pruning callback lives there
    except ImportError:
        raise UsageError(f"zoo tune needs Optuna: {INSTALL}") from None

    # ERROR: a failed trial raises through zoo, which reports it in one line; Optuna would add its traceback.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


def search_space(arch, task) -> dict:
    """name -> (kind, ...): the recipe fields, then every ``Param`` that declares ``search``.

    Parameters are keyed ``-p NAME``; kinds are ``log``, ``float``, ``int``
    (low, high) and ``choice`` (values).
    """
    space = dict(RECIPE_SPACE)
    if task.classifies:
        space.update(CLASSIFIER_SPACE)
    for name, param in arch.params.items():
        if param.search is None:
            continue
        default = param.default
        if isinstance(default, (int, float)) and not isinstance(default, bool) and len(param.search) == 2:
            low, high = param.search
            if isinstance(default, int):
                space[f"-p {name}"] = ("int", int(low), int(high))
            elif low > 0 and high / low >= 100:
                space[f"-p {name}"] = ("log", float(low), float(high))
            else:
                space[f"-p {name}"] = ("float", float(low), float(high))
        else:
            space[f"-p {name}"] = ("choice", tuple(param.search))
    return space


def _suggest(trial, name: str, spec):
    kind = spec[0]
    if kind == "log":
        return trial.suggest_float(name, spec[1], spec[2], log=True)
    if kind == "float":
        return trial.suggest_float(name, spec[1], spec[2])
    if kind == "int":
        return trial.suggest_int(name, spec[1], spec[2])
    values = list(spec[1])
    # Optuna stores categorical values as JSON-able scalars: tuples go as their index.
    index = trial.suggest_categorical(name, list(range(len(values)))) if any(
        isinstance(v, (tuple, list)) for v in values) else None
    return values[index] if index is not None else trial.suggest_categorical(name, values)


def tune(architecture: str | None = None, dataset: str | None = None, *, trials: int = 10,
         timeout: float | None = None, epochs: int | None = None, seed: int = 0, data_dir: str | None = None,
         output: str | None = None, resume: str | None = None, log=print) -> TuneResult:
    """Search ``architecture``'s hyperparameters on ``dataset`` for ``trials`` trials in all.

    Args:
        trials: the number of trials the study should hold when done
            (a resumed study runs the rest).
        timeout: stop starting new trials after this many seconds.
        epochs: epochs per trial (default: the recipe's).
        seed: the study's seed: every trial trains with it; the sampler's is
            derived from it and the trial count.
        output: the study directory (default ``runs/tune-ARCH-DATASET-TIME``).
        resume: a study directory to continue; the other arguments but
            ``trials`` and ``timeout`` come from its tune.json.

    Raises:
        UsageError: bad names or settings, Optuna missing, a resumed study
            given other settings.
        ZooError: a study directory that cannot be used.
    """
    optuna = _optuna()

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise UsageError(f"--trials must be a positive integer. Received: {trials!r}")
    if timeout is not None and not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout must be a positive number of seconds. Received: {timeout!r}")
    if resume:
        given = {"ARCH": architecture, "DATASET": dataset, "--epochs": epochs, "--data-dir": data_dir,
                 "--output": output}
        named = [flag for flag, value in given.items() if value is not None]
        if seed not in (0, None):
            named.append("--seed")
        if named:
            raise UsageError(f"--resume {resume} continues the study with its own settings; "
                             f"{', '.join(named)} cannot be given")
        directory = Path(resume)
        if not (directory / SETTINGS).is_file():
            raise UsageError(f"--resume {resume}: not a zoo tune study (no {SETTINGS})")
        settings = runs.read_json(directory / SETTINGS)
    else:
        if architecture is None or dataset is None:
            raise UsageError("give ARCH and DATASET (or --resume DIR)")
        arch_entry, data_entry = plugins.get("architecture", architecture), plugins.get("dataset", dataset)
        # Everything zoo train would refuse is refused before a study (and its study.db) exists.
        from zoo.train import trainer

        with contextlib.ExitStack() as held:
            plan = trainer.plan_run(held, arch_entry.name, data_entry.name, overrides={"epochs": epochs},
                                    seed=seed, data_dir=data_dir)
            trainer.check_pairing(plan)
            if not data_entry.declared_spec().shape:  # a user's folder: its shape is known once loaded
                data = trainer.load_data(plan)
                calls.build_model(plan.arch_entry, data.input_shape, data.task, plan.hyper, data.input_spec)
        task = data_entry.declared_task()
        base, recipe, _ = recipes.resolve(arch_entry, None, {"epochs": epochs}, None, data_entry)
        split = recipe.validation_split or TUNING_VALIDATION_SPLIT
        task = task if task is not None else tasks.Classification(())
        settings = {"architecture": arch_entry.name, "dataset": data_entry.name, "base_recipe": base,
                    "epochs": recipe.epochs, "validation_split": split, "seed": seed,
                    "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
                    "monitor": "val_accuracy" if task.classifies else "val_loss",
                    "space": search_space(arch_entry, task),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        directory = _new_study_dir(arch_entry.name, data_entry.name, output)
        runs.write_json(directory / SETTINGS, settings)
    space = _space_from_json(settings["space"])
    monitor = settings["monitor"]
    direction = "maximize" if monitor == "val_accuracy" else "minimize"
    storage = f"sqlite:///{(directory / STUDY).resolve()}"
    study = optuna.create_study(study_name="zoo", storage=storage, direction=direction, load_if_exists=True,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    for frozen in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        # The trial that was running when the study was killed: it ends as failed.
        study.tell(frozen.number, state=optuna.trial.TrialState.FAIL)
    done = len(study.trials)
    # Failed trials (a kill) are run again; finished and pruned ones count.
    counted = sum(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
                  for t in study.trials)
    # Seeded from the trial count: a resumed study does not propose its first points again.
    study.sampler = optuna.samplers.TPESampler(seed=int(settings["seed"]) * 1000 + done, n_startup_trials=5)

    def objective(trial):
        from optuna_integration import KerasPruningCallback

        from zoo.train import trainer

        chosen = {name: _suggest(trial, name, spec) for name, spec in space.items()}
        overrides = {k: v for k, v in chosen.items() if not k.startswith("-p ")}
        overrides.update(epochs=settings["epochs"], validation_split=settings["validation_split"])
        params = {k[3:]: v for k, v in chosen.items() if k.startswith("-p ")}
        run_dir = directory / f"trial-{trial.number:03d}"
        log(f"trial {trial.number}: " + ", ".join(f"{k}={_shown(v)}" for k, v in chosen.items()))
        trial.set_user_attr("run", run_dir.name)
        try:
            result = trainer.train(settings["architecture"], settings["dataset"], recipe=settings["base_recipe"],
                                   overrides=overrides, params=params, seed=int(settings["seed"]),
                                   data_dir=settings.get("data_dir"), output=str(run_dir), verbose=0,
                                   callbacks=[KerasPruningCallback(trial, monitor)])
        except optuna.TrialPruned:
            _mark(run_dir, "pruned by Optuna (validation behind the median)")
            log(f"trial {trial.number}: pruned")
            raise
        history = _history(result.run_dir, monitor)
        if not history:
            raise ZooError(f"{run_dir}: recorded no {monitor}")
        value = max(history) if direction == "maximize" else min(history)
        log(f"trial {trial.number}: best {monitor} {value:.4f}")
        return value

    remaining = trials - counted
    if remaining > 0:
        study.optimize(objective, n_trials=remaining, timeout=timeout, catch=())
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not finished:
        raise ZooError(f"{directory}: no trial finished (all {len(study.trials)} pruned or failed)")
    best = study.best_trial
    best_run = directory / best.user_attrs["run"]
    typed = RunConfig.read(Path(best_run) / runs.CONFIG)
    config = typed.raw
    recipe_file = directory / BEST
    from zoo.api.registry import Recipe

    recorded = {k: v for k, v in config["recipe_settings"].items() if k in Recipe.__dataclass_fields__}
    recorded.pop("params", None)
    recipes.write_recipe_file(
        recipe_file, settings["architecture"], settings["base_recipe"], Recipe(**recorded),
        {k: v for k, v in typed.params.items() if f"-p {k}" in space},
        note=f"zoo tune {directory.name}: trial {best.number} of {len(study.trials)}, best {monitor} "
             f"{best.value:.4f} (seed {settings['seed']})")
    command = f"zoo train {settings['architecture']} {settings['dataset']} --recipe {recipe_file}"
    return TuneResult(directory, best.number, float(best.value), monitor, recipe_file, command, len(study.trials))


def _space_from_json(stored: dict) -> dict:
    """The search space as tune.json stores it (JSON lists) back as tuples."""
    space = {}
    for name, spec in stored.items():
        if spec[0] == "choice":
            space[name] = ("choice", tuple(tuple(v) if isinstance(v, list) else v for v in spec[1]))
        else:
            space[name] = tuple(spec)
    return space


def _shown(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def _history(run_dir: Path, monitor: str) -> list:
    from zoo.data import plots

    values = plots.read_history(run_dir / runs.HISTORY).get(monitor, [])
    return [v for v in values if math.isfinite(v)]


def _mark(run_dir: Path, status: str) -> None:
    """Record why a trial's run stopped in its config.json (it stays, for zoo runs and compare)."""
    path = run_dir / runs.CONFIG
    if path.is_file():
        config = runs.read_json(path)
        config["status"] = status
        runs.write_json(path, config)


def _new_study_dir(arch: str, dataset: str, output: str | None) -> Path:
    if output:
        directory = Path(output)
        if directory.exists() and any(directory.iterdir()):
            raise UsageError(f"--output {output}: exists and is not empty (continue a study with --resume)")
    else:
        directory = runs.runs_root() / f"tune-{arch}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
        if directory.exists():
            raise UsageError(f"{directory}: exists; try again in a second or give --output")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZooError(f"cannot create {directory}: {exc.strerror}") from None
    return directory
