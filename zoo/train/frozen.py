"""Frozen features: a model whose front learns nothing is run over the data once, not every epoch.

A pretrained backbone with its weights frozen (``efficientnet-lite0``'s
default) gives every image the same features in every epoch; with nothing
augmenting the images, computing them each epoch is the whole cost of
training (about 40 photos a second at 224 x 224 on 2 cores: 4 minutes an
epoch for 10,000 photos). So the trainer splits such a model in two: the
frozen front (``features``), run once over the training images, and the
head, trained on those features. The head's layers are the model's own, so
the trained model is the whole model, saved and evaluated as any other.

A model can be split when one of its layers is a nested ``keras.Model``
with no trainable weights (run in inference mode) through which every path
from the input to the output goes, and nothing before it learns; what comes
after it, a chain (dropout, dense) or a branching detector head, is the head.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    features: object  # keras.Model: the model's input -> the frozen layer's output
    head: object  # keras.Model: those features -> the model's output (the model's own layers)
    layer: str  # the frozen layer's name


def split(model) -> Split | None:
    """The model as (frozen features, trainable head), or None when it has no frozen front to run once."""
    import keras

    if not model.trainable_weights or len(model.inputs) != 1:
        return None
    learning = set(id(w) for w in model.trainable_weights)
    frozen = [layer for layer in model.layers if isinstance(layer, keras.Model) and layer.weights
              and not layer.trainable_weights and len(layer._inbound_nodes) == 1
              and len(layer._inbound_nodes[0].output_tensors) == 1]
    for frozen_layer in reversed(frozen):  # the latest cut saves the most
        # The frozen layer's output inside this model; everything after it, however it branches, is the head.
        output = frozen_layer._inbound_nodes[0].output_tensors[0]
        try:
            head = keras.Model(output, model.outputs[0], name=f"{model.name}_head")
        except ValueError:
            continue  # some of the outputs do not come through this layer alone
        if set(id(w) for w in head.trainable_weights) != learning:
            continue  # something before the frozen layer learns: the features would change as it trains
        features = keras.Model(model.inputs, output, name=f"{model.name}_front")
        return Split(features, head, frozen_layer.name)
    return None


def compute(features, x: np.ndarray, normalise, batch_size: int = 64, progress=None) -> np.ndarray:
    """The frozen front's output for every example of ``x`` (normalised as the model reads them), float32."""
    out = []
    for start in range(0, len(x), batch_size):
        out.append(np.asarray(features.predict_on_batch(normalise(x[start:start + batch_size])), np.float32))
        if progress is not None:
            progress(min(start + batch_size, len(x)), len(x))
    return np.concatenate(out) if out else np.zeros((0, *features.outputs[0].shape[1:]), np.float32)
