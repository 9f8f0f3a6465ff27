"""Read one image file as a uint8 array, gray or colour, at a given size (Pillow and NumPy only).

Used by the ``images`` dataset and by ``zoo predict``, which must not import
TensorFlow, so nothing here does.
"""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np

from zoo.errors import DataError

# Images larger than this are refused before their pixels are decoded.
MAX_PIXELS = 50_000_000
# File names that say "an image" (zoo predict refuses them, by name, on a text model).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


# Pillow's modes for 16-bit grayscale (PNG opens as "I;16"; some readers give "I").
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# Modes without colour: everything else (RGB, RGBA, P, CMYK, YCbCr ...) has some.
GRAY_MODES = ("1", "L", "LA", "La", "F", *SIXTEEN_BIT)
# What each colour setting converts to, and the channels it gives (None: no channel axis).
COLORS = {"gray": ("L", None), "rgb": ("RGB", 3), "rgba": ("RGBA", 4)}


def eight_bit(stored: np.ndarray, black_white) -> np.ndarray:
    """Stored images as the 8-bit pixels of an image file: the dataset's black is 0, its white 255.

    Converted in chunks: 10,000 photos at 224 x 224 are 12 GB as float64.
    """
    low, high = black_white
    pixels = np.empty(stored.shape, np.uint8)
    for i in range(0, len(stored), 1024):
        x = stored[i:i + 1024].astype(np.float64)
        pixels[i:i + 1024] = np.clip(np.round((x - low) / (high - low) * 255.0), 0, 255).astype(np.uint8)
    return pixels


def _to_gray(img):
    """8-bit grayscale. 16-bit images are scaled (v / 257): ``convert("L")`` clips them at 255."""
    from PIL import Image

    if img.mode in SIXTEEN_BIT:
        wide = np.asarray(img).astype(np.float64)
        return Image.fromarray(np.clip(np.round(wide / 257.0), 0, 255).astype(np.uint8))
    return img.convert("L")


def _convert(img, color: str):
    """``img`` in the colour setting's mode; gray through ``_to_gray`` (16-bit scaled, not clipped)."""
    mode, _ = COLORS[color]
    if color == "gray":
        return _to_gray(img)
    if img.mode in SIXTEEN_BIT:
        return _to_gray(img).convert(mode)
    return img.convert(mode)


def image_header(path) -> tuple[int, int, bool]:
    """``(height, width, has_colour)`` from the file's header, without decoding its pixels.

    Raises:
        DataError: as ``load_image``.
    """
    with _opened(path) as img:
        height, width = img.size[1], img.size[0]
        if (img.getexif() or {}).get(0x0112, 1) in (5, 6, 7, 8):  # EXIF rotates it by 90 degrees
            height, width = width, height
        return height, width, img.mode not in GRAY_MODES


def load_image(path, size: tuple = (28, 28), color: str = "gray") -> np.ndarray:
    """Read an image file, turned upright (EXIF), converted to ``color``, resized to ``size``.

    Args:
        path: a PNG, JPEG or any other format Pillow reads.
        size: ``(height, width)`` of the result.
        color: ``"gray"`` (Pillow's "L"; 16-bit files scaled to 8 bits),
            ``"rgb"`` or ``"rgba"``.

    Returns:
        A uint8 array of shape ``size`` (gray) or ``(*size, 3)`` / ``(*size, 4)``.

    Raises:
        DataError: the file is missing, empty, not an image, damaged, or
            declares more than ``MAX_PIXELS`` pixels.
    """
    from PIL import Image, ImageOps

    height, width = size
    with _opened(path) as img:
        img.load()
        img = _convert(ImageOps.exif_transpose(img), color)
        img = img.resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


@contextlib.contextmanager
def _opened(path):
    """The image opened lazily (header only), its size checked; Pillow's faults as one DataError line."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 megapixels; larger images are refused below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                # img.size comes from the header: check it before decoding.
                if img.size[0] * img.size[1] > MAX_PIXELS:
                    raise DataError(f"{path}: image declares {img.size[0]} x {img.size[1]} pixels, "
                                    f"more than the {MAX_PIXELS} allowed")
                yield img
    except Image.DecompressionBombError:
        # Pillow refuses past twice its own limit (about 179 megapixels) inside Image.open, before
        # the header check above can: the same rule, said in zoo's words.
        raise DataError(f"{path}: image too large: it declares more than the {MAX_PIXELS} pixels allowed") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports damaged files as OSError ("image file is truncated"),
        # and some plugins as SyntaxError or ValueError.
        raise DataError(f"{path}: damaged image ({exc})") from None
