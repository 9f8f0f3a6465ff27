"""What the built-in builders share: input checks and the classifier head.

Where a builder adds BatchNormalization that the tutorial did not have, it uses
momentum 0.9 rather than Keras' 0.99: the moving statistics then settle within
a few dozen steps, so short runs and small datasets evaluate sensibly.
"""


# The tuned recipes' ``min_steps`` (zoo.registry.Recipe): on a small dataset
# the batch shrinks until an epoch takes this many steps. On 4 classes x 60
# photos the tuned cnn at batch 128 (2 steps an epoch) stopped at chance,
# 0.29; at batch 8 it matched the tutorial recipe (bench/RESULTS.md, small
# folders). 60,000 images, and the 7,500 of fashion-sample, are unaffected.
SMALL_DATA_STEPS = 25


def require_image(input_shape, arch: str, min_side: int = 1) -> tuple:
    """Return (height, width, channels) of an image shape, or raise ValueError.

    Images are (height, width) grayscale, as MNIST-style files hold them, or
    (height, width, channels) with 1 (gray), 3 (RGB) or 4 (RGBA) channels.
    """
    shape = tuple(input_shape)
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 3, 4)):
        raise ValueError(f"'{arch}' reads images: (height, width) or (height, width, channels) with "
                         f"1, 3 or 4 channels. Received: input_shape={shape}")
    if min(shape[:2]) < min_side:
        raise ValueError(f"'{arch}' needs images of at least {min_side}x{min_side} pixels. "
                         f"Received: input_shape={shape}")
    return shape[0], shape[1], shape[2] if len(shape) == 3 else 1


# The model input's name says what it reads (a SavedModel's signature argument).
def model_input(input_shape, spec=None):
    """``keras.Input`` of one example's shape, named after the spec's layout ("image" without one)."""
    import keras

    form = getattr(spec, "form", None)
    return keras.Input(shape=tuple(input_shape), name=form.input_name if form is not None else "image")


def is_text(spec) -> bool:
    """Whether the examples are token ids (an Embedding reads them)."""
    form = getattr(spec, "form", None)
    return bool(form is not None and form.token_ids)


def embedded_tokens(inputs, spec, dim: int, arch: str):
    """Token ids -> ``(length, dim)`` vectors: the Embedding every text model begins with.

    Its ``input_dim`` is the number of ids the dataset's tokenizer gives
    (padding, unknown and the vocabulary), read from the input spec.
    """
    from keras import layers

    ids = (getattr(spec, "tokenizer", None) or {}).get("ids")
    if not isinstance(ids, int) or ids < 2:
        raise ValueError(f"'{arch}' reads text through an Embedding and needs the tokenizer's size in the "
                         "input spec (zoo.spec.text(length, tokenizer))")
    if int(dim) < 1:
        raise ValueError(f"'{arch}' needs a positive embedding_dim. Received: embedding_dim={dim}")
    return layers.Embedding(ids, int(dim), name="embedding")(inputs)


def image_inputs(input_shape, spec=None):
    """``(inputs, x)``: the model's input of the dataset's own shape, and x as height x width x channels."""
    from keras import layers

    inputs = model_input(input_shape, spec)
    x = inputs if len(input_shape) == 3 else layers.Reshape((*input_shape, 1))(inputs)
    return inputs, x


# pooling="auto" flattens a final feature map of at most this many positions
# (28x28 images: 3x3 to 7x7, as the tutorials) and averages a larger one:
# flattening a 96x96 image's 24x24 map gave the tuned cnn 19M parameters.
AUTO_FLATTEN_MAX_POSITIONS = 64
POOLINGS = ("flatten", "avg", "auto")


def pool_features(x, pooling: str, arch: str):
    """The last feature map as a vector: ``Flatten`` (the tutorials) or global average pooling.

    ``"auto"`` chooses by the map's size, so one recipe fits small and large images.
    """
    from keras import layers

    if pooling not in POOLINGS:
        raise ValueError(f"'{arch}' pooling must be one of {', '.join(POOLINGS)}. Received: pooling={pooling}")
    if pooling == "auto":
        height, width = x.shape[1], x.shape[2]
        pooling = "flatten" if height * width <= AUTO_FLATTEN_MAX_POSITIONS else "avg"
    return layers.Flatten()(x) if pooling == "flatten" else layers.GlobalAveragePooling2D()(x)


def require_rows(input_shape, arch: str) -> tuple:
    """Return (time steps, features) of a sequence, or of an image read row by row."""
    shape = tuple(input_shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"'{arch}' reads (time steps, features): a sequence, or a grayscale image's "
                         f"rows. Received: input_shape={shape}")
    return shape


