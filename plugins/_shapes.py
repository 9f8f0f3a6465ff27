"""Input checks shared by the built-in builders (no TensorFlow here).

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
