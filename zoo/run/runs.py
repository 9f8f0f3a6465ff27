"""Run directories: where they go, how a RUN argument is found, what they hold."""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from zoo.data.card import CARD
from zoo.errors import UsageError, ZooError
from zoo.jsonfile import _finite, loads, read_json, write_json  # noqa: F401 - zoo.runs' names, as before

CONFIG = "config.json"
METRICS = "metrics.json"
MODEL = "model.keras"
HISTORY = "history.csv"
BACKUP = "backup"


def runs_root() -> Path:
    """Where runs go by default: $ZOO_RUNS_DIR, else ./runs."""
    return Path(os.environ.get("ZOO_RUNS_DIR") or "runs")


EXPORT_CARD = CARD  # what marks an export directory


def _inside_export(path: Path) -> Path | None:
    """The export directory that ``path`` would be inside of, if any."""
    for parent in path.resolve().parents:
        if (parent / EXPORT_CARD).is_file():
            return parent
    return None


def new_run_dir(arch: str, dataset: str, output: str | None = None,
                held: contextlib.ExitStack | None = None) -> Path:
    """A fresh run directory (created, and locked for ``held``'s lifetime). ``output`` is used as given.

    Raises:
        UsageError: ``output`` exists and is not empty, lies inside an export
            (which ``zoo export --force`` replaces), or another process is
            writing it.
        ZooError: the directory cannot be created.
    """
    if output:
        path = Path(output)
        inside = _inside_export(path)
        if inside is not None:
            raise UsageError(f"--output {output}: inside the export {inside}, which a later "
                             "zoo export --force would replace; choose a directory outside it")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UsageError(f"--output {output}: exists and is not an empty directory")
        blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise UsageError(f"--output {output}: {blocking} is a file, not a directory")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_dir():
                # One atomic step: of two runs given the same new --output, one creates it, the other is refused.
                path.mkdir()
        except FileExistsError:
            raise UsageError(f"--output {output}: another zoo process created it just now") from None
        except OSError as exc:
            raise ZooError(f"cannot create run directory {path}: {exc.strerror}") from None
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = runs_root() / f"{arch}-{dataset}-{stamp}"
        path, n = base, 1
        try:
            base.parent.mkdir(parents=True, exist_ok=True)
            while True:  # mkdir is atomic: two runs started in the same second get two names
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    n += 1
                    path = base.with_name(f"{base.name}-{n}")
        except OSError as exc:
            raise ZooError(f"cannot create run directory {path}: {exc.strerror}") from None
    if held is not None:
        held.enter_context(lock(path))
        # Checked again under the lock: another process may have begun in between.
        if output and any(path.iterdir()):
            raise UsageError(f"--output {output}: exists and is not an empty directory")
    return path


@contextlib.contextmanager
def lock(run_dir: Path):
    """Hold an exclusive advisory lock on ``run_dir`` while writing it.

    ``flock`` on the directory itself: no file is left behind, and the lock
    dies with the process, so a killed run never stays locked.

    Raises:
        UsageError: another process holds it (it is training this run).
    """
    try:
        fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise ZooError(f"{run_dir}: cannot open ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UsageError(f"{run_dir}: another zoo process is writing this run; wait for it to "
                         "finish (or stop it) and try again") from None
    try:
        yield run_dir
    finally:
        os.close(fd)  # releases the lock


# What a run's config.json must hold, and of which type, to be evaluated,
# exported or resumed; a hand-edited or damaged file fails here in one line.
CONFIG_FIELDS = {"architecture": str, "dataset": str, "input_shape": list, "class_names": list}
RESUME_FIELDS = {"recipe": str, "seed": int, "params": dict, "recipe_settings": dict}


def read_config(run_dir: Path, resume: bool = False) -> dict:
    """A run's config.json, checked to hold the fields zoo reads from it."""
    path = run_dir / CONFIG
    config = read_json(path)
    for key, kind in {**CONFIG_FIELDS, **(RESUME_FIELDS if resume else {})}.items():
        if not isinstance(config.get(key), kind) or isinstance(config.get(key), bool):
            found = "missing" if key not in config else f"a {type(config[key]).__name__}"
            raise ZooError(f"{path}: '{key}' should be a {kind.__name__}, found {found} "
                           "(the file is damaged)")
    return config


def require_finished(run_dir: Path, config: dict, what: str) -> None:
    """Refuse a run that did not finish (killed, failed, or still training), as ``zoo compare`` does.

    Raises:
        ZooError: its config.json's status is not "complete" (runs made
            before zoo recorded a status are taken as they are).
    """
    status = config.get("status", "complete")
    if status == "complete":
        return
    if isinstance(status, str) and status.startswith("failed"):
        hint = f"; zoo train --resume {run_dir} finishes it" if "finishing" in status or "write" in status else ""
    else:
        hint = f"; if it was interrupted, zoo train --resume {run_dir} finishes it"
    raise ZooError(f"{run_dir}: not finished (status: {str(status)[:200]}), so it cannot be {what}{hint}")


