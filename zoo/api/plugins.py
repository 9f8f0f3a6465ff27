"""Build the plugin manager: built-in plugins, then third-party entry points.

Each plugin, built-in or third-party, is imported and called on its own, so one that fails
to import, or raises inside a hook, is reported (a one-line warning on stderr
and ``broken`` in ``zoo plugins``) while every other plugin keeps working.
"""
from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field

import pluggy

from zoo.api import hookspecs
from zoo.api.registry import ENTRY_TYPES, Registry, TaskType, check_declaration, check_name
from zoo.data import layouts, tasks
from zoo.errors import one_line

# Built-ins register through the same hooks as third-party plugins.
DEFAULT_PLUGINS = (
    "zoo_plugins.tasks",
    "zoo_plugins.layouts",
    "zoo_plugins.dense",
    "zoo_plugins.cnn",
    "zoo_plugins.vgg",
    "zoo_plugins.simplernn",
    "zoo_plugins.lstm_bn",
    "zoo_plugins.textcnn",
    "zoo_plugins.efficientnet_lite",
    "zoo_plugins.ssd_lite",
    "zoo_plugins.keras_applications",
    "zoo_plugins.datasets",
    "zoo_plugins.detection_data",
    "zoo_plugins.text",
    "zoo_plugins.generation",
    "zoo_exports.savedmodel",
    "zoo_exports.tflite",
    "zoo_exports.litert_boxes",
    "zoo_exports.mediapipe",
    "zoo_exports.onnx",
    "zoo_exports.web",
)
BUILTIN_DISTRIBUTION = "zoo"
ENTRY_POINT_GROUP = "zoo"
# In this order: a dataset's spec is checked against the layouts registered before it.
HOOKS = {
    "register_layouts": "layout",
    "register_tasks": "task",
    "register_architectures": "architecture",
    "register_datasets": "dataset",
    "register_exporters": "exporter",
}


@dataclass
class PluginInfo:
    """One loaded (or failed) plugin, as ``zoo plugins`` shows it."""

    name: str
    distribution: str
    version: str
    builtin: bool
    hooks: list = field(default_factory=list)
    error: str | None = None

    @property
    def status(self) -> str:
        return "ok" if self.error is None else f"broken: {self.error}"

    def to_dict(self) -> dict:
        return {
            "name": self.name, "distribution": self.distribution, "version": self.version,
            "builtin": self.builtin, "hooks": self.hooks,
            "status": "ok" if self.error is None else "broken", "error": self.error,
        }


def _allowed_plugins() -> set | None:
    """Names from ZOO_LOAD_PLUGINS (comma list); None when unset (load all)."""
    value = os.environ.get("ZOO_LOAD_PLUGINS")
    if value is None:
        return None
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def _warn(info: PluginInfo) -> None:
    print(f"zoo: warning: plugin '{info.name}' ({info.distribution}) is broken: {info.error}",
          file=sys.stderr)


def _entry_type(kind: str) -> type:
    return layouts.Layout if kind == "layout" else ENTRY_TYPES[kind]


_loading = False


def _publish(entries) -> None:
    """Hand registered tasks and layouts to the data floor's tables (``zoo.data.tasks.REGISTERED``, ...),
    where specs, cards and configs look names up without importing the plugin machinery."""
    for entry in entries:
        if entry.kind == "layout":
            for name in (entry.name, *entry.aliases):
                layouts.REGISTERED[name] = entry
        elif entry.kind == "task":
            for name in (entry.name, *entry.aliases):
                tasks.REGISTERED[name] = entry.task


def _load_for_lookup() -> None:
    if not _loading:  # while loading, the tables fill as plugins register
        load()


# A task or layout named in a file that no built-in has: loading the plugins may register it.
layouts.NAMES.load_plugins = tasks.NAMES.load_plugins = _load_for_lookup


@dataclass
class Plugins:
    manager: pluggy.PluginManager
    infos: list
    registry: Registry


@functools.lru_cache(maxsize=None)
def load() -> Plugins:
    """Load every plugin once per process and collect what they register."""
    global _loading
    _loading = True
    layouts.REGISTERED.clear()
    tasks.REGISTERED.clear()
    try:
        return _load(layouts, tasks)
    finally:
        _loading = False


def _load(layouts, tasks) -> Plugins:
    import importlib.metadata  # here, not above: zoo predict of a built-in task never loads plugins

    from zoo import __version__

    manager = pluggy.PluginManager("zoo")
    manager.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}

    for module_name in DEFAULT_PLUGINS:
        # A built-in module is contained like an entry point: one that fails to import (a missing
        # dependency, a damaged install) is broken alone, not every command.
        info = infos[module_name] = PluginInfo(module_name, BUILTIN_DISTRIBUTION, __version__, True)
        try:
            manager.register(importlib.import_module(module_name), name=module_name)
        except Exception as exc:  # an import may raise anything
            info.error = one_line(exc)
            _warn(info)

    allowed = _allowed_plugins()
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        dist_name = dist.metadata["Name"] if dist else entry_point.value
        if allowed is not None and entry_point.name.lower() not in allowed \
                and dist_name.lower() not in allowed:
            continue
        if entry_point.name in infos:
            continue  # the same plugin found twice on sys.path
        info = PluginInfo(entry_point.name, dist_name, dist.version if dist else "?", False)
        infos[entry_point.name] = info
        try:
            module = entry_point.load()
            manager.register(module, name=entry_point.name)
        except Exception as exc:  # a plugin's import may raise anything
            info.error = one_line(exc)
            _warn(info)

    # Entries are kept per plugin (per entry point) and registered only once
    # every hook has run: a plugin broken in a later hook registers nothing,
    # and its siblings from the same distribution keep theirs.
    collected: dict[str, list] = {name: [] for name in infos}
    for hook_name, kind in HOOKS.items():
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            info = infos[impl.plugin_name]
            if info.error:
                continue
            info.hooks.append(hook_name)
            entries = []

            def register(entry, _kind=kind, _entries=entries, _hook=hook_name):
                if _kind == "task":
                    entry = TaskType.of(entry)
                expected = _entry_type(_kind)
                if not isinstance(entry, expected):
                    public = "zoo.layouts" if _kind == "layout" else "zoo"  # where plugins find the type
                    raise TypeError(f"{_hook} registered {type(entry).__name__}, "
                                    f"expected {public}.{expected.__name__}")
                check_name(entry)
                check_declaration(entry)
                _entries.append(entry)

            try:
                # Called one plugin at a time so a failure stays with its plugin;
                # keyword arguments only, as pluggy itself calls hooks.
                impl.function(**{name: register for name in impl.argnames})
            except Exception as exc:  # a plugin's hook may raise anything
                info.error = one_line(exc)
                _warn(info)
                continue
            collected[impl.plugin_name].extend(entries)
            _publish(entries)

    registry = Registry()
    for name, info in infos.items():
        if info.error is None:
            for entry in collected[name]:
                registry.add(entry, plugin=info.distribution)
    # What a plugin broken in a later hook registered does not count: the tables hold what the registry holds.
    layouts.REGISTERED.clear()
    tasks.REGISTERED.clear()
    _publish(registry.in_order("layout") + registry.in_order("task"))
    return Plugins(manager, list(infos.values()), registry)


def registry() -> Registry:
    return load().registry


def get(kind: str, name: str):
    """Look up a registered entry by kind and name (case-insensitive, aliases)."""
    return registry().get(kind, name)
