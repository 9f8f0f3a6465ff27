"""Every call into plugin code goes through here: locate, load, build, export.

Plugin code may raise anything and return anything. Each call is contained:
zoo's own errors (``zoo.errors``) pass through as the plugin raised them,
``ValueError`` from a builder means "this input does not fit" (a usage error,
as the hook spec documents), and any other exception, or a result that breaks
the contract, becomes one ``PluginError`` line naming the entry and its
distribution. What a plugin returns is checked before zoo uses it.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from zoo.data.arrays import finite  # noqa: F401 - zoo.calls.finite, as before
from zoo.errors import DataError, IncompatibleError, PluginError, ZooError, one_line


def who(entry) -> str:
    """``dataset 'fashion' (zoo)``: the entry and the distribution that registered it."""
    return f"{entry.kind} '{entry.name}' ({entry.plugin or 'unregistered'})"


@contextlib.contextmanager
def contained(entry, action: str):
    """Run plugin code; a failure other than zoo's own errors becomes a PluginError."""
    try:
        yield
    except ZooError:
        raise
    except OSError as exc:
        if exc.filename is None:  # no path to blame: the plugin's own failure
            raise PluginError(f"{who(entry)} failed in {action}: {one_line(exc)}") from None
        # Permission denied, a vanished file: the user's file, not the plugin's fault.
        where = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
        raise DataError(f"{where}: {exc.strerror or one_line(exc)}") from None
    except UnicodeEncodeError as exc:
        if "surrogate" not in str(exc.reason):
            raise PluginError(f"{who(entry)} failed in {action}: {one_line(exc)}") from None
        # A file or folder name that is not UTF-8 reaches Python with surrogates in it.
        shown = str(exc.object).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise DataError(f"{who(entry)}: the name {shown[:200]!r} is not valid UTF-8; rename that file "
                        "or folder") from None
    except Exception as exc:  # a plugin may raise anything
        raise PluginError(f"{who(entry)} failed in {action}: {one_line(exc)}") from None


def locate(entry, data_dir=None) -> str | None:
    """Where ``entry`` would load from (None: not here); a failure raises PluginError."""
    if entry.locate is None:
        return None
    with contained(entry, "locate"):
        where = entry.locate(data_dir=data_dir) if data_dir else entry.locate()
    if where is not None and not isinstance(where, (str, Path)):
        raise PluginError(f"{who(entry)}: locate returned {type(where).__name__}, expected a str or None")
    return None if where is None else str(where)


def load_dataset(entry, data_dir=None, seed: int = 0, options: dict | None = None):
    """``entry.load(...)``, contained, and the result checked against what the entry declares.

    ``options`` (the dataset's own, e.g. ``image_size``) are passed as
    keyword arguments; lists (as config.json stores them) become tuples.

    Raises:
        DataError: the plugin's own data error, or loaded arrays that disagree
            with the declaration (named with the dataset and its plugin).
        PluginError: the loader raised something else or returned no Dataset.
    """
    from zoo.data.dataset import Dataset

    with contained(entry, "load"):
        data = entry.load(data_dir=data_dir, seed=seed, **{
            k: tuple(v) if isinstance(v, list) else v for k, v in (options or {}).items()})
    if not isinstance(data, Dataset):
        raise PluginError(f"{who(entry)}: load returned {type(data).__name__}, "
                          "expected a zoo.dataset.Dataset")
    declared = entry.declared_spec()
    problem = declared.problem() or data.problem(entry.input_shape, entry.class_names, declared)
    if problem:
        source = data.source if isinstance(getattr(data, "source", None), dict) else {}
        where = f" (read from {source['path']})" if isinstance(source.get("path"), str) else ""
        raise DataError(f"{who(entry)}: {problem}{where}")
    return data


def _takes(function, name: str) -> bool:
    """Whether ``function`` accepts the keyword argument ``name``."""
    import inspect

    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


