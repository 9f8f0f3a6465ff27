"""Run directories: where they go, how a RUN argument is found, what they hold."""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from zoo.errors import UsageError, ZooError

CONFIG = "config.json"
METRICS = "metrics.json"
MODEL = "model.keras"
HISTORY = "history.csv"
BACKUP = "backup"


def runs_root() -> Path:
    """Where runs go by default: $ZOO_RUNS_DIR, else ./runs."""
    return Path(os.environ.get("ZOO_RUNS_DIR") or "runs")


def new_run_dir(arch: str, dataset: str, output: str | None = None) -> Path:
    """A fresh run directory (created). ``output`` is used as given."""
    if output:
        path = Path(output)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UsageError(f"--output {output}: exists and is not an empty directory")
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = runs_root() / f"{arch}-{dataset}-{stamp}"
        path, n = base, 1
        while path.exists():  # two runs in the same second
            n += 1
            path = base.with_name(f"{base.name}-{n}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZooError(f"cannot create run directory {path}: {exc.strerror}") from None
    return path


def write_json(path: Path, data) -> None:
    """Write JSON atomically: a reader sees the old file or the new one.

    Raises:
        ZooError: the file cannot be written (disk full, read-only); the old
            file, if any, is left as it was.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ZooError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ZooError(f"{path}: cannot write ({exc.strerror})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ZooError(f"{path}: not found") from None
    except (OSError, ValueError) as exc:
        raise ZooError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise ZooError(f"{path}: expected a JSON object")
    return data


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


def list_runs(root: Path | None = None) -> list[dict]:
    """Runs under ``root``, newest first: name, path, config and metrics (if finished)."""
    root = root or runs_root()
    found = []
    if not root.is_dir():
        return found
    for path in root.iterdir():
        if not (path / CONFIG).is_file():
            continue
        try:
            config = read_json(path / CONFIG)
        except ZooError:
            continue
        metrics = None
        if (path / METRICS).is_file():
            try:
                metrics = read_json(path / METRICS)
            except ZooError:
                pass
        found.append({"name": path.name, "path": str(path), "config": config, "metrics": metrics})
    return sorted(found, key=lambda r: (r["config"].get("created", ""), r["name"]), reverse=True)


def resolve_run(run: str | None, need_model: bool = True) -> Path:
    """The run directory a RUN argument means.

    RUN may be a path to a run directory or the name of one under the runs
    root; omitted, it is the newest finished run (an error if there is none, or
    if two were finished at the same second).
    """
    if run is None:
        finished = [r for r in list_runs() if r["metrics"] is not None]
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
