"""`efficientnet-lite0-ssd`: a single-shot detector on EfficientNet-Lite0, with its ImageNet weights.

EfficientNet-Lite0 is the backbone of EfficientDet-Lite0 and of MediaPipe
Model Maker's image tasks. On it sits a RetinaNet-style head, small enough
for a phone and for two CPU cores:

* features at strides 16 (block 10, 112 channels) and 32 (block 15, 320),
  and a stride-64 level made from the stride-32 one by a separable stride-2
  convolution (the levels are the task's ``AnchorGrid.strides``);
* a top-down sum (the stride-32 level upsampled onto the stride-16 one, as
  an FPN does) after a 1 x 1 projection of each level to ``filters``;
* one box branch and one class branch, each a 3 x 3 separable convolution
  shared by every level (RetinaNet's sharing; Model Maker's head is
  separable too), the class bias set so that every anchor starts at a 1%
  probability (RetinaNet's prior, without which focal loss starts unstable).

The front up to stride 16 stays frozen with ImageNet's weights (batch norm
in inference mode), so ``zoo.frozen`` computes its features once per photo;
the last ``trainable_blocks`` blocks of the stride-32 stage learn.
"""
from __future__ import annotations

import math

import zoo
from zoo.api.registry import Param, Recipe
from zoo_plugins import efficientnet_lite as lite

FRONT_BLOCKS = 11  # blocks 0-10 end at stride 16; 11-15 make the stride-32 stage
LEVEL_STRIDES = (16, 32, 64)
PRIOR = 0.01  # every anchor starts at this probability of each class (RetinaNet)
TOP_BLOCKS = lite.BLOCKS - FRONT_BLOCKS
SIZE = (320, 320)  # Model Maker's detector reads 256 to 384; 320 keeps a raccoon photo's detail on 2 cores

PARAMS = {
    "weights": Param("imagenet", "pretrained backbone weights (imagenet) or none (random: from scratch)",
                     choices=("imagenet", "none")),
    "trainable_blocks": Param(5, "how many of the 5 stride-32 blocks learn (0: the backbone stays frozen)",
                              low=0, high=TOP_BLOCKS),
    "filters": Param(64, "channels of the head's levels and branches", low=8, high=512, search=(32, 128)),
}


def _parts(shape, trainable_blocks: int, init):
    """(front: image -> stride-16 features, top: stride-16 -> stride-32 features) as two models."""
    import keras

    inputs = keras.Input(shape, name="backbone_input")
    x = lite._stem(inputs, init)
    for block in lite._blocks()[:FRONT_BLOCKS]:
        x = lite._block(x, *block, init=init)
    front = keras.Model(inputs, x, name="efficientnet_lite0_front")
    boundary = keras.Input(tuple(x.shape[1:]), name="front_features")
    x = boundary
    for block in lite._blocks()[FRONT_BLOCKS:]:
        x = lite._block(x, *block, init=init)
    return front, keras.Model(boundary, x, name="efficientnet_lite0_top")


