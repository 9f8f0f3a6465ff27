"""The plugin API: one hook per extension point.

A plugin is a module (or object) with functions marked ``@zoo.hookimpl`` whose
names match the specs below. Each hook receives a ``register`` callback and
calls it once per entry it provides; zoo owns collecting, de-duplicating and
listing. Hooks are called with keyword arguments, so an implementation may
accept fewer arguments than its spec: specs may gain arguments, never lose them.

Third-party plugins are packages (by convention named ``zoo-<name>``) that
declare an entry point in the group ``zoo``::

    [options.entry_points]
    zoo =
        gru = zoo_gru

The built-in architectures, datasets and exporters register through exactly
these hooks.
"""
import pluggy

hookspec = pluggy.HookspecMarker("zoo")


@hookspec
def register_architectures(register):
    """Register model architectures.

    Args:
        register: call ``register(zoo.Architecture(...))`` once per
            architecture. An ``Architecture`` names its ``build`` function
            (called only when a model is needed, with the dataset's input shape,
            number of classes and the resolved hyperparameters; it returns a
            ``keras.Model``), the input kinds it accepts, its documented
            hyperparameters with defaults, and its ``tutorial`` and ``tuned``
            recipes. Import TensorFlow and Keras inside ``build``, never at module
            level: listing must stay fast.
    """


@hookspec
def register_datasets(register):
    """Register datasets.

    Args:
        register: call ``register(zoo.DatasetEntry(...))`` once per dataset.
            A ``DatasetEntry`` gives the input shape, class names and a
            ``load(data_dir=None, seed=0)`` function returning a
            ``zoo.dataset.Dataset``; optionally ``locate(data_dir=None)``, which
            says cheaply (without reading the data) where the dataset would be
            loaded from, or returns None if it is not available here.
    """


@hookspec
def register_exporters(register):
    """Register export formats.

    Args:
        register: call ``register(zoo.Exporter(...))`` once per format. An
            ``Exporter`` declares its file suffixes, the options it supports and
            an ``export(context)`` function that writes its files into
            ``context.directory`` and returns a list of file descriptions for the
            model card. Unsupported options are refused before any work starts.
    """
