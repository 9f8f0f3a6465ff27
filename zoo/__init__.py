"""zoo: a plugin-based Keras model zoo.

Importing zoo is cheap: TensorFlow and Keras are imported only by the modules
that train, evaluate or export, and only when they are called.
"""
import pluggy

__version__ = "0.1.0"

#: Marker for plugin hook implementations: ``@zoo.hookimpl``.
hookimpl = pluggy.HookimplMarker("zoo")

from zoo.registry import Architecture, DatasetEntry, Exporter, Param, Recipe  # noqa: E402

__all__ = ["hookimpl", "Architecture", "DatasetEntry", "Exporter", "Param", "Recipe", "__version__"]
