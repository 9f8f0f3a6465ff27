"""The built-in layouts (image, sequence, vector, text), registered as a plugin's would be."""
import zoo
from zoo.data.layouts import BUILTIN


@zoo.hookimpl
def register_layouts(register):
    for layout in BUILTIN.values():
        register(layout)
