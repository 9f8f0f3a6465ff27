"""Read one image file as a grayscale uint8 array (Pillow and NumPy only).

Used by the ``images`` dataset and by ``zoo predict``, which must not import
TensorFlow, so nothing here does.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from zoo.errors import DataError

# Images larger than this are refused before their pixels are decoded.
MAX_PIXELS = 50_000_000


# Pillow's modes for 16-bit grayscale (PNG opens as "I;16"; some readers give "I").
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _to_gray(img):
    """8-bit grayscale. 16-bit images are scaled (v / 257): ``convert("L")`` clips them at 255."""
    from PIL import Image

    if img.mode in SIXTEEN_BIT:
        wide = np.asarray(img).astype(np.float64)
        return Image.fromarray(np.clip(np.round(wide / 257.0), 0, 255).astype(np.uint8))
    return img.convert("L")


def load_image(path, size: tuple = (28, 28)) -> np.ndarray:
    """Read an image file as grayscale, resized to ``size``.

    Args:
        path: a PNG, JPEG or any other format Pillow reads.
        size: ``(height, width)`` of the result.

    Returns:
        A uint8 array of shape ``size``.

    Raises:
        DataError: the file is missing, empty, not an image, damaged, or
            declares more than ``MAX_PIXELS`` pixels.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    height, width = size
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 megapixels; larger images are refused below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                # img.size comes from the header: check it before decoding.
                if img.size[0] * img.size[1] > MAX_PIXELS:
                    raise DataError(f"{path}: image declares {img.size[0]} x {img.size[1]} pixels, "
                                    f"more than the {MAX_PIXELS} allowed")
                img.load()
                img = _to_gray(ImageOps.exif_transpose(img))
                img = img.resize((width, height), Image.Resampling.BILINEAR)
                return np.asarray(img, dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path}: image too large ({exc})") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports damaged files as OSError ("image file is truncated"),
        # and some plugins as SyntaxError or ValueError.
        raise DataError(f"{path}: damaged image ({exc})") from None