def task_of(classes: int, task=None):
    """The task to build for: ``task``, or classification over ``classes`` numbered classes."""
    from zoo.data.tasks import Classification

    return task if task is not None else Classification(tuple(str(i) for i in range(int(classes))))


def require_classes(classes: int, arch: str, task=None) -> int:
    """The number of output units, checked against the task (a classifier needs two classes)."""
    task = task_of(classes, task)
    if int(classes) != task.units:
        raise ValueError(f"'{arch}' was asked for {classes} outputs but the task has {task.units}")
    if task.classifies and int(classes) < 2:
        raise ValueError(f"'{arch}' needs at least 2 classes. Received: classes={classes}")
    if int(classes) < 1:
        raise ValueError(f"'{arch}' needs at least one output. Received: classes={classes}")
    return int(classes)


def head(x, classes: int, dropout: float, task=None):
    """Optional dropout, then the task's head: softmax units per class, or linear units per output.

    Every built-in builder ends here, so none of them writes its own activation.
    """
    from zoo.data.tasks import head as task_head

    return task_head(x, task_of(classes, task), dropout)


def recurrent_model(layer: str, arch: str, input_shape, classes, *, units, depth=1, batch_norm,
                    bn_momentum, dropout, unroll, task, name, bidirectional=False, spec=None,
                    embedding_dim=64):
    """Time steps: ``depth`` stacked ``keras.layers.<layer>``, batch norm, the task's head.

    A sequence's steps, or an image's rows (each row's pixels the features),
    so the model reads the dataset's native 2-D shape with no reshape; text
    is its tokens, each an ``embedding_dim`` vector (``embedded_tokens``).
    ``bidirectional`` wraps each layer in ``keras.layers.Bidirectional``: the
    image is read top-down and bottom-up, and the two final states are joined.
    """
    text = is_text(spec)
    if text:
        if len(tuple(input_shape)) != 1:
            raise ValueError(f"'{arch}' reads text as (length,) token ids. Received: input_shape={tuple(input_shape)}")
        steps, features = int(tuple(input_shape)[0]), None
    else:
        steps, features = require_rows(input_shape, arch)
    classes = require_classes(classes, arch, task)
    if int(units) < 1 or int(depth) < 1:
        raise ValueError(f"'{arch}' needs positive units and depth. Received: units={units}, depth={depth}")
    import keras
    from keras import layers

    def recurrent(**kwargs):
        rnn = getattr(layers, layer)(int(units), unroll=unroll, **kwargs)
        return layers.Bidirectional(rnn) if bidirectional else rnn

    inputs = model_input((steps,) if text else (steps, features), spec)
    x = embedded_tokens(inputs, spec, embedding_dim, arch) if text else inputs
    for _ in range(int(depth) - 1):
        x = recurrent(return_sequences=True)(x)
    x = recurrent()(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=bn_momentum)(x)
    outputs = head(x, classes, dropout, task)
    return keras.Model(inputs, outputs, name=name)


def fine_tuning_recipes(size=(224, 224), tuned_params=None, tuned_note="frozen backbone") -> dict:
    """The recipes of a pretrained backbone under a new head, reading ``size`` RGB.

    ``tutorial`` is MediaPipe Model Maker's image classifier defaults (its
    hparams.py: sgd at 0.005 with momentum, batch 32, 10 epochs, label
    smoothing 0.1), the backbone frozen; ``tuned`` adam 1e-3 with cosine
    decay over 8 epochs, with ``tuned_params`` (efficientnet-lite0 trains
    its top blocks: ``{"trainable_blocks": 4}``).
    """
    from zoo.api.registry import Recipe

    reads = {"image_size": tuple(size), "color": "rgb"}
    side = f"{size[0]} x {size[1]}"
    return {
        "tutorial": Recipe(optimizer="sgd", learning_rate=0.005, batch_size=32, epochs=10, validation_split=0.1,
                           monitor="val_accuracy", label_smoothing=0.1, data_options=reads,
                           note="MediaPipe Model Maker's defaults: frozen backbone, new head, sgd 0.005, "
                                f"batch 32, 10 epochs, label smoothing 0.1, {side}"),
        "tuned": Recipe(optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=8, validation_split=0.0,
                        label_smoothing=0.1, schedule="cosine", min_steps=SMALL_DATA_STEPS, data_options=reads,
                        params=dict(tuned_params or {}),
                        note=f"{tuned_note}, new head, adam 1e-3 + cosine decay, 8 epochs, {side}"),
    }
