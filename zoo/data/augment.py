"""Image augmentations: label-preserving transformations, and the named sets ``--augment`` offers.

Whether a transformation preserves the label is a property of the data, not
of the model: a mirrored T-shirt is a T-shirt, a mirrored 2 is not a 2. A
dataset declares the transformations that hold for it
(``DatasetEntry.augmentations``); ``--augment`` names an augmentation, and
one that uses a transformation the dataset does not allow is refused. A
recipe's augmentation (``tuned``) is narrowed to what the dataset allows.

In their own module so that ``zoo.recipes`` can check a name without
importing the trainer (which imports the recipes).
"""
from __future__ import annotations

from zoo.errors import UsageError

# Each transformation, in the order the layers are applied, with its strength.
# The order and the per-layer seeds (seed + index) are those of the VGG
# tutorial's ImageDataGenerator settings as zoo has always built them, so a
# named augmentation trains exactly as before.
TRANSFORMATIONS = {
    "rotate": "rotation up to 10 degrees",
    "zoom": "zoom up to 10%",
    "shear": "shear up to 0.1",
    "shift": "shift up to 10% of the width and height",
    "flip": "horizontal mirror (left-right)",
}

AUGMENTATIONS = {
    # The VGG tutorial's ImageDataGenerator settings, as Keras layers.
    "tutorial": ("rotate", "zoom", "shear", "shift", "flip"),
    # Clothing is left-right symmetric and roughly centred: flips and small
    # shifts add variety without the distortions that blur 28x28 images.
    "flip-shift": ("shift", "flip"),
    # For data a mirror changes (digits, letters): position and small
    # distortions only.
    "shift": ("shift",),
    "geometric": ("rotate", "zoom", "shear", "shift"),
}

# What an image dataset allows when its entry says nothing: small geometric
# changes keep nearly any label; a mirror must be declared (it turns a 2 into
# something else).
DEFAULT_ALLOWED = ("rotate", "zoom", "shear", "shift")


def transformations(name: str) -> tuple:
    """The transformations of an augmentation: a name in AUGMENTATIONS, or ``shift+rotate``.

    Raises:
        UsageError: an unknown name or transformation.
    """
    if name in AUGMENTATIONS:
        return AUGMENTATIONS[name]
    parts = tuple(part.strip() for part in str(name).split("+"))
    unknown = [part for part in parts if part not in TRANSFORMATIONS]
    if unknown or not parts:
        raise UsageError(f"--augment {name}: expected none, one of {', '.join(AUGMENTATIONS)}, or "
                         f"transformations joined by '+' ({', '.join(TRANSFORMATIONS)})")
    return tuple(t for t in TRANSFORMATIONS if t in parts)  # the canonical order


def allowed(dataset) -> tuple:
    """The transformations ``dataset`` (an entry) declares label-preserving; none for non-images."""
    from zoo.data.spec import layout_of

    layout = layout_of(getattr(dataset, "input_kind", "image"))
    if layout is None or not layout.augments:  # transformations of pictures
        return ()
    declared = getattr(dataset, "augmentations", None)
    return tuple(declared) if declared is not None else DEFAULT_ALLOWED


def refusal(name: str, dataset) -> str | None:
    """Why ``--augment name`` cannot be used on ``dataset``, or None."""
    used = transformations(name)
    permitted = allowed(dataset)
    if not permitted:
        return f"--augment {name}: dataset '{dataset.name}' is not images; it allows no augmentation"
    forbidden = [t for t in used if t not in permitted]
    if forbidden:
        return (f"--augment {name} uses {', '.join(forbidden)}, which dataset '{dataset.name}' does not "
                f"allow (it allows {', '.join(permitted)}: {'+'.join(permitted)})")
    return None


def narrowed(name: str | None, dataset) -> str | None:
    """A recipe's augmentation restricted to what ``dataset`` allows (None when nothing is left).

    The result is an AUGMENTATIONS name where one has exactly these
    transformations, else the ``+``-joined list, so config.json records what
    really ran.
    """
    if name is None:
        return None
    kept = tuple(t for t in transformations(name) if t in allowed(dataset))
    if not kept:
        return None
    for preset, parts in AUGMENTATIONS.items():
        if parts == kept:
            return preset
    return "+".join(kept)


def augmentation(name: str, seed: int):
    """An augmentation as a Keras Sequential of image layers (of the channel-last images)."""
    from keras import Sequential, layers

    build = {
        "rotate": lambda s: layers.RandomRotation(10 / 360, fill_mode="constant", seed=s),
        "zoom": lambda s: layers.RandomZoom(0.1, fill_mode="constant", seed=s),
        "shear": lambda s: layers.RandomShear(x_factor=0.1, y_factor=0.1, fill_mode="constant", seed=s),
        "shift": lambda s: layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=s),
        "flip": lambda s: layers.RandomFlip("horizontal", seed=s),
    }
    order = list(TRANSFORMATIONS)
    return Sequential([build[t](seed + order.index(t)) for t in transformations(name)], name="augmentation")
