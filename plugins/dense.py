"""`dense`: the DNN tutorial's multilayer perceptron (Flatten-128-10; 256-64-10)."""
import zoo
from zoo.api.registry import Param, Recipe
from zoo_plugins._common import SMALL_DATA_STEPS, embedded_tokens, head, is_text, model_input, require_classes

PARAMS = {
    "embedding_dim": Param(16, "width of each token's vector (text input only: an Embedding first)", low=1,
                           high=4096),
    "units": Param((128,), "hidden layer sizes, comma-separated (the wider tutorial used 256,64)", low=1,
                   high=65536,
                   search=((128,), (256,), (512,), (256, 128))),
    "dropout": Param(0.0, "dropout after each hidden layer", low=0, high=0.95, search=(0.0, 0.5)),
    "batch_norm": Param(False, "BatchNormalization before each hidden activation"),
}

RECIPES = {
    # Seed 004: one hidden layer of 128, adam, batch 32, 5 epochs -> 0.8758.
    "tutorial": Recipe(optimizer="adam", batch_size=32, epochs=5,
                       note="DNN tutorial: Flatten-128-10, adam, 5 epochs (published 0.8758)"),
    # Wider, normalised and regularised; large batches keep the 2-core CPU busy
    # and a cosine schedule lets the last epochs settle.
    "tuned": Recipe(min_steps=SMALL_DATA_STEPS, optimizer="adamw", learning_rate=2e-3, weight_decay=1e-4, batch_size=256,
                    epochs=30, validation_split=0.1, patience=8, label_smoothing=0.1,
                    schedule="cosine",
                    params={"units": (512, 256), "dropout": 0.3, "batch_norm": True},
                    note="512-256 with batch norm and dropout, AdamW + cosine decay"),
}


def build(input_shape, classes, *, units=(128,), dropout=0.0, batch_norm=False, embedding_dim=16,
          task=None, spec=None, name="dense"):
    """Flatten, then Dense hidden layers, then a Dense classifier.

    Args:
        input_shape: one example's shape (an image, a sequence, a vector: it is flattened).
        classes: number of output units (classes, or regression outputs).
        units: hidden layer sizes.
        dropout: dropout rate after each hidden layer (0 for none).
        batch_norm: add BatchNormalization before each hidden activation.
        embedding_dim: text only: each token becomes a vector this wide, and
            the text the average of its tokens' vectors (MediaPipe Model
            Maker's "average word embedding" classifier).
        task: the dataset's task (zoo.tasks); its head ends the model.
        spec: the dataset's input spec (zoo.spec.InputSpec); it names the input.
        name: model name.

    Returns:
        A ``keras.Model`` from ``input_shape`` to the task's head.
    """
    if not tuple(input_shape) or min(tuple(input_shape)) < 1:
        raise ValueError(f"'dense' needs an example of at least one value. Received: input_shape={tuple(input_shape)}")
    classes = require_classes(classes, "dense", task)
    if not units or any(int(u) < 1 for u in units):
        raise ValueError(f"'dense' needs positive hidden sizes. Received: units={units}")
    if not 0 <= dropout < 1:
        raise ValueError(f"'dense' dropout must be in [0, 1). Received: dropout={dropout}")
    import keras
    from keras import layers

    inputs = model_input(input_shape, spec)
    if is_text(spec):
        # The mean over the tokens, padding (id 0) left out; a text with no known
        # word (all padding) averages to zeros, not 0/0.
        x = embedded_tokens(inputs, spec, embedding_dim, "dense")
        known = keras.ops.expand_dims(keras.ops.cast(keras.ops.not_equal(inputs, 0), x.dtype), -1)
        x = keras.ops.sum(x * known, axis=1) / keras.ops.maximum(keras.ops.sum(known, axis=1), 1.0)
    else:
        x = layers.Flatten()(inputs)
    for width in units:
        if batch_norm:
            # Batch norm replaces the bias and goes before the non-linearity.
            x = layers.Dense(int(width), use_bias=False)(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
        else:
            x = layers.Dense(int(width), activation="relu")(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
    outputs = head(x, classes, 0.0, task)
    return keras.Model(inputs, outputs, name=name)


@zoo.hookimpl
def register_architectures(register):
    register(zoo.Architecture(
        name="dense", aliases=("mlp", "dnn"),
        summary="Multilayer perceptron on flattened pixels (DNN tutorial: Flatten-128-10)",
        build=build, accepts=("image", "sequence", "vector", "text"), params=PARAMS, recipes=RECIPES,
    ))
