"""The name-to-entry registry: what plugins register, and how names are looked up.

Entries are plain data plus a function that is called only when the entry is
used (``build``, ``load``, ``export``), so listing never imports TensorFlow.
"""
from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from zoo.api.params import Param, Recipe  # noqa: F401 - zoo.registry.Param and Recipe, as before
from zoo.errors import UsageError, ZooError

KINDS = ("architecture", "dataset", "exporter", "task", "layout")
# What users may type for a kind: `zoo list arch`, `zoo list datasets` ...
KIND_ALIASES = {
    "architecture": "architecture", "architectures": "architecture", "arch": "architecture",
    "archs": "architecture", "a": "architecture",
    "dataset": "dataset", "datasets": "dataset", "data": "dataset", "d": "dataset",
    "exporter": "exporter", "exporters": "exporter", "export": "exporter", "e": "exporter",
    "task": "task", "tasks": "task", "t": "task", "layout": "layout", "layouts": "layout", "l": "layout",
}


@dataclass(frozen=True)
class Architecture:
    """A model architecture.

    Attributes:
        name: the registered name, e.g. ``"lstm-bn"``.
        summary: one line for ``zoo list``.
        build: ``build(input_shape, classes, **params) -> keras.Model``. Raises
            ``ValueError`` for an input it cannot handle.
        accepts: input kinds it can read (``"image"`` for H x W grayscale).
        params: documented hyperparameters, name -> ``Param``.
        recipes: named recipes; must include ``"tutorial"`` and ``"tuned"``.
        default_recipe: the recipe used when none is asked for.
        aliases: other names it answers to.
        plugin: the distribution that registered it (filled in by zoo).
        weights: pretrained weights it offers, tag -> ``zoo.weights.Weights``.
        tasks: the task kinds it builds for (``("detection",)``); empty, the default:
            every task whose answer is one row of outputs (classification,
            regression, generation and a plugin's like them), through
            ``zoo.tasks.head``.
    """

    name: str
    summary: str
    build: Callable[..., Any]
    accepts: tuple = ("image",)
    params: Mapping[str, Param] = field(default_factory=dict)
    recipes: Mapping[str, Recipe] = field(default_factory=dict)
    default_recipe: str = "tuned"
    aliases: tuple = ()
    plugin: str = ""
    # Pretrained weights it offers, tag -> zoo.weights.Weights (a description: source, hash,
    # licence, input size, mean and std, what it was trained on); build() loads them.
    weights: Mapping[str, Any] = field(default_factory=dict)
    tasks: tuple = ()
    kind = "architecture"

    def builds_for(self, task) -> bool:
        """Whether it builds a model for ``task`` (a ``zoo.tasks`` task)."""
        return task.kind in self.tasks if self.tasks else len(task.output_shape) == 1

    def describe(self) -> dict:
        return {
            "accepts": list(self.accepts),
            **({"tasks": list(self.tasks)} if self.tasks else {}),
            **({"weights": {k: w.describe() for k, w in self.weights.items()}} if self.weights else {}),
            "params": {k: {"default": v.default, "help": v.help,
                           **{b: getattr(v, b) for b in ("low", "high", "choices", "search")
                              if getattr(v, b) is not None}}
                       for k, v in self.params.items()},
            "recipes": {k: r.to_dict() for k, r in self.recipes.items()},
            "default_recipe": self.default_recipe,
        }


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset.

    Attributes:
        name, summary, aliases, plugin: as for ``Architecture``.
        input_shape: shape of one example, e.g. ``(28, 28)``; None (the
            default) if only known after loading (a folder of the user's).
            Loaded data is checked against it.
        class_names: the class names, or None if only known after loading.
        load: ``load(data_dir=None, seed=0) -> zoo.dataset.Dataset``.
        locate: ``locate(data_dir=None) -> str | None``: where it would load
            from, without reading it; None when not available here.
        sources: human-readable list of the places it loads from, in order.
        input_kind: what kind of input it gives: ``"image"`` (H x W, or
            H x W x C), ``"sequence"`` (time steps x features) or ``"vector"``.
        needs_data_dir: True when ``--data-dir`` is required.
        task: ``zoo.tasks.Classification`` or ``Regression`` where known
            without loading; None means classification over ``class_names``
            (or only known after loading). The loaded ``Dataset.task`` must
            match it.
        recipes: recipes this dataset brings for architectures, architecture
            name -> {recipe name -> ``Recipe``}; they take the place of the
            architecture's own recipes of the same name (a tutorial that
            defines a model's settings for this data).
        spec: a ``zoo.spec.InputSpec`` of one example, as far as it is known
            without loading (layout, shape, dtype, scale, channels); the
            loaded data must agree with every field it declares. None: the
            short form ``input_kind`` + ``input_shape`` (see
            ``declared_spec``).
        augmentations: the image transformations that keep this dataset's
            labels (``zoo.augment.TRANSFORMATIONS``: rotate, zoom, shear,
            shift, flip); None: all but ``flip`` (a mirror must be declared:
            a mirrored T-shirt is a T-shirt, a mirrored 2 is not a 2).
        options: options of ``load``, name -> ``Param`` (``image_size``,
            ``color`` ...); zoo passes those given as keyword arguments and
            records them in the run, so evaluate and export load the same.
    """

    name: str
    summary: str
    load: Callable[..., Any]
    input_shape: tuple | None = None
    class_names: tuple | None = None
    locate: Callable[..., Any] | None = None
    sources: tuple = ()
    input_kind: str = "image"
    needs_data_dir: bool = False
    aliases: tuple = ()
    plugin: str = ""
    task: Any = None
    recipes: Mapping[str, Mapping[str, Recipe]] = field(default_factory=dict)
    spec: Any = None
    augmentations: tuple | None = None
    options: Mapping[str, Param] = field(default_factory=dict)
    kind = "dataset"

    def __post_init__(self):
        # One description: a declared spec is also what input_kind and input_shape say.
        if getattr(self.spec, "layout", None) is not None:  # a wrong type is refused at registration
            object.__setattr__(self, "input_kind", self.spec.layout)
            if self.spec.shape is not None:
                object.__setattr__(self, "input_shape", tuple(self.spec.shape))

    def declared_spec(self):
        """The ``InputSpec`` known without loading: ``spec``, or the layout and shape declared."""
        from zoo.data.spec import InputSpec

        if self.spec is not None:
            return self.spec
        return InputSpec(self.input_kind, tuple(self.input_shape) if self.input_shape else None)

    def declared_task(self):
        """The task known without loading, or None."""
        if self.task is not None:
            return self.task
        if self.class_names:
            from zoo.data.tasks import Classification

            return Classification(tuple(self.class_names))
        return None

    def check_options(self, options: Mapping | None) -> dict:
        """The options given (None values dropped), each one this dataset has and in range.

        Raises:
            UsageError: an option the dataset does not have, or a value its
                ``Param`` refuses; named by its flag (``--image-size``).
        """
        given = {k: v for k, v in (options or {}).items() if v is not None}
        for key, value in given.items():
            flag = "--" + key.replace("_", "-")
            if key not in self.options:
                have = ", ".join("--" + k.replace("_", "-") for k in self.options) or "none"
                raise UsageError(f"{flag}: dataset '{self.name}' has no such option (its options: {have})")
            problem = self.options[key].problem(value)
            if problem:
                shown = "x".join(map(str, value)) if isinstance(value, (tuple, list)) else value
                raise UsageError(f"{flag} {shown}: dataset '{self.name}' needs {problem}")
        return given

    def describe(self) -> dict:
        task = self.declared_task()
        return {
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "classes": list(self.class_names) if self.class_names else None,
            "task": task.describe() if task is not None else None,
            "input_kind": self.input_kind,
            "input": self.declared_spec().describe(),
            "sources": list(self.sources),
            "recipes_for": {arch: sorted(r) for arch, r in self.recipes.items()},
            "augmentations": list(_allowed_augmentations(self)),
            "options": {k: {"default": v.default, "help": v.help} for k, v in self.options.items()},
        }


def _allowed_augmentations(entry) -> tuple:
    from zoo.data.augment import allowed

    return allowed(entry)


@dataclass(frozen=True)
class Exporter:
    """An export format.

    Attributes:
        name, summary, aliases, plugin: as for ``Architecture``.
        suffixes: file suffixes it writes, e.g. ``(".tflite",)``.
        options: the export options it takes, name -> ``Param`` (type, help,
            default, checks); each becomes a ``zoo export`` flag
            (``int8_io`` -> ``--int8-io``), and its value reaches
            ``export`` in ``context.options``. Two exporters may declare the
            same option (``quantize``): one flag, and each value must be one
            some selected exporter takes. A tuple of names (the form of
            before) takes options other exporters declare.
        flag_help: the help of ``--NAME``, a flag that selects this exporter
            (``--tflite``); None: it is selected with ``--format NAME``.
        export: ``export(context) -> list[dict]``; see ``zoo.export``.
        needs: ``needs(config) -> tuple`` of exporter names whose files this
            one builds on, given the run's config.json (the web page runs
            ``model.tflite``): zoo runs those first. None: nothing.
        prepare: ``prepare(options, config)``, called before the run's model
            is loaded, to refuse a bad option value (``zoo.errors.UsageError``)
            or a run it cannot export (``ZooError``) before minutes go into
            converting. None: nothing.
    """

    name: str
    summary: str
    export: Callable[..., Any]
    suffixes: tuple = ()
    options: Any = ()
    aliases: tuple = ()
    plugin: str = ""
    needs: Callable[..., Any] | None = None
    prepare: Callable[..., Any] | None = None
    flag_help: str | None = None
    kind = "exporter"

    @property
    def params(self) -> dict:
        """The options it declares, name -> ``Param`` (none for the tuple form)."""
        return dict(self.options) if isinstance(self.options, Mapping) else {}

    def describe(self) -> dict:
        return {"suffixes": list(self.suffixes), "options": list(self.options)}


@dataclass(frozen=True)
class TaskType:
    """A task as the registry lists it: ``register_tasks`` registers the class, zoo wraps it in this.

    Attributes:
        name: the task's ``kind`` (``"classification"``).
        summary: its ``summary``.
        task: the class (a ``zoo.tasks.Task``); ``task.restore(described, class_names)`` rebuilds
            one from a run's config or a model card.
    """

    name: str
    summary: str
    task: Any
    aliases: tuple = ()
    plugin: str = ""
    kind = "task"

    @classmethod
    def of(cls, task) -> "TaskType":
        from zoo.data.tasks import Task

        if not (isinstance(task, type) and issubclass(task, Task)):
            raise TypeError(f"register_tasks registered {task!r}, expected a subclass of zoo.tasks.Task")
        return cls(task.kind, task.summary, task, tuple(task.aliases))

    def describe(self) -> dict:
        return {"module": self.task.__module__, "monitors": list(self.task.monitors)}


ENTRY_TYPES = {"architecture": Architecture, "dataset": DatasetEntry, "exporter": Exporter, "task": TaskType}


# A name becomes part of a run directory's name: no path separators, no dot-names.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+.-]{0,63}")


def check_name(entry) -> None:
    """Refuse an entry whose name or alias could not safely be part of a file name.

    Raises:
        ValueError: the name is empty, too long, or holds a path separator,
            ``..``, or other characters than letters, digits, ``_+.-``.
    """
    for name in (entry.name, *entry.aliases):
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or ".." in name:
            raise ValueError(f"{entry.kind} name {name!r} is not allowed (letters, digits and "
                             f"_+.- only, starting with a letter or digit, no '..')")


# zoo export's own flags: an exporter's option may not take their names.
EXPORT_FLAGS = ("run", "formats", "format", "output", "force", "as_json", "json", "verbose", "quiet", "help")


def check_declaration(entry) -> None:
    """Refuse a dataset entry whose input spec cannot be right, or an exporter whose options cannot be
    flags, before anything uses them.

    Raises:
        ValueError: ``spec`` is not an ``InputSpec``, or its fields contradict
            each other (a layout zoo does not know, a shape of the wrong rank,
            a non-finite scale ...); an exporter's option is not a ``Param``,
            or takes the name of one of zoo export's own flags.
    """
    if entry.kind == "exporter":
        if not isinstance(entry.options, (tuple, list, Mapping)):
            raise ValueError(f"exporter '{entry.name}': options must be a map of name -> zoo.registry.Param")
        for name, param in entry.params.items():
            if not isinstance(param, Param) or not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"exporter '{entry.name}': option {name!r} must be a zoo.registry.Param "
                                 "under a Python name")
            if name in EXPORT_FLAGS:
                raise ValueError(f"exporter '{entry.name}': option {name!r} takes the name of a zoo export flag")
        return
    if entry.kind != "dataset":
        return
    from zoo.data.spec import InputSpec

    if entry.spec is not None and not isinstance(entry.spec, InputSpec):
        raise ValueError(f"dataset '{entry.name}': spec must be a zoo.spec.InputSpec. "
                         f"Received: {type(entry.spec).__name__}")
    problem = entry.declared_spec().problem()
    if problem:
        raise ValueError(f"dataset '{entry.name}': {problem}")


def normalise_name(name: str) -> str:
    """Names compare case-insensitively, and `_` equals `-`."""
    return name.strip().lower().replace("_", "-")


def parse_kind(kind: str) -> str:
    try:
        return KIND_ALIASES[kind.lower()]
    except KeyError:
        raise UsageError(
            f"unknown kind '{kind}': expected one of architectures, datasets, exporters, tasks, layouts"
        ) from None


class Registry:
    """Everything the loaded plugins registered, by kind."""

    def __init__(self):
        self._entries: dict[str, list] = {kind: [] for kind in KINDS}

    def add(self, entry, plugin: str) -> None:
        self._entries[entry.kind].append(replace(entry, plugin=plugin))

    def entries(self, kind: str | None = None, pattern: str | None = None) -> list:
        """Entries of one kind (or all), filtered by a shell wildcard on name or alias."""
        kinds = [kind] if kind else list(KINDS)
        found = []
        for k in kinds:
            for entry in self._entries[k]:
                names = [entry.name, *entry.aliases]
                if pattern is None or any(
                    fnmatch.fnmatch(normalise_name(n), normalise_name(pattern)) for n in names
                ):
                    found.append(entry)
        return sorted(found, key=lambda e: (KINDS.index(e.kind), e.name, e.plugin))

    def in_order(self, kind: str) -> list:
        """Entries of one kind as they were registered: built-ins first, in their plugins' order."""
        return list(self._entries[kind])

    def get_any(self, name: str):
        """The entry of any kind called ``name``: what ``zoo show NAME`` describes."""
        for kind in KINDS:
            try:
                return self.get(kind, name)
            except UsageError:
                continue
        return self.get(None, name)  # raises, with suggestions from every kind

    def get(self, kind: str | None, name: str):
        """The entry called ``name`` (or with that alias).

        Raises:
            UsageError: no such name (with "did you mean ...").
            ZooError: two plugins registered the name.
        """
        wanted = normalise_name(name)
        candidates = self._entries[kind] if kind else [e for k in KINDS for e in self._entries[k]]
        matches = [
            e for e in candidates
            if wanted in {normalise_name(n) for n in (e.name, *e.aliases)}
        ]
        if len(matches) > 1:
            providers = " and ".join(sorted(f"'{e.plugin}'" for e in matches))
            raise ZooError(
                f"{kind} '{name}' is registered by more than one plugin ({providers}); "
                f"uninstall one of them or limit plugins with ZOO_LOAD_PLUGINS"
            )
        if not matches:
            known = sorted({n for e in candidates for n in (e.name, *e.aliases)})
            close = difflib.get_close_matches(wanted, [normalise_name(n) for n in known], n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UsageError(
                f"unknown {kind or 'name'} '{name}'{hint} (known: {', '.join(known) or 'none'})"
            )
        return matches[0]
