"""What the built-in builders share: input checks and the classifier head.

Where a builder adds BatchNormalization that the tutorial did not have, it uses
momentum 0.9 rather than Keras' 0.99: the moving statistics then settle within
a few dozen steps, so short runs and small datasets evaluate sensibly.
"""


def require_image(input_shape, arch: str, min_side: int = 1) -> tuple:
    """Return (height, width) of a 2-D grayscale image shape, or raise ValueError."""
    shape = tuple(input_shape)
    if len(shape) != 2:
        raise ValueError(f"'{arch}' reads 2-D grayscale images (height, width). Received: input_shape={shape}")
    if min(shape) < min_side:
        raise ValueError(f"'{arch}' needs images of at least {min_side}x{min_side} pixels. "
                         f"Received: input_shape={shape}")
    return shape


def require_classes(classes: int, arch: str) -> int:
    if int(classes) < 2:
        raise ValueError(f"'{arch}' needs at least 2 classes. Received: classes={classes}")
    return int(classes)


def classifier_head(x, classes: int, dropout: float, activation: str):
    """Optional dropout, then the Dense layer with one unit per class."""
    from keras import layers

    if dropout:
        x = layers.Dropout(dropout)(x)
    return layers.Dense(classes, activation=activation, name="classifier")(x)


def recurrent_model(layer: str, arch: str, input_shape, classes, *, units, depth=1, batch_norm,
                    bn_momentum, dropout, unroll, classifier_activation, name, bidirectional=False):
    """Rows as time steps: ``depth`` stacked ``keras.layers.<layer>``, batch norm, classifier.

    Image rows are the time steps and each row's pixels the features, so the
    model reads the dataset's native (height, width) shape with no reshape.
    ``bidirectional`` wraps each layer in ``keras.layers.Bidirectional``: the
    image is read top-down and bottom-up, and the two final states are joined.
    """
    steps, features = require_image(input_shape, arch)
    classes = require_classes(classes, arch)
    if int(units) < 1 or int(depth) < 1:
        raise ValueError(f"'{arch}' needs positive units and depth. Received: units={units}, depth={depth}")
    import keras
    from keras import layers

    def recurrent(**kwargs):
        rnn = getattr(layers, layer)(int(units), unroll=unroll, **kwargs)
        return layers.Bidirectional(rnn) if bidirectional else rnn

    inputs = keras.Input(shape=(steps, features), name="image")
    x = inputs
    for _ in range(int(depth) - 1):
        x = recurrent(return_sequences=True)(x)
    x = recurrent()(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=bn_momentum)(x)
    outputs = classifier_head(x, classes, dropout, classifier_activation)
    return keras.Model(inputs, outputs, name=name)
