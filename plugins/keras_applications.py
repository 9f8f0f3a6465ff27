"""`mobilenet-v3-small` and `efficientnet-v2-b0`: keras.applications backbones, ImageNet weights by download.

For users online: the same description as efficientnet-lite0's weights
(``zoo.weights.Weights``), with Keras' own URL and the MD5 Keras checks it by
(keras/src/applications, Keras 3.15; ``tests/test_pretrained.py`` checks the
two still agree). The file is downloaded into zoo's cache on first use and
refused if its hash differs; offline, training stops with one line naming
the URL. Both networks take 0..255 pixels (their preprocessing is inside),
so the first layer turns the dataset's input back into pixels.
"""
from __future__ import annotations

import zoo
from zoo.api.registry import Param
from zoo.data.weights import Weights
from zoo_plugins._common import fine_tuning_recipes, head, require_classes

KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
NETWORKS = {
    # name: (keras.applications constructor, no-top weights file, its MD5 in Keras, ImageNet top-1)
    "mobilenet-v3-small": ("MobileNetV3Small", "mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
                           "d3e8ec802a04aa4fc771ee12a9a9b836", 0.684),
    "efficientnet-v2-b0": ("EfficientNetV2B0", "efficientnet_v2/efficientnetv2-b0_notop.h5",
                           "893217f2bb855e2983157299931e43ff", 0.787),
}


def _constructor(name: str):
    import keras

    return getattr(keras.applications, NETWORKS[name][0])


def _backbone(name: str, shape, weights=None):
    return _constructor(name)(input_shape=shape, include_top=False, weights=weights, pooling="avg")


def _converter(name: str):
    def convert(source, destination) -> None:
        """Keras' own file, loaded by Keras' own constructor, saved as the backbone's weights."""
        _backbone(name, (224, 224, 3), str(source)).save_weights(str(destination))
    return convert


def _weights(name: str) -> Weights:
    constructor, path, md5, top1 = NETWORKS[name]
    return Weights(name="imagenet", convert=_converter(name), sha256=None, md5=md5, url=KERAS_URL + path,
                   licence="Apache-2.0 (keras.applications)", input_size=(224, 224), color="rgb",
                   mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                   trained_on="ImageNet-1k (1,281,167 photos, 1,000 classes)", scores={"imagenet_top1": top1},
                   classes=1000, citation=f"keras.applications.{constructor} (weights='imagenet'), Keras' "
                                          "published top-1")


PARAMS = {
    "weights": Param("imagenet", "pretrained weights (imagenet: a download on first use) or none",
                     choices=("imagenet", "none")),
    "dropout": Param(0.2, "dropout before the new head", low=0, high=0.95, search=(0.0, 0.5)),
}
RECIPES = fine_tuning_recipes()


def _builder(name: str):
    def build(input_shape, classes, *, weights="imagenet", dropout=0.2, task=None, spec=None):
        """The keras.applications backbone (frozen with its ImageNet weights) on the dataset's images, a new head."""
        import keras
        from keras import layers

        shape = tuple(int(d) for d in input_shape)
        if len(shape) == 2:
            shape = (*shape, 1)
        if len(shape) != 3 or shape[2] not in (1, 3) or min(shape[:2]) < 32:
            raise ValueError(f"'{name}' reads gray or RGB images of at least 32 x 32. "
                             f"Received: input_shape={tuple(input_shape)}")
        classes = require_classes(classes, name, task)
        scale = float(getattr(spec, "scale", None) or 1 / 255)
        offset = float(getattr(spec, "offset", None) or 0.0)
        inputs = keras.Input(tuple(input_shape), name=getattr(spec, "layout", None) or "image")
        x = inputs if len(tuple(input_shape)) == 3 else layers.Reshape(shape)(inputs)
        x = layers.Rescaling(1.0 / scale, offset=-offset / scale, name="to_pixels")(x)  # 0..255, as Keras' expects
        if shape[2] == 1:
            x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
        backbone = _backbone(name, (*shape[:2], 3))
        if weights != "none":
            from zoo.data import weights as weight_store

            backbone.load_weights(str(weight_store.keras_weights(name, WEIGHTS[name]["imagenet"])))
            backbone.trainable = False
        x = backbone(x, training=False if weights != "none" else None)
        return keras.Model(inputs, head(x, classes, dropout, task), name=name.replace("-", "_"))
    return build


WEIGHTS = {name: {"imagenet": _weights(name)} for name in NETWORKS}


@zoo.hookimpl
def register_architectures(register):
    for name, (constructor, *_rest) in NETWORKS.items():
        register(zoo.Architecture(
            name=name, summary=f"keras.applications.{constructor}, ImageNet weights downloaded on first use, a "
                               "new head",
            build=_builder(name), accepts=("image",), params=PARAMS, recipes=RECIPES, weights=WEIGHTS[name]))
