"""`textcnn`: Kim (2014)'s convolutional sentence classifier, the model the book's clean_str comes from.

"Convolutional Neural Networks for Sentence Classification" (Yoon Kim,
EMNLP 2014; code: yoonkim/CNN_sentence, whose ``clean_str`` the book copies
in 7.22): each token an Embedding vector, convolutions of several widths
over the sequence, the largest response of each filter over the whole text
(max-over-time pooling), dropout, the classifier. Every op is a builtin of
LiteRT (Conv1D is a Conv2D there), and it reads characters as well as words:
on NSMC, syllables read by it gave the best small model measured here
(bench/RESULTS.md).
"""
import zoo
from zoo.api.registry import Param, Recipe
from zoo_plugins._common import SMALL_DATA_STEPS, embedded_tokens, head, is_text, model_input, require_classes

PARAMS = {
    "embedding_dim": Param(128, "width of each token's vector", low=1, high=4096, search=(32, 256)),
    "filters": Param(128, "filters per convolution width", low=1, high=4096, search=(32, 256)),
    "widths": Param((2, 3, 4, 5), "convolution widths in tokens, comma-separated (Kim: 3,4,5)", low=1,
                    high=64),
    "dropout": Param(0.5, "dropout before the classifier", low=0, high=0.95, search=(0.0, 0.6)),
}

RECIPES = {
    # Kim (2014), CNN-rand: widths 3, 4, 5 with 100 filters each, dropout 0.5,
    # mini-batches of 50; Adadelta there, adam here (Keras' Adadelta at its
    # default rate barely moves in a few epochs).
    "tutorial": Recipe(optimizer="adam", batch_size=50, epochs=5, validation_split=0.1, monitor="val_accuracy",
                       params={"filters": 100, "widths": (3, 4, 5), "embedding_dim": 128},
                       note="Kim (2014) CNN-rand: widths 3,4,5 x 100 filters, dropout 0.5, batch 50; adam, 5 epochs"),
    # Widths 2-5 x 128, adam + cosine decay over 4 epochs at batch 256: on NSMC
    # read by syllables it is past its best validation figure after 4 epochs.
    "tuned": Recipe(min_steps=SMALL_DATA_STEPS, optimizer="adam", learning_rate=2e-3, batch_size=256, epochs=4,
                    validation_split=0.0, schedule="cosine",
                    note="widths 2-5 x 128 filters, dropout 0.5, adam 2e-3 + cosine decay, 4 epochs, batch 256"),
}


def build(input_shape, classes, *, embedding_dim=128, filters=128, widths=(2, 3, 4, 5), dropout=0.5, task=None,
          spec=None, name="textcnn"):
    """Embedding, one Conv1D per width with max-over-time pooling, concatenated, dropout, the task's head.

    Args:
        input_shape: ``(length,)`` token ids (the dataset's spec is text).
        classes: number of output units.
        embedding_dim: width of each token's vector.
        filters: filters per convolution width.
        widths: convolution widths, in tokens; each must fit the text's length.
        dropout: dropout before the head.
        task: the dataset's task (zoo.tasks); its head ends the model.
        spec: the dataset's input spec; it must be text (it sizes the Embedding).
        name: model name.
    """
    if not is_text(spec):
        raise ValueError("'textcnn' reads text: token ids with a tokenizer in the input spec")
    shape = tuple(input_shape)
    if len(shape) != 1 or shape[0] < 1:
        raise ValueError(f"'textcnn' reads (length,) token ids. Received: input_shape={shape}")
    classes = require_classes(classes, "textcnn", task)
    widths = tuple(int(w) for w in widths)
    if not widths or min(widths) < 1 or max(widths) > shape[0]:
        raise ValueError(f"'textcnn' widths must be 1..{shape[0]} (the text's length). Received: widths={widths}")
    if int(filters) < 1 or not 0 <= dropout < 1:
        raise ValueError(f"'textcnn' needs filters >= 1 and dropout in [0, 1). Received: filters={filters}, "
                         f"dropout={dropout}")
    import keras
    from keras import layers

    inputs = model_input(shape, spec)
    x = embedded_tokens(inputs, spec, embedding_dim, "textcnn")
    pooled = [layers.GlobalMaxPooling1D(name=f"max_over_time_{w}")(
        layers.Conv1D(int(filters), w, activation="relu", name=f"conv_width_{w}")(x)) for w in widths]
    x = layers.Concatenate()(pooled) if len(pooled) > 1 else pooled[0]
    return keras.Model(inputs, head(x, classes, dropout, task), name=name)


@zoo.hookimpl
def register_architectures(register):
    register(zoo.Architecture(
        name="textcnn", aliases=("kim-cnn",),
        summary="Kim (2014)'s CNN for sentences: convolutions of several widths, max over time",
        build=build, accepts=("text",), params=PARAMS, recipes=RECIPES,
    ))