# What ``zoo runs`` reads from a finished run's metrics.json.
METRICS_FIELDS = {"epochs_run": int}  # and each task's headline figures (its metrics_fields)


def damage(config: dict, metrics: dict | None) -> str | None:
    """Why a run's files cannot be listed or used as they are, or None."""
    for key, kind in CONFIG_FIELDS.items():
        if not isinstance(config.get(key), kind):
            return f"config.json: '{key}' is {'missing' if key not in config else 'not a ' + kind.__name__}"
    for key in ("created", "status", "recipe"):
        if key in config and not isinstance(config[key], str):
            return f"config.json: '{key}' is not a string"
    if metrics is not None:
        from zoo.data import tasks

        task = config.get("task") if isinstance(config.get("task"), dict) else {}
        try:
            needed = tasks.get(str(task.get("kind", tasks.Classification.kind))).metrics_fields
        except KeyError:
            return f"config.json: task '{str(task.get('kind'))[:40]}' is not installed here (a plugin's?)"
        for key, kind in {**{k: (int, float) for k in needed}, **METRICS_FIELDS}.items():
            if not isinstance(metrics.get(key), kind) or isinstance(metrics.get(key), bool):
                return f"metrics.json: '{key}' is {'missing' if key not in metrics else 'of the wrong type'}"
    return None


def list_runs(root: Path | None = None) -> list[dict]:
    """Runs under ``root``, newest first: name, path, config, metrics (if finished) and damage.

    A run whose files cannot be read or hold the wrong fields is listed with
    ``damage`` saying why (its config and metrics then as far as readable),
    and never stops the listing of the others.
    """
    root = root or runs_root()
    found = []
    if not root.is_dir():
        return found
    try:
        entries = list(root.iterdir())
    except OSError as exc:
        raise ZooError(f"{root}: cannot list the runs ({exc.strerror})") from None
    for path in entries:
        config, metrics, damaged = {}, None, None
        try:  # one unreadable run is listed as damaged; it never stops the others
            if not (path / CONFIG).is_file():
                continue
            config = read_json(path / CONFIG)
            if (path / METRICS).is_file():
                metrics = read_json(path / METRICS)
        except ZooError as exc:
            damaged = str(exc).replace(f"{path}{os.sep}", "")
        except OSError as exc:
            damaged = f"cannot be read ({exc.strerror or exc})"
        damaged = damaged or damage(config, metrics)
        found.append({"name": path.name, "path": str(path), "config": config,
                      "metrics": None if damaged else metrics, "damage": damaged})

    def newest(run):
        created = run["config"].get("created")
        return (created if isinstance(created, str) and not run["damage"] else "", run["name"])

    return sorted(found, key=newest, reverse=True)


@contextlib.contextmanager
def stored_settings(config_path: Path):
    """Turn a usage error caused by a value read from ``config_path`` into that file's fault.

    A name or folder in a run's config.json that no longer works (an edited
    architecture, a moved ``data_dir``) must not be reported as a flag the
    user never gave.
    """
    try:
        yield
    except UsageError as exc:
        raise ZooError(f"{config_path}: a stored setting no longer works: {exc}") from None


def resolve_run(run: str | None, need_model: bool = True) -> Path:
    """The run directory a RUN argument means.

    RUN may be a path to a run directory or the name of one under the runs
    root; omitted, it is the newest finished run (an error if there is none, or
    if two were finished at the same second).
    """
    if run is None:
        finished = [r for r in list_runs() if r["metrics"] is not None and not r["damage"]]
        if not finished:
            raise UsageError(f"no finished runs under {runs_root()}/: give RUN, or train one with zoo train")
        if len(finished) > 1 and finished[0]["config"].get("created") == finished[1]["config"].get("created"):
            raise UsageError(f"RUN is ambiguous: {finished[0]['name']} and {finished[1]['name']} "
                             "are equally new; name one")
        return Path(finished[0]["path"])
    path = Path(run)
    if not path.is_dir():
        # A bare name is looked up under the runs root, never outside it.
        if os.sep in run or (os.altsep and os.altsep in run) or run in ("", ".", ".."):
            raise UsageError(f"run '{run}' not found")
        path = runs_root() / run
        if not path.is_dir():
            raise UsageError(f"run '{run}' not found (looked in {runs_root()}/ and the current directory)")
    if not (path / CONFIG).is_file():
        raise ZooError(f"{path}: not a zoo run directory (no {CONFIG})")
    if need_model and not (path / MODEL).is_file():
        raise ZooError(f"{path}: the run has no {MODEL} (training did not finish an epoch)")
    return path
