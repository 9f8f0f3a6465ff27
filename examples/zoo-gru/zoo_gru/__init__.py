"""zoo-gru: a GRU architecture registered through zoo's plugin hooks."""
import zoo
import zoo.data.tasks
from zoo.api.registry import Param, Recipe

PARAMS = {
    "units": Param(64, "GRU units", low=1, high=4096),
    "depth": Param(1, "stacked GRU layers (each but the last passes on its whole sequence)", low=1, high=16),
    "batch_norm": Param(True, "BatchNormalization after the GRU"),
    "unroll": Param(False, "unroll the time loop (exporters use it for int8)"),
    "embedding_dim": Param(64, "text only: the width of each token's Embedding vector", low=1, high=4096),
}

RECIPES = {
    # The LSTM tutorial's recipe with the LSTM swapped for its lighter sibling.
    "tutorial": Recipe(optimizer="adam", batch_size=64, epochs=20, validation_split=0.2, patience=10,
                       note="as the LSTM tutorial: adam, batch 64, 20 epochs, patience 10"),
    "tuned": Recipe(optimizer="adam", learning_rate=3e-3, batch_size=128, epochs=25,
                    validation_split=0.1, patience=6, schedule="cosine",
                    params={"units": 128}, note="GRU(128) + batch norm, adam + cosine decay"),
}


def build(input_shape, classes, *, units=64, depth=1, batch_norm=True, unroll=False, embedding_dim=64,
          task=None, spec=None, name="gru"):
    """GRU over the image rows, optional BatchNormalization, then Dense.

    Args:
        input_shape: (time steps, features): a sequence, or an image's rows.
        classes: number of output units (task.units).
        units: GRU units.
        depth: stacked GRU layers; the book's multiplication model has two
            (``GRU(30, return_sequences=True) + GRU(30)``).
        batch_norm: BatchNormalization after the GRU.
        unroll: unroll the recurrence.
        embedding_dim: text only (the spec's layout is "text"): token ids
            become vectors this wide; the Embedding's size is the
            tokenizer's, from ``spec.tokenizer["ids"]``.
        task: the dataset's task (``zoo.tasks``), given by zoo: ``zoo.tasks.head``
            ends the model with its head (softmax classes or linear outputs).
        spec: the dataset's input spec (``zoo.spec.InputSpec``), given by zoo:
            its layout names the input ("image" rows or a "sequence").
        name: model name.

    Returns:
        A ``keras.Model``.
    """
    text = spec is not None and spec.layout == "text"
    if len(tuple(input_shape)) != (1 if text else 2):
        raise ValueError(f"'gru' reads (time steps, features), or (length,) token ids. "
                         f"Received: input_shape={tuple(input_shape)}")
    import keras  # only when a model is built: listing stays fast
    from keras import layers

    inputs = keras.Input(shape=tuple(input_shape), name=spec.layout if spec is not None else "image")
    # Text: each token id becomes a vector, so the GRU reads the tokens in order.
    x = layers.Embedding(spec.tokenizer["ids"], int(embedding_dim))(inputs) if text else inputs
    for _ in range(int(depth) - 1):
        x = layers.GRU(int(units), unroll=unroll, return_sequences=True)(x)
    x = layers.GRU(int(units), unroll=unroll)(x)
    if batch_norm:
        # momentum 0.9: the moving statistics settle within a short run.
        x = layers.BatchNormalization(momentum=0.9)(x)
    outputs = zoo.tasks.head(x, task)
    return keras.Model(inputs, outputs, name=name)


@zoo.hookimpl
def register_architectures(register):
    register(zoo.Architecture(
        name="gru", summary="GRU(64) + BatchNormalization reading rows as time steps (example plugin)",
        build=build, accepts=("image", "sequence", "text"), params=PARAMS, recipes=RECIPES,
    ))
