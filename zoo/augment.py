"""Image augmentations, by name: what ``--augment`` and a recipe's ``augment`` choose from.

In their own module so that ``zoo.recipes`` can check a name without
importing the trainer (which imports the recipes).
"""
from __future__ import annotations

AUGMENTATIONS = {
    # The VGG tutorial's ImageDataGenerator settings, as Keras layers.
    "tutorial": "rotation 10 degrees, zoom 0.1, shear 0.1, shift 0.1, horizontal flip",
    # Clothing is left-right symmetric and roughly centred: flips and small
    # shifts add variety without the distortions that blur 28x28 images.
    "flip-shift": "horizontal flip, shift 0.1",
}


def augmentation(name: str, seed: int):
    """An augmentation of ``AUGMENTATIONS`` as a Keras Sequential of image layers."""
    from keras import Sequential, layers

    flip_shift = [
        layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed + 3),
        layers.RandomFlip("horizontal", seed=seed + 4),
    ]
    if name == "flip-shift":
        return Sequential(flip_shift, name="augmentation")
    return Sequential([
        layers.RandomRotation(10 / 360, fill_mode="constant", seed=seed),
        layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 1),
        layers.RandomShear(x_factor=0.1, y_factor=0.1, fill_mode="constant", seed=seed + 2),
        *flip_shift,
    ], name="augmentation")
