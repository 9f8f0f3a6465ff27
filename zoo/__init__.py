"""zoo: a plugin-based Keras model zoo.

Importing zoo is cheap: TensorFlow and Keras are imported only by the modules
that train, evaluate or export, and only when they are called.

The package is grouped by job (docs/layout.md): ``zoo.api`` (hooks, registry,
plugin loading), ``zoo.data`` (specs, layouts, tasks, datasets, tokenizers,
weights, model cards), ``zoo.run``, ``zoo.train``, ``zoo.exporting``,
``zoo.device`` (no TensorFlow), ``zoo.reports`` and ``zoo.cli``. The names
plugins and users have imported since before the grouping (``zoo.spec``,
``zoo.tasks``, ``zoo.dataset``, ``zoo.export``, ``zoo.trainer`` ...) still
import, as the same module objects.
"""
import importlib
import importlib.machinery
import sys

import pluggy

__version__ = "0.1.0"

#: Marker for plugin hook implementations: ``@zoo.hookimpl``.
hookimpl = pluggy.HookimplMarker("zoo")

# Where each module of before the grouping lives now.
MOVED = {
    **{name: f"api.{name}" for name in ("hookspecs", "registry", "params", "plugins", "calls")},
    **{name: f"data.{name}" for name in ("spec", "dataset", "arrays", "idx", "images", "torchfile", "tokenizer", "plots",
                                         "weights", "augment", "evaluation", "card", "layouts", "tasks")},
    **{name: f"run.{name}" for name in ("runs", "run_model")},
    **{name: f"train.{name}" for name in ("trainer", "plan", "pipeline", "callbacks", "recipes", "distribute",
                                          "worker_fit", "frozen", "transfer", "tune")},
    **{name: f"exporting.{name}" for name in ("export", "export_options", "runner_check")},
    **{name: f"device.{name}" for name in ("litert", "predict", "generate", "serve", "browser")},
    **{name: f"reports.{name}" for name in ("report", "compare")},
}


# A finder and loader by protocol, not by subclassing importlib.abc: that module imports
# importlib.resources, 14 ms of every command's start-up.
class _MovedModules:
    """``import zoo.spec`` (and ``zoo.spec.x``) gives the module that moved to ``zoo.data.spec``: the same
    object, so what is patched or registered through one name is seen through the other."""

    def find_spec(self, name, path=None, target=None):
        head, _, rest = name.partition(".")[2].partition(".")
        if name.startswith(__name__ + ".") and head in MOVED:
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        head, _, rest = spec.name.partition(".")[2].partition(".")
        return importlib.import_module(f"{__name__}.{MOVED[head]}" + (f".{rest}" if rest else ""))

    def exec_module(self, module):
        pass  # the module is already executed under its own name


sys.meta_path.insert(0, _MovedModules())  # before the path finder, which would load a second copy


def __getattr__(name):
    # zoo.spec.image(...) after a bare ``import zoo``, as plugins write it.
    if name in MOVED:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


from zoo.api.registry import Architecture, DatasetEntry, Exporter, Param, Recipe  # noqa: E402

__all__ = ["hookimpl", "Architecture", "DatasetEntry", "Exporter", "Param", "Recipe", "__version__"]