def build(input_shape, classes, *, weights="imagenet", trainable_blocks=5, filters=64, task=None, spec=None,
          name="efficientnet_lite0_ssd"):
    """The detector for ``task``'s anchors and classes, reading the dataset's photos as they are stored.

    Args:
        input_shape: (height, width, 3), both multiples of 64 (the coarsest level's stride).
        classes: the number of classes (the task's).
        weights: ``"imagenet"`` or ``"none"``.
        trainable_blocks: how many of the stride-32 stage's 5 blocks learn; the front never does
            (with ``weights="none"`` everything learns).
        filters: channels of the head.
        task: a ``zoo.data.tasks.detection.Detection`` (its anchors say the levels and anchors per cell).
        spec, name: as every zoo architecture.
    """
    import keras
    from keras import layers

    shape = tuple(int(d) for d in input_shape)
    grid = getattr(task, "anchors", None)  # a detection task's AnchorGrid
    if grid is None:
        raise ValueError(f"'efficientnet-lite0-ssd' finds boxes: it trains on a detection dataset (voc, coco, "
                         f"raccoon-sample), not a {getattr(task, 'kind', 'classification')} one")
    if len(shape) != 3 or shape[2] != 3 or shape[0] % 64 or shape[1] % 64:
        raise ValueError(f"'efficientnet-lite0-ssd' reads RGB photos whose sides are multiples of 64. "
                         f"Received: input_shape={shape}")
    if tuple(grid.strides) != LEVEL_STRIDES or tuple(grid.image_size) != shape[:2]:
        raise ValueError(f"'efficientnet-lite0-ssd' gives levels at strides {list(LEVEL_STRIDES)} on its input; "
                         f"the task's anchors are at {list(grid.strides)} on {list(grid.image_size)}")
    if weights not in lite.WEIGHTS and weights != "none":
        raise ValueError(f"'efficientnet-lite0-ssd' has weights {', '.join(lite.WEIGHTS)} or none. "
                         f"Received: {weights}")
    described = lite.WEIGHTS.get(weights, lite.IMAGENET)
    inputs = keras.Input(shape, name="image")
    x = lite.to_backbone_input(inputs, spec, described)
    pretrained = weights != "none"
    front, top = _parts(shape, trainable_blocks, "zeros" if pretrained else "glorot_uniform")
    if pretrained:
        lite.load_imagenet((front, top), shape, described)
        front.trainable = False
        first_trained = lite.BLOCKS - int(trainable_blocks)
        for layer in top.layers:
            # Batch norm keeps ImageNet's statistics: 160 photos would pull them off.
            block = int(layer.name[5:].split("_")[0]) if layer.name.startswith("block") else -1
            layer.trainable = block >= first_trained and not isinstance(layer, layers.BatchNormalization)
    stride16 = front(x, training=False if pretrained else None)
    stride32 = top(stride16)
    relu6 = dict(activation="relu6")
    p4 = layers.Conv2D(filters, 1, name="lateral_16", **relu6)(stride16)
    p5 = layers.Conv2D(filters, 1, name="lateral_32", **relu6)(stride32)
    p4 = layers.Add(name="top_down_16")([p4, layers.UpSampling2D(2, name="upsample_32")(p5)])
    p6 = layers.SeparableConv2D(filters, 3, strides=2, padding="same", name="level_64", **relu6)(p5)
    per_cell = grid.per_cell
    box_branch = layers.SeparableConv2D(per_cell * 4, 3, padding="same", name="box_branch")
    class_branch = layers.SeparableConv2D(
        per_cell * classes, 3, padding="same", name="class_branch",
        bias_initializer=keras.initializers.Constant(-math.log((1 - PRIOR) / PRIOR)))
    boxes, logits = [], []
    for stride, level in zip(LEVEL_STRIDES, (p4, p5, p6)):
        boxes.append(layers.Reshape((-1, 4), name=f"boxes_{stride}")(box_branch(level)))
        logits.append(layers.Reshape((-1, classes), name=f"classes_{stride}")(class_branch(level)))
    outputs = layers.Concatenate(axis=-1, name=task.head_name)([
        layers.Concatenate(axis=1, name="boxes")(boxes), layers.Concatenate(axis=1, name="class_logits")(logits)])
    return keras.Model(inputs, outputs, name=name)


RECIPES = {
    # mediapipe/model_maker/python/vision/object_detector/hyperparameters.py: sgd momentum 0.9, learning
    # rate 0.3 x batch / 256, batch 8, 30 epochs, cosine decay.
    "tutorial": Recipe(optimizer="sgd", learning_rate=0.3 * 8 / 256, momentum=0.9, batch_size=8, epochs=30,
                       schedule="cosine",
                       data_options={"image_size": SIZE},
                       note="MediaPipe Model Maker's detector: sgd (momentum 0.9) 0.3 x 8 / 256, batch 8, 30 epochs, "
                            "cosine decay, 320 x 320"),
    "tuned": Recipe(optimizer="adam", learning_rate=1e-3, batch_size=16, epochs=40, schedule="cosine",
                    data_options={"image_size": SIZE},
                    note="adam 1e-3 + cosine decay, batch 16, 40 epochs on features computed once, 320 x 320"),
}


@zoo.hookimpl
def register_architectures(register):
    register(zoo.Architecture(
        name="efficientnet-lite0-ssd", aliases=("ssd", "detector"),
        summary="Object detector: EfficientNet-Lite0 (ImageNet weights) with a RetinaNet-style head (boxes)",
        build=build, accepts=("image",), params=PARAMS, recipes=RECIPES, weights=lite.WEIGHTS,
        default_recipe="tuned", tasks=("detection",),
    ))
