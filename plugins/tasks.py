"""The built-in tasks (classification, regression, generation, detection), registered as a plugin's would be."""
import zoo
from zoo.data.tasks import NAMES


@zoo.hookimpl
def register_tasks(register):
    for kind in NAMES.builtin_names():
        register(NAMES.get(kind))
