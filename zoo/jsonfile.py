"""JSON files as zoo writes and reads them: written atomically, strict (no NaN), and read as untrusted
(NaN, Infinity and nesting past the recursion limit refused; every fault one line naming the file)."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from zoo.errors import ZooError


def _finite(value):
    """``value`` with NaN and infinities as None: JSON has no NaN, and zoo writes strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path: Path, data) -> None:
    """Write JSON atomically: a reader sees the old file or the new one.

    Raises:
        ZooError: the file cannot be written (disk full, read-only); the old
            file, if any, is left as it was.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ZooError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_finite(data), f, indent=2, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ZooError(f"{path}: cannot write ({exc.strerror})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def loads(text: str):
    """Strict JSON, as zoo reads every file it did not just write: NaN and Infinity are refused, and so
    is nesting deeper than Python's recursion limit (a ValueError for each, never a RecursionError)."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_json(path: Path) -> dict:
    try:
        data = loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(f"{path}: not found") from None
    except (OSError, ValueError) as exc:
        raise ZooError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise ZooError(f"{path}: expected a JSON object")
    return data
