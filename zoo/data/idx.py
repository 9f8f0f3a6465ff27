"""Read IDX files (the MNIST and Fashion-MNIST format), raw or gzipped.

Everything in the file is checked before it is used: the gzip wrapper, the
magic number and data type, the number of dimensions and the declared sizes
against the bytes actually present. A header that declares more data than the
file can hold is refused before the payload is decompressed, so a corrupt or
hostile header cannot make zoo allocate gigabytes.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path

import numpy as np

from zoo.errors import DataError

# The four files of an MNIST-style dataset, by the array each one holds.
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
# What each kind of file must be: (magic number, numbers of dimensions allowed).
# The magic is 00 00 <data type> <dimensions>; 0x08 is unsigned byte. Images
# are N x H x W (MNIST's), or N x H x W x C with 1, 3 or 4 channels (colour).
EXPECT = {"images": (0x00000803, (3, 4)), "labels": (0x00000801, (1,))}
IMAGE_CHANNELS = (1, 3, 4)
DATA_TYPES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32",
              0x0D: "float32", 0x0E: "float64"}
# deflate cannot expand one input byte into more than 1032 output bytes, so a
# gzip file of n bytes cannot hold more than this many times n.
MAX_GZIP_RATIO = 1032
# Refuse payloads above this size outright (Fashion-MNIST's largest is 47 MB).
MAX_PAYLOAD = 2 * 1024**3
CHUNK = 1 << 20


def _open(path: Path):
    """The file opened for reading its decoded bytes, and its size on disk."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    with open(path, "rb") as f:
        is_gzip = f.read(2) == b"\x1f\x8b"
    if path.suffix == ".gz" and not is_gzip:
        raise DataError(f"{path}: named .gz but is not gzip-compressed")
    return (gzip.open(path, "rb") if is_gzip else open(path, "rb")), size, is_gzip


