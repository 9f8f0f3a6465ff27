"""`savedmodel`: TensorFlow SavedModel through Keras' own ``model.export``.

Always written by ``zoo export``. The signature ``serve`` (also
``serving_default``) takes ``image``: float32 (batch, 28, 28), any batch size,
and returns the class probabilities. Verified by loading the SavedModel back
with TensorFlow and comparing it with the Keras model on the full test set.
"""
from __future__ import annotations

import numpy as np

import zoo
from zoo.data.evaluation import batch_for
from zoo.errors import first_line

DIRECTORY = "saved_model"
SIGNATURE = "serve"


def export(context) -> list:
    """Write ``saved_model/`` into ``context.directory`` and verify it."""
    import tensorflow as tf

    path = context.directory / DIRECTORY
    context.log(f"{DIRECTORY}/: exporting with keras.Model.export (signature '{SIGNATURE}')")
    try:
        context.model.export(str(path), format="tf_saved_model", verbose=False)
    except Exception as exc:  # Keras/TF raise many types here
        context.fail(DIRECTORY, f"Keras could not export it ({first_line(exc, 200)})")
        return [{"file": DIRECTORY, "format": "savedmodel", "error": first_line(exc, 200)}]

    serve = tf.saved_model.load(str(path)).signatures[SIGNATURE]
    (input_name, spec), = serve.structured_input_signature[1].items()
    x = context.x_test
    outputs = []
    step = batch_for(x, 500)
    with context.progress(f"verifying {DIRECTORY}/", len(x)) as update:
        for start in range(0, len(x), step):
            result = serve(**{input_name: tf.constant(x[start:start + step])})
            outputs.append(next(iter(result.values())).numpy())
            update(len(x[start:start + step]))
    probabilities = np.concatenate(outputs) if outputs else np.zeros((0, context.reference.shape[1]))
    check = context.verify(DIRECTORY, probabilities, quantized=False)
    return [{
        "file": DIRECTORY, "format": "savedmodel", "variant": "float32",
        "signature": SIGNATURE,
        "input": {"name": input_name, "shape": [d if d is not None else -1 for d in spec.shape.as_list()],
                  "dtype": spec.dtype.name},
        "batch": "dynamic",
        **check.to_dict(),
    }]



@zoo.hookimpl
def register_exporters(register):
    register(zoo.Exporter(
        name="savedmodel", aliases=("saved-model", "tf-savedmodel"),
        summary="TensorFlow SavedModel via keras.Model.export (signature 'serve'); always written",
        export=export, suffixes=("saved_model/",), options=(),
    ))
