"""The built-in tasks (classification, regression, generation), registered as a plugin's would be."""
import zoo
from zoo.data.tasks import BUILTIN


@zoo.hookimpl
def register_tasks(register):
    for task in BUILTIN.values():
        register(task)
