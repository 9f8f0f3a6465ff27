"""Read a PyTorch state dict saved in the legacy (pre-1.6) format, with NumPy and without PyTorch.

PyTorch's wheel pulls gigabytes of CUDA libraries, too much to read one
18 MB file of weights, and no maintained library reads its files without it
(safetensors reads only its own format). The legacy format is five things
in a row: three small pickles (a magic number, protocol 1001, system info:
byte order and type sizes), the state dict's pickle, whose tensors point at
storages by persistent id, a pickled list of storage keys, and then for
each key an int64 element count followed by the raw data.

The pickles are read by a restricted unpickler: only the few names a state
dict needs (an ordered dict, tensor rebuilding, storage types) are allowed,
anything else is refused by name before it can run, so a hostile file cannot
execute code. Every count and shape is checked against the file's size.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import DataError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                  "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                  "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}
MAX_TENSORS = 100_000


@dataclass(frozen=True)
class _Storage:
    dtype: type


@dataclass(frozen=True)
class _TensorRef:
    key: str
    dtype: type
    offset: int
    shape: tuple
    stride: tuple


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    key, dtype = storage
    return _TensorRef(key, dtype, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


class _Unpickler(pickle.Unpickler):
    ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict,
               ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
               **{("torch", name): _Storage(dtype) for name, dtype in STORAGE_DTYPES.items()}}

    def __init__(self, file, where: str):
        super().__init__(file)
        self.where = where

    def find_class(self, module, name):
        found = self.ALLOWED.get((module, name))
        if found is None:
            raise DataError(f"{self.where}: its pickle asks for {module[:60]}.{name[:60]}, which a PyTorch "
                            "state dict never needs (refused: a pickle may run code)")
        return found

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, element count[, view metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _Storage)
                and isinstance(pid[2], str)):
            raise DataError(f"{self.where}: a tensor points at something that is not a storage")
        return pid[2], pid[1].dtype


def _load(stream, where: str):
    try:
        return _Unpickler(stream, where).load()
    except DataError:
        raise
    except Exception as exc:  # a damaged pickle fails in many ways
        raise DataError(f"{where}: not a legacy PyTorch file ({type(exc).__name__}: {str(exc)[:80]})") from None


def read_state_dict(path) -> dict[str, np.ndarray]:
    """name -> array of a legacy PyTorch ``.pth`` state dict, each in the shape PyTorch gives it.

    Raises:
        DataError: missing, not the legacy format, a name a state dict does
            not need, a tensor outside its storage, or data that ends early.
    """
    path = Path(path)
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc.strerror or exc})") from None
    if data[:2] == b"PK":
        raise DataError(f"{path}: a zip-format PyTorch file (PyTorch 1.6 or later); zoo reads the legacy format")
    stream = io.BytesIO(data)
    if _load(stream, where) != MAGIC_NUMBER:
        raise DataError(f"{path}: not a legacy PyTorch file (no magic number)")
    if _load(stream, where) != PROTOCOL_VERSION:
        raise DataError(f"{path}: PyTorch protocol version is not {PROTOCOL_VERSION}")
    info = _load(stream, where)
    if not isinstance(info, dict) or not info.get("little_endian", False):
        raise DataError(f"{path}: saved on a big-endian machine, or without system info")
    state = _load(stream, where)
    keys = _load(stream, where)
    if not isinstance(state, dict) or not isinstance(keys, list) or len(keys) > MAX_TENSORS:
        raise DataError(f"{path}: not a state dict (name -> tensor)")
    refs = {name: ref for name, ref in state.items() if isinstance(ref, _TensorRef)}
    if len(refs) != len(state) or not all(isinstance(name, str) for name in state):
        raise DataError(f"{path}: not a state dict (name -> tensor)")
    dtypes = {ref.key: ref.dtype for ref in refs.values()}
    storages = {}
    for key in keys:
        if key not in dtypes:
            raise DataError(f"{path}: storage {str(key)[:40]} belongs to no tensor")
        header = stream.read(8)
        if len(header) != 8:
            raise DataError(f"{path}: ends before storage {key}")
        (count,) = struct.unpack("<q", header)
        itemsize = np.dtype(dtypes[key]).itemsize
        if count < 0 or count * itemsize > len(data) - stream.tell():
            raise DataError(f"{path}: storage {key} claims {count} elements, more than the file holds")
        storages[key] = np.frombuffer(stream.read(count * itemsize), dtype=np.dtype(dtypes[key]).newbyteorder("<"))
    if stream.read(1):
        raise DataError(f"{path}: holds data after its last storage")
    out = {}
    for name, ref in refs.items():
        storage = storages.get(ref.key)
        # A tensor is a strided view of its storage: element (i, j, ...) at offset + i*stride[0] + ...
        # (a file converted from TensorFlow keeps TensorFlow's layout in memory under PyTorch's shape).
        bad = (storage is None or len(ref.stride) != len(ref.shape) or ref.offset < 0
               or any(n < 0 or st < 0 for n, st in zip(ref.shape, ref.stride)))
        last = ref.offset + sum((n - 1) * st for n, st in zip(ref.shape, ref.stride)) if not bad else -1
        if bad or (0 not in ref.shape and last >= len(storage)):
            raise DataError(f"{path}: tensor {name[:60]} lies outside its storage")
        itemsize = storage.itemsize
        view = np.lib.stride_tricks.as_strided(storage[ref.offset:], shape=ref.shape,
                                               strides=tuple(st * itemsize for st in ref.stride), writeable=False)
        out[name] = np.array(view, dtype=ref.dtype)  # a copy: nothing keeps the file's buffer alive
    return out