def _read(f, path: Path, n: int) -> bytes:
    """Up to ``n`` decoded bytes, read in chunks so ``n`` is never allocated at once."""
    chunks = []
    try:
        while n > 0:
            chunk = f.read(min(n, CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            n -= len(chunk)
    except EOFError:
        raise DataError(f"{path}: truncated gzip stream (the compressed data ends early)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip data ({exc})") from None
    return b"".join(chunks)


def read_idx(path, expect: str = "images") -> tuple[np.ndarray, str]:
    """Read one IDX file of uint8 images (N, H, W) or (N, H, W, C), or labels (N,).

    Args:
        path: the file, gzip-compressed (detected from its content) or raw.
        expect: ``"images"`` or ``"labels"``.

    Returns:
        ``(array, md5)``: the uint8 array (a view on the decoded bytes, no
        copy) and the hex MD5 of the whole decoded file, header included (the
        checksum that does not change when a file is re-compressed).

    Raises:
        DataError: the file is missing, empty, not what its name says,
            truncated, has trailing data, or its header is not ``expect``'s.
    """
    if expect not in EXPECT:
        raise ValueError(f"expect must be 'images' or 'labels'. Received: expect={expect!r}")
    path = Path(path)
    magic_wanted, ndims_wanted = EXPECT[expect]
    f, size_on_disk, is_gzip = _open(path)
    with f:
        header = _read(f, path, 4)
        if len(header) < 4:
            raise DataError(f"{path}: truncated: {len(header)} bytes, shorter than the 4-byte IDX magic")
        zeros, dtype, ndim = header[:2], header[2], header[3]
        if zeros != b"\0\0":
            raise DataError(f"{path}: not an IDX file (magic 0x{header.hex()}, "
                            f"expected 0x{magic_wanted:08x} for {expect})")
        if dtype != 0x08:
            name = DATA_TYPES.get(dtype, "unknown")
            raise DataError(f"{path}: data type 0x{dtype:02x} ({name}) is not supported; "
                            f"expected 0x08 (uint8), magic 0x{magic_wanted:08x}")
        if ndim not in ndims_wanted:
            wanted = " or ".join(str(n) for n in ndims_wanted)
            raise DataError(f"{path}: {ndim} dimensions (magic 0x{header.hex()}); {expect} "
                            f"have {wanted} (magic 0x{magic_wanted:08x}"
                            + (", or 0x00000804 with channels)" if expect == "images" else ")"))
        dims_bytes = _read(f, path, 4 * ndim)
        if len(dims_bytes) < 4 * ndim:
            raise DataError(f"{path}: truncated inside the header ({4 + len(dims_bytes)} bytes)")
        shape = tuple(int.from_bytes(dims_bytes[i:i + 4], "big") for i in range(0, 4 * ndim, 4))
        if expect == "images" and ndim == 4 and shape[3] not in IMAGE_CHANNELS:
            raise DataError(f"{path}: header declares {shape[3]} channels per pixel; images have "
                            f"1 (gray), 3 (RGB) or 4 (RGBA)")
        declared = math.prod(shape)
        described = (f"header declares {' x '.join(str(d) for d in shape)}"
                     + (f" = {declared} bytes" if ndim > 1 else " bytes"))
        # Cheap checks first: the declared size against what the file can hold.
        header_size = 4 + 4 * ndim
        if declared > MAX_PAYLOAD:
            raise DataError(f"{path}: {described}, more than the {MAX_PAYLOAD}-byte limit")
        if not is_gzip and declared != size_on_disk - header_size:
            found = size_on_disk - header_size
            what = "truncated" if found < declared else "trailing data"
            raise DataError(f"{path}: {what}: {described}, found {found}")
        if is_gzip and declared > size_on_disk * MAX_GZIP_RATIO:
            raise DataError(f"{path}: truncated: {described}, but a {size_on_disk}-byte gzip "
                            f"file holds at most {size_on_disk * MAX_GZIP_RATIO}")
        # One byte more than declared tells trailing data from an exact fit,
        # and reading to the end of a gzip stream checks its CRC and length.
        payload = _read(f, path, declared + 1)
    if len(payload) < declared:
        raise DataError(f"{path}: truncated: {described}, found {len(payload)}")
    if len(payload) > declared:
        raise DataError(f"{path}: trailing data: {described}, found more")
    md5 = hashlib.md5(header)
    md5.update(dims_bytes)
    md5.update(payload)
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape), md5.hexdigest()


def idx_path(folder, name: str) -> Path | None:
    """``folder/name.gz`` or ``folder/name``, whichever exists (gzip first)."""
    for candidate in (Path(folder) / f"{name}.gz", Path(folder) / name):
        if candidate.exists():
            return candidate
    return None


def has_idx_files(folder) -> bool:
    """Whether ``folder`` holds all four standard IDX files (without reading them)."""
    return Path(folder).is_dir() and all(idx_path(folder, n) for n in IDX_NAMES.values())


def read_idx_folder(folder, num_classes: int | None = None):
    """Read the four standard IDX files of an MNIST-style dataset.

    Args:
        folder: the directory holding ``train-images-idx3-ubyte[.gz]``,
            ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``
            and ``t10k-labels-idx1-ubyte[.gz]``.
        num_classes: when given, every label must be below it.

    Returns:
        ``(x_train, y_train, x_test, y_test, source)`` with uint8 arrays and
        ``source = {"path": folder, "md5": {file name: MD5 of decoded file}}``.

    Raises:
        DataError: the folder or a file is missing or invalid, image and label
            counts differ, train and test images differ in size, or a label is
            out of range.
    """
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"{folder}: no such directory")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a directory (expected a folder holding the four IDX files)")
    arrays, md5s = {}, {}
    for key, name in IDX_NAMES.items():
        path = idx_path(folder, name)
        if path is None:
            raise DataError(f"{folder}: missing {name}[.gz]")
        arrays[key], md5s[path.name] = read_idx(path, "images" if key.startswith("x") else "labels")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(x) != len(y):
            raise DataError(f"{folder}: {split} has {len(x)} images but {len(y)} labels")
        if num_classes is not None and len(y) and int(y.max()) >= num_classes:
            bad = int(np.argmax(y >= num_classes))
            raise DataError(f"{folder}: {split} label {int(y[bad])} at index {bad} is out of range "
                            f"for {num_classes} classes (0-{num_classes - 1})")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DataError(f"{folder}: train images are {_hw(arrays['x_train'])} but test images "
                        f"are {_hw(arrays['x_test'])}")
    return (arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
            {"path": os.fspath(folder), "md5": md5s})


def _hw(x: np.ndarray) -> str:
    return " x ".join(str(d) for d in x.shape[1:])
