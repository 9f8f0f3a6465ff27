"""Tasks: what a dataset asks of a model, and everything that differs by it.

A dataset declares its task (``zoo.DatasetEntry(task=...)``, and the loaded
``Dataset.task``). The task owns the model's head (units and activation),
the training targets, loss and metrics, which validation figures may pick
the best epoch, the test scores in ``metrics.json``, the headline that ``zoo
train`` and ``zoo runs`` print, the run's figures, how an exported file is
judged against Keras (``compare``: a ``Check``), the model card's outputs and
how ``zoo predict`` answers. Nothing outside this package compares task kinds.

* ``Classification(class_names)``: integer labels, a softmax head with one
  unit per class, categorical cross-entropy, accuracy.
* ``Regression(outputs, tolerance)``: float targets, a linear head with one
  unit per output, mean squared error; scored by MSE, MAE, RMSE and the share
  of test predictions within ``tolerance`` of the truth.
* ``Detection(class_names, anchors, coding)``: boxes and classes in a photo,
  one output row per anchor, focal and Huber loss, COCO mAP (pycocotools).
* ``Generation(class_names)``: the next token of a text (a classification
  over the tokenizer's ids), scored by accuracy, cross-entropy and perplexity.

Tasks are registered through the ``register_tasks`` hook (a task class per
kind), as architectures are: a plugin adds one by subclassing ``Task``. The
built-ins are defined here and registered by ``zoo_plugins.tasks``, and
``get`` finds them without loading plugins, so ``zoo predict`` stays fast.
One file per task.
"""
from __future__ import annotations

from zoo.data.names import Table
from zoo.data.tasks.base import Check, Task  # noqa: F401 - the types a plugin's task builds on
from zoo.data.tasks.classification import Classification
from zoo.data.tasks.generation import Generation, token_label  # noqa: F401 - zoo.tasks.token_label, as before
from zoo.data.tasks.regression import Regression

# The built-ins: zoo_plugins.tasks registers them through the hook a plugin uses; get() finds
# them here without loading plugins.
BUILTIN = {task.kind: task for task in (Classification, Regression, Generation)}
TASKS = BUILTIN  # the name of before
# Detection (anchors, pycocotools' scores) is imported when a run or card names it.
LAZY = {"detection": "zoo.data.tasks.detection:Detection"}


# The built-ins and the tasks plugins registered (zoo.api.plugins hands them over as plugins load).
NAMES = Table(BUILTIN, LAZY)
REGISTERED = NAMES.registered


def __getattr__(name: str):
    if name == "Detection":  # zoo.tasks.Detection, imported when asked for
        return get("detection")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get(kind: str):
    """The task class registered as ``kind``: a built-in, else one a plugin registered.

    Raises:
        KeyError: no such task.
    """
    return NAMES.get(kind)


def restore(described: dict | None, class_names=()):
    """The task a run's config.json or a model card describes (``task.describe()``); classification
    for runs made before tasks."""
    described = described if isinstance(described, dict) else {}
    return get(str(described.get("kind", Classification.kind))).restore(described, tuple(class_names or ()))


def from_config(config: dict):
    """The task a run's config.json records (classification for runs made before tasks)."""
    return restore(config.get("task"), config.get("class_names"))


def headline(config: dict, metrics: dict) -> str:
    """What ``zoo train`` says of a finished run, whatever its task."""
    return from_config(config).headline(metrics)


def figure(config: dict, metrics: dict) -> str:
    """``zoo runs``' short RESULT cell: the accuracy, or RMSE and correctness."""
    return from_config(config).figure(metrics)


def head(x, task, dropout: float = 0.0):
    """The last layers every architecture ends with: optional dropout, then the task's Dense head.

    Softmax units, one per class, for classification; linear units, one per
    output, for regression. Builders call this instead of writing an
    activation themselves, so that any architecture fits any task.

    Args:
        x: the features (a Keras tensor).
        task: the ``task`` zoo passes to ``build``.
        dropout: dropout rate before the head (0 for none).
    """
    from keras import layers

    if dropout:
        x = layers.Dropout(dropout)(x)
    return layers.Dense(task.units, activation=task.activation, name=task.head_name)(x)
