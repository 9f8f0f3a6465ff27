"""Layouts: what one example is (an image, a sequence, a vector, token ids), and everything that differs by it.

A dataset's input spec names its layout (``zoo.spec.image(...)`` is
``layout="image"``); the layout object of that name owns what zoo does
differently for it: the ranks a shape may have and its other spec checks,
the checks of loaded data, how an example is drawn in a report, what the
model card says about feeding a file to the model, how ``zoo predict`` turns
the user's files into inputs, the web page's input widget and which
MediaPipe Tasks family (if any) reads such files. Nothing outside this
package compares layout names.

Layouts are registered through the ``register_layouts`` hook, as
architectures are; the built-ins (``image``, ``sequence``, ``vector``,
``text``) are defined here and registered by ``zoo_plugins.layouts``, and
``get`` finds them without loading plugins, so ``zoo predict`` stays fast.
One file per layout.
"""
from __future__ import annotations

from zoo.data.layouts.arrays import SEQUENCE, VECTOR
from zoo.data.layouts.base import Layout  # noqa: F401 - zoo.layouts.Layout, the type a plugin's layout is
from zoo.data.layouts.image import IMAGE
from zoo.data.layouts.text import TEXT
from zoo.data.names import Table

# The built-ins: zoo_plugins.layouts registers them through the hook a plugin uses; get() finds
# them here without loading plugins.
BUILTIN = {layout.name: layout for layout in (IMAGE, SEQUENCE, VECTOR, TEXT)}


# The built-ins and the layouts plugins registered (zoo.api.plugins hands them over as plugins load:
# a dataset's spec is checked against them).
NAMES = Table(BUILTIN)
REGISTERED = NAMES.registered


def get(name: str) -> Layout:
    """The layout called ``name``: a built-in, else one a plugin registered.

    Raises:
        KeyError: no such layout (``zoo.spec`` turns it into a declaration problem).
    """
    return NAMES.get(name)


def known() -> list:
    """The names of every layout: the built-ins, and any a plugin registered."""
    return NAMES.known()