def build_model(entry, input_shape, task, params: dict, spec=None):
    """``entry.build(...)``, contained: a ``keras.Model`` with the task's head.

    Args:
        entry: the architecture.
        input_shape: one example's shape.
        task: a ``zoo.tasks`` task (an int means classification over that
            many numbered classes).
        params: every resolved hyperparameter.
        spec: the dataset's ``zoo.spec.InputSpec`` (None: only the shape is known).

    The builder gets ``(input_shape, task.units, **params)``, and ``task=task``
    and ``spec=spec`` when its signature takes them (hook specs gain
    arguments, never lose them: an older builder still works). A builder that
    cannot take the task cannot build a regression head.

    Raises:
        IncompatibleError: the builder raised ValueError (the input does not fit).
        PluginError: it raised anything else, or returned something unusable:
            not a ``keras.Model``, not one input and one output, an input
            of another shape than the examples', not the task's number of outputs, or (classification) outputs that are not
            probabilities (a forgotten softmax).
    """
    from zoo.data.tasks import Classification

    if isinstance(task, int):
        task = Classification(tuple(str(i) for i in range(task)))
    if not entry.builds_for(task):
        from zoo.api import plugins

        made_for = (f"builds {' and '.join(entry.tasks)} models" if entry.tasks
                    else "answers one row of outputs (classification, regression)")
        able = [e.name for e in plugins.registry().entries("architecture") if e.builds_for(task)]
        raise IncompatibleError(f"{entry.name} {made_for}; the dataset is a {task.kind} task"
                                + (f" (architectures for it: {', '.join(able)})" if able else ""))
    extra = {"task": task} if _takes(entry.build, "task") else {}
    if not extra and not task.classifies:
        raise IncompatibleError(f"{entry.name}: its build takes no 'task' argument, so it cannot "
                                f"build a {task.kind} head")
    if spec is not None and _takes(entry.build, "spec"):
        extra["spec"] = spec
    try:
        model = entry.build(tuple(input_shape), task.units, **params, **extra)
    except ValueError as exc:
        raise IncompatibleError(f"{entry.name}: {exc}") from None
    except ZooError:
        raise
    except Exception as exc:  # a plugin's builder may raise anything
        raise PluginError(f"{who(entry)} failed to build: {one_line(exc)}") from None
    import keras
    import numpy as np

    if not isinstance(model, keras.Model):
        raise PluginError(f"{who(entry)} returned {type(model).__name__}, not a keras.Model")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise PluginError(f"{who(entry)} built a model with {len(model.inputs)} inputs and "
                          f"{len(model.outputs)} outputs; zoo trains models with one of each")
    reads = tuple(model.inputs[0].shape[1:])
    if reads != tuple(input_shape):
        raise PluginError(f"{who(entry)} built a model that reads {list(reads)} for examples of shape "
                          f"{list(input_shape)}")
    gives = tuple(model.outputs[0].shape[1:])
    if gives != task.output_shape:
        if len(task.output_shape) != 1:
            raise PluginError(f"{who(entry)} built a model that gives {list(gives)} per example; its "
                              f"{task.kind} task needs {list(task.output_shape)}")
        what = "classes" if task.classifies else "outputs"
        raise PluginError(f"{who(entry)} built a model with {gives[-1] if gives else 0} outputs for {task.units} {what}")
    if task.classifies:
        # One example through the model: probabilities, or the head forgot its softmax.
        with contained(entry, "build (a first prediction)"):
            out = np.asarray(model(np.zeros((1, *input_shape), np.float32), training=False))
        if not (np.all(out >= -1e-6) and abs(float(out.sum()) - 1.0) < 1e-3):
            raise PluginError(f"{who(entry)} built a classifier whose outputs are not probabilities "
                              f"(they sum to {float(out.sum()):.3g}): end it in a softmax "
                              "(zoo_plugins._common.head does)")
    return model


def prepare_exporter(entry, options: dict, config: dict) -> None:
    """``entry.prepare(options, config)``, contained: a ZooError it raises is the user's one line."""
    with contained(entry, "prepare"):
        entry.prepare(options, config)


def run_exporter(entry, context) -> list:
    """``entry.export(context)``, contained, and its file descriptions checked.

    An exporter returns one dict per file it wrote, each with ``"file"``: a
    name inside ``context.directory``. Every file must have been run through
    ``context.verify`` (or dropped with ``context.fail``); zoo fills in the
    format, size, SHA-256 and the verification figures.

    Raises:
        PluginError: the exporter raised, returned something else than a list
            of such dicts, named a file it did not write, or did not verify one.
    """
    with contained(entry, "export"):
        described = entry.export(context)
    if described is None:
        described = []
    if not isinstance(described, (list, tuple)) or not all(isinstance(d, dict) for d in described):
        raise PluginError(f"{who(entry)}: export returned {type(described).__name__}; "
                          "expected a list of dicts, one per file")
    for item in described:
        name = item.get("file")
        if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
            raise PluginError(f"{who(entry)}: export described a file as {name!r}; expected a "
                              "name inside context.directory")
        item.setdefault("format", entry.name)
        if any(failure.startswith(f"{name}: ") for failure in context.failures):
            continue  # dropped with context.fail: the export stops with that message
        path = context.directory / name
        if not path.exists():
            raise PluginError(f"{who(entry)}: export described {name}, which it did not write")
        check = context.checks.get(name)
        if check is None:
            raise PluginError(f"{who(entry)}: {name} was not verified (an exporter runs every "
                              "file through context.verify); a file not verified is not published")
        item.setdefault("size_bytes", file_size(path))
        if path.is_file():
            item.setdefault("sha256", _sha256(path))
        item.update(check.to_dict())
    return list(described)


def file_size(path: Path) -> int:
    """Bytes of a file, or of everything under a directory."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
