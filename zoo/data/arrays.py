"""NumPy array files (``.npy``, and the members of an ``.npz``) read only after their header is checked.

A ``.npy`` header states a shape and a dtype, and ``numpy.load`` allocates
what it states before reading a byte of data: a 200-byte file that claims
10^12 values asks for terabytes. Here the header is read first and the sizes
it claims are checked against the bytes really there and against a limit,
so that a hostile or damaged file is refused by name, before anything that
size is allocated. NumPy's own header parser is used (no pickle is ever
allowed).
"""
from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import DataError

# The most one array may hold: the limit the README states for every data file.
MAX_ARRAY_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class ArrayHeader:
    """What a ``.npy`` header claims: shape, dtype, and where the data begins."""

    shape: tuple
    dtype: np.dtype
    fortran_order: bool
    data_offset: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_header(stream, where: str) -> ArrayHeader:
    """The header of the ``.npy`` data at ``stream``'s position; ``where`` names the file in errors.

    Raises:
        DataError: not a ``.npy`` header, or an object dtype (which needs pickle).
    """
    fmt = np.lib.format
    start = stream.tell() if hasattr(stream, "tell") else 0
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unknown .npy format version {version}")
        offset = stream.tell() - start if hasattr(stream, "tell") else 0
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise DataError(f"{where}: not a readable .npy array ({str(exc).splitlines()[0][:160]})") from None
    if dtype.hasobject:
        raise DataError(f"{where}: holds Python objects (dtype {dtype}), which only pickle can read; "
                        "zoo never unpickles")
    return ArrayHeader(tuple(int(d) for d in shape), dtype, bool(fortran), offset)


def check_size(header: ArrayHeader, available: int, where: str, limit: int = MAX_ARRAY_BYTES) -> None:
    """Refuse a header that claims more than ``limit`` or than the ``available`` bytes after it."""
    if header.nbytes > limit:
        raise DataError(f"{where}: its header claims {_shape(header)} {header.dtype} ({header.nbytes} bytes), "
                        f"more than the {limit} bytes zoo reads from one array")
    if header.nbytes > available - header.data_offset:
        raise DataError(f"{where}: its header claims {_shape(header)} {header.dtype} ({header.nbytes} bytes) "
                        f"but the file holds {max(0, available - header.data_offset)} bytes of data "
                        "(truncated or damaged)")


def npy_header(path: Path, limit: int = MAX_ARRAY_BYTES) -> ArrayHeader:
    """The checked header of a ``.npy`` file: its sizes fit the file and ``limit``."""
    try:
        with open(path, "rb") as f:
            header = read_header(f, str(path))
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    check_size(header, path.stat().st_size, str(path), limit)
    return header


def load_npy(path: Path, limit: int = MAX_ARRAY_BYTES) -> np.ndarray:
    """A ``.npy`` file's array, read once its header is checked (no pickle)."""
    npy_header(path, limit)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({str(exc).splitlines()[0][:160]})") from None


def npz_headers(path: Path, limit: int = MAX_ARRAY_BYTES) -> dict:
    """Member name (without ``.npy``) -> checked ``ArrayHeader`` of every array in an ``.npz``.

    Each member's header is read from the archive (a few hundred bytes
    decompressed) and its claimed size checked against the member's size in
    the zip directory and against ``limit``.

    Raises:
        DataError: not a zip archive, a member that is not a ``.npy`` array,
            or one whose header claims more than it holds.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            headers = {}
            for info in archive.infolist():
                where = f"{path} (array {info.filename})"
                with archive.open(info) as member:
                    header = read_header(member, where)
                check_size(header, info.file_size, where, limit)
                headers[info.filename[:-4] if info.filename.endswith(".npy") else info.filename] = header
            return headers
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path}: not an .npz archive ({exc})") from None
    except (OSError, EOFError, RuntimeError) as exc:  # RuntimeError: an encrypted member
        raise DataError(f"{path}: damaged .npz archive ({str(exc).splitlines()[0][:160]})") from None


def _shape(header: ArrayHeader) -> str:
    return "x".join(map(str, header.shape)) or "a scalar"


def finite(array) -> bool:
    """True when a float array holds no NaN or infinity (integer arrays always do)."""
    return not np.issubdtype(array.dtype, np.floating) or bool(np.isfinite(array).all())
