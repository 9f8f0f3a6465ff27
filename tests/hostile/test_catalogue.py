"""Hostile input: one row per case, each run through the real CLI.

Every row gives the command, the exit code it must end with (2 for usage
errors, 1 for data and runtime faults, 0 where zoo carries on with a warning),
a fragment of the one-line message it must print, and what it may change on
disk (by default: nothing). Around each row the test directory is
snapshotted (every path with its size, mtime and SHA-1) and compared, so a
case that writes, half-writes, deletes or escapes anything fails. No row may
print a traceback or end with an exception other than ``SystemExit``.

Rows run in-process with click's ``CliRunner`` (fast: TensorFlow is imported
once), except those marked ``process``, which run ``python -m zoo.cli`` in a
real subprocess (where native code could crash on a hostile file).

The fault tests with real processes are in ``test_faults.py`` (disk full and a
directory turning read-only during training); ``tests/test_train.py`` holds
SIGKILL-then-``--resume`` and NaN loss, ``tests/test_export.py`` SIGKILL during
export.
"""
from __future__ import annotations

import contextlib
import copy
import gzip
import hashlib
import importlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import run_zoo
from zoo import plugins
from zoo.cli import cli

RNG = np.random.default_rng(0)
IDX = {
    "train-images-idx3-ubyte": RNG.integers(0, 256, (20, 28, 28), dtype=np.uint8),
    "train-labels-idx1-ubyte": (np.arange(20) % 10).astype(np.uint8),
    "t10k-images-idx3-ubyte": RNG.integers(0, 256, (10, 28, 28), dtype=np.uint8),
    "t10k-labels-idx1-ubyte": (np.arange(10) % 10).astype(np.uint8),
}
MARKER = "PWNED"  # a file that exists only if hostile code ran


# ---------------------------------------------------------------------------
# Building hostile files.

def idx_bytes(array: np.ndarray, header: bytes | None = None) -> bytes:
    if header is None:
        header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def dims(magic: bytes, *sizes: int) -> bytes:
    return magic + b"".join(s.to_bytes(4, "big") for s in sizes)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels but holds almost no data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


class Payload:
    """Pickled, it would create the marker file when unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


class World:
    """The test's directory (also the working directory), with helpers to fill it."""

    def __init__(self, root: Path, good_run: Path, exported: Path, fixture: Callable | None = None):
        self.root = root
        self.runs = root / "runs"
        self.good_run = good_run
        self.exported = exported
        self.unmount = None  # a tmpfs a row mounted, unmounted after it
        self._fixture = fixture  # pytest's getfixturevalue: fixtures only the rows that need them pay for

    @property
    def regression_export(self) -> Path:
        return self._fixture("regression_export")

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    def run(self, name: str = "r", status: str | None = None) -> Path:
        """A copy of a finished one-epoch dense run under the runs root."""
        path = self.runs / name
        shutil.copytree(self.good_run, path)
        if status:
            self.edit_config(path, status=status)
        return path

    def edit_config(self, run: Path, drop=(), **values) -> None:
        config = json.loads((run / "config.json").read_text())
        config.update(values)
        for key in drop:
            config.pop(key)
        (run / "config.json").write_text(json.dumps(config))

    def idx(self, name: str = "data", gz: bool = True, replace: dict | None = None,
            arrays: dict | None = None) -> Path:
        """Four valid IDX files, then ``replace`` maps a file name to the bytes it gets instead."""
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        for base, array in {**IDX, **(arrays or {})}.items():
            data = idx_bytes(array)
            (folder / (base + (".gz" if gz else ""))).write_bytes(gzip.compress(data, mtime=0) if gz else data)
        for file, data in (replace or {}).items():
            path = folder / file
            if data is None:
                path.unlink()
            else:
                path.write_bytes(data)
        return folder

    def images(self, name: str = "pets", classes=("cat", "dog"), per_class: int = 3) -> Path:
        root = self.root / name
        for i, cls in enumerate(classes):
            (root / cls).mkdir(parents=True)
            for j in range(per_class):
                Image.fromarray(np.full((12, 12), 40 * i + 10 * j, np.uint8)).save(root / cls / f"{j:02d}.png")
        return root

    def image(self, name: str = "shoe.png") -> Path:
        path = self.root / name
        Image.fromarray(RNG.integers(0, 256, (28, 28), dtype=np.uint8)).save(path)
        return path

    def export_dir(self, name: str = "exp") -> Path:
        """A copy of a verified LiteRT export (model.tflite, model_card.json, labels.txt)."""
        path = self.root / name
        path.mkdir()
        for file in ("model.tflite", "model_card.json", "labels.txt"):
            shutil.copy2(self.exported / file, path / file)
        return path

    def save_model(self, run: Path, model) -> None:
        (run / "model.keras").unlink()
        model.save(run / "model.keras")


def lambda_model(marker: Path):
    """A model whose Lambda layer creates ``marker`` whenever its Python code runs."""
    import keras

    function = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")  # noqa: S307
    inputs = keras.Input((28, 28))
    x = keras.layers.Flatten()(keras.layers.Lambda(function)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    marker.unlink(missing_ok=True)  # building the model ran it once, here, on purpose
    return model


def rewrite_keras_config(path: Path, change: Callable[[dict], None]) -> None:
    """Edit config.json inside a .keras archive, as an attacker would by hand."""
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    change(config)
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)


def module_function_payload(world: World, run: Path) -> None:
    """CVE-2025-1550's shape: a Lambda whose function is ``os.system`` with a shell command."""
    world.save_model(run, lambda_model(world.marker))

    def change(config):
        layer = next(l for l in config["config"]["layers"] if l["class_name"] == "Lambda")
        layer["config"]["function"] = {"module": "os", "class_name": "function", "config": "system",
                                       "registered_name": "function"}
        layer["inbound_nodes"] = [{"args": [], "kwargs": {"inputs": f"touch {world.marker}"}}]
    rewrite_keras_config(run / "model.keras", change)


def safe_mode_switch_payload(world: World, run: Path) -> None:
    """CVE-2025-9906's shape: a first Lambda turns safe mode off, a second runs bytecode."""
    world.save_model(run, lambda_model(world.marker))

    def change(config):
        layers = config["config"]["layers"]
        switch = copy.deepcopy(next(l for l in layers if l["class_name"] == "Lambda"))
        switch["name"] = switch["config"]["name"] = "switch"
        switch["config"]["function"] = {"module": "keras.src.backend.common.global_state",
                                        "class_name": "function", "config": "set_global_attribute",
                                        "registered_name": "function"}
        switch["config"]["arguments"] = {"value": False}
        switch["inbound_nodes"] = [{"args": [], "kwargs": {"inputs": "safe_mode_saving"}}]
        layers.insert(1, switch)
    rewrite_keras_config(run / "model.keras", change)


def keras_model(input_shape=(28, 28), classes=10):
    import keras

    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(keras.layers.Flatten()(inputs)))


# ---------------------------------------------------------------------------
# Third-party plugins, installed for real: a package on sys.path with its
# .dist-info and a `zoo` entry point, found by importlib.metadata as pip's are.

PLUGINS = {
    "import-error": """
        raise ImportError("this plugin cannot be imported")
    """,
    "hook-raises": """
        import zoo

        @zoo.hookimpl
        def register_architectures(register):
            raise RuntimeError("hook failed on purpose")
    """,
    "wrong-type": """
        import zoo

        @zoo.hookimpl
        def register_architectures(register):
            register({"name": "dict-arch"})
    """,
    "not-a-model": """
        import zoo

        @zoo.hookimpl
        def register_architectures(register):
            register(zoo.Architecture(name="not-a-model", summary="returns a string",
                                      build=lambda input_shape, classes, **p: "a string",
                                      recipes={"tuned": zoo.Recipe(epochs=1)}))
    """,
    "wrong-units": """
        import zoo

        def build(input_shape, classes, **params):
            import keras
            inputs = keras.Input(shape=input_shape)
            x = keras.layers.Flatten()(inputs)
            return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))

        @zoo.hookimpl
        def register_architectures(register):
            register(zoo.Architecture(name="three-units", summary="always 3 outputs", build=build,
                                      recipes={"tuned": zoo.Recipe(epochs=1)}))
    """,
    "builder-raises": """
        import zoo

        def build(input_shape, classes, **params):
            raise RuntimeError("no GPU, no model")

        @zoo.hookimpl
        def register_architectures(register):
            register(zoo.Architecture(name="raises", summary="raises", build=build,
                                      recipes={"tuned": zoo.Recipe(epochs=1)}))
    """,
    "duplicate": """
        import zoo

        @zoo.hookimpl
        def register_architectures(register):
            register(zoo.Architecture(name="dense", summary="another dense", build=lambda *a, **k: None))
    """,
    "dotdot-name": """
        import zoo

        @zoo.hookimpl
        def register_architectures(register):
            register(zoo.Architecture(name="../../escaped", summary="a path for a name",
                                      build=lambda *a, **k: None))
    """,
    "absolute-name": """
        import zoo

        @zoo.hookimpl
        def register_datasets(register):
            register(zoo.DatasetEntry(name="/tmp/zoo-hostile-absolute", summary="an absolute path",
                                      load=lambda data_dir=None, seed=0: None))
    """,
    # --- plugin code that breaks its contract at run time: contained by zoo.calls ---
    "builder-type-error": """
        import zoo

        def build(input_shape, classes):  # forgot **params: a TypeError, the plugin's own bug
            raise AssertionError("not reached")

        @zoo.hookimpl
        def register_architectures(register):
            register(zoo.Architecture(name="typo-arch", summary="wrong signature", build=build,
                                      params={"units": zoo.registry.Param(8, "units")},
                                      recipes={"tuned": zoo.Recipe(epochs=1)}))
    """,
    "no-softmax": """
        import zoo

        def build(input_shape, classes, **params):
            import keras
            inputs = keras.Input(shape=input_shape)
            x = keras.layers.Flatten()(inputs)
            return keras.Model(inputs, keras.layers.Dense(classes)(x))  # forgot the softmax

        @zoo.hookimpl
        def register_architectures(register):
            register(zoo.Architecture(name="logits", summary="no softmax", build=build,
                                      recipes={"tuned": zoo.Recipe(epochs=1)}))
    """,
    "load-raises": """
        import zoo

        def load(data_dir=None, seed=0):
            return {}["x_train"]

        @zoo.hookimpl
        def register_datasets(register):
            register(zoo.DatasetEntry(name="keyerror-data", summary="load raises KeyError", load=load))
    """,
    "load-returns-a-dict": """
        import zoo

        @zoo.hookimpl
        def register_datasets(register):
            register(zoo.DatasetEntry(name="dict-data", summary="load returns a dict",
                                      load=lambda data_dir=None, seed=0: {"x_train": []}))
    """,
    "bad-arrays": """
        import numpy as np
        import zoo
        from zoo.dataset import Dataset
        from zoo.tasks import Regression

        CLASSES = ("a", "b")

        def dataset(name, x_train, y_train, x_test, y_test, classes=CLASSES):
            return Dataset(name, classes, x_train, y_train, x_test, y_test)

        def good(n, shape=(28, 28)):
            return np.zeros((n, *shape), np.uint8), (np.arange(n) % 2).astype(np.int64)

        CASES = {
            "empty-test": lambda: dataset("empty-test", *good(8), *good(0)),
            "zero-size": lambda: dataset("zero-size", *good(8, (0, 0)), *good(4, (0, 0))),
            "declares-28-loads-8": lambda: dataset("declares-28-loads-8", *good(8, (8, 8)), *good(4, (8, 8))),
            "label-beyond": lambda: dataset("label-beyond", good(8)[0], np.array([0, 1, 0, 1, 5, 0, 1, 0]),
                                            *good(4)),
            "nan-pixels": lambda: dataset("nan-pixels", np.full((8, 28, 28), np.nan, np.float32), good(8)[1],
                                          *good(4)),
            "newline-class": lambda: dataset("newline-class", *good(8), *good(4), classes=("a", "b\\nc")),
            "nan-targets": lambda: Dataset("nan-targets", (), good(8)[0], np.full(8, np.nan, np.float32),
                                           good(4)[0], np.zeros(4, np.float32), task=Regression()),
            "regression-labels-as-text": lambda: Dataset("regression-labels-as-text", (), good(8)[0],
                                                         np.array(["1"] * 8), good(4)[0], np.zeros(4),
                                                         task=Regression()),
        }

        @zoo.hookimpl
        def register_datasets(register):
            for name, make in CASES.items():
                task = Regression() if name in ("nan-targets", "regression-labels-as-text") else None
                register(zoo.DatasetEntry(name=name, summary=name, load=lambda data_dir=None, seed=0, m=make: m(),
                                          input_shape=(28, 28), task=task))
    """,
    "bad-specs": """
        import numpy as np
        import zoo
        from zoo import spec
        from zoo.dataset import Dataset

        def images(shape, dtype=np.uint8):
            labels = (np.arange(8) % 2).astype(np.int64)
            return np.zeros((8, *shape), dtype), labels, np.zeros((4, *shape), dtype), labels[:4]

        # name -> (what the entry declares, what load returns)
        CASES = {
            "uint8-loads-float": (spec.image((28, 28), "uint8"), lambda: images((28, 28), np.float32)),
            "rgb-loads-gray": (spec.image((28, 28, 3), "uint8", "rgb"), lambda: images((28, 28, 1))),
            "two-channels": (spec.image(None, "uint8"), lambda: images((28, 28, 2))),
            "sequence-of-cubes": (spec.sequence(None, "uint8", 1 / 255), lambda: images((4, 4, 4))),
        }

        @zoo.hookimpl
        def register_datasets(register):
            for name, (declared, make) in CASES.items():
                register(zoo.DatasetEntry(
                    name=name, summary=name, class_names=("a", "b"), spec=declared,
                    load=lambda data_dir=None, seed=0, n=name, m=make, d=declared:
                        Dataset(n, ("a", "b"), *m(), input_kind=d.layout)))
    """,
    "bad-spec-layout": """
        import zoo
        from zoo.spec import InputSpec

        @zoo.hookimpl
        def register_datasets(register):
            register(zoo.DatasetEntry(name="audio-data", summary="a layout zoo does not know",
                                      spec=InputSpec("audio", (16000,)), load=lambda **kw: None))
    """,
    "exporters": """
        import zoo

        def raises(context):
            raise RuntimeError("disk on fire")

        def wrong_type(context):
            (context.directory / "x.bin").write_bytes(b"x")
            return "done"

        def unverified(context):
            (context.directory / "x.bin").write_bytes(b"x")
            return [{"file": "x.bin"}]

        def phantom(context):
            return [{"file": "never-written.bin"}]

        @zoo.hookimpl
        def register_exporters(register):
            for name, export in (("boom", raises), ("stringly", wrong_type), ("unverified", unverified),
                                 ("phantom", phantom)):
                register(zoo.Exporter(name=name, summary=name, export=export, suffixes=(".bin",)))
    """,
}


def install_plugin(site: Path, key: str) -> str:
    """Write plugin ``key`` as an installed distribution into ``site``; return its entry point name."""
    import textwrap

    module = "zoo_hostile_" + key.replace("-", "_")
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(textwrap.dedent(PLUGINS[key]))
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: zoo-hostile-{key}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[zoo]\n{module} = {module}\n")
    return module


# ---------------------------------------------------------------------------
# The catalogue.

@dataclass
class Case:
    """One hostile input.

    Attributes:
        id: the row's name.
        args: the command line; ``{root}`` is the test directory.
        code: the exit code.
        fragment: text the one ``Error:`` line (or, with exit 0, stderr) must hold.
        setup: ``setup(world)`` makes the hostile files.
        changes: paths (relative to the test directory) the command may change.
        process: run in a real subprocess instead of in-process.
        plugins: plugins (keys of PLUGINS) installed for this row only.
        max_alloc: the most bytes Python may allocate while the command runs.
        absent: paths that must not exist afterwards (outside the snapshot).
    """

    id: str
    args: list
    code: int
    fragment: str
    setup: Callable | None = None
    changes: tuple = ()
    process: bool = False
    plugins: tuple = ()
    max_alloc: int | None = None
    absent: tuple = ()
    env: dict = field(default_factory=dict)
    xfail: str | None = None


def _fashion_bad_label(w):
    labels = IDX["train-labels-idx1-ubyte"].copy()
    labels[7] = 12
    w.idx(arrays={"train-labels-idx1-ubyte": labels})


def _npz_with_pickle(w):
    folder = w.root / "mnist"
    folder.mkdir()
    evil = np.empty(1, dtype=object)
    evil[0] = Payload(w.marker)
    np.savez(folder / "mnist.npz", x_train=evil, y_train=evil, x_test=evil, y_test=evil)
    assert b"PWNED" in (folder / "mnist.npz").read_bytes()  # the pickle is really in there


def _images_with(w, name, data):
    root = w.images()
    (root / "cat" / name).write_bytes(data)


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _truncated_png(path: Path) -> None:
    """A real photo-sized PNG cut off in its pixel data, as a broken download leaves it."""
    Image.fromarray(RNG.integers(0, 256, (64, 64), dtype=np.uint8)).save(path)
    _truncated(path)


def _zip_with(path: Path, files: dict) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)


def _mount(w, name: str, options: str) -> None:
    """A tmpfs at ``name`` (read-only, or tiny); skipped where this machine cannot mount one."""
    path = w.root / name
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    w.unmount = path


def _mount_readonly(w):
    _mount(w, "ro", "size=1m,ro")


def _export_with_foreign_file(w, foreign=True):
    """A run whose export/ holds a model card (a zoo export) and, with ``foreign``, a file of the user's."""
    run = w.run()
    export = run / "export"
    export.mkdir()
    (export / "model_card.json").write_text(json.dumps({"files": [{"file": "model.tflite"}]}))
    (export / "model.tflite").write_bytes(b"TFL3")
    if foreign:
        (export / "thesis.tex").write_text("years of work")


def _regression_export(w):
    """A LiteRT export of a regression model (dense on 100 x 2 sequences), as zoo export writes one."""
    path = w.root / "seq"
    shutil.copytree(w.regression_export, path)


def _truncated_backup(w):
    """A run killed during epoch 2, whose backup's weights (and their .bkp) were cut short."""
    run = w.run(status="running")
    backup = run / "backup"
    backup.mkdir()
    for name in ("latest.weights.h5", "latest.weights.h5.bkp"):
        (backup / name).write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(40))
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        (backup / name).write_text('{"epoch": 1}')
    (run / "metrics.json").unlink()


# --- issue 27: the one-line contract on what the last round added ----------------------

def _recipe_case(name: str, content: str, fragment: str):
    """``zoo train dense fashion-sample --recipe r.json`` with ``content`` in r.json: exit 2 and ``fragment``."""
    return Case(name, ["train", "dense", "fashion-sample", "--recipe", "{root}/r.json", "-q"], 2, fragment,
                setup=lambda w: (w.root / "r.json").write_text(content))


def _npy_claiming(path: Path, shape: tuple, dtype="<f8", data: bytes = b"", whole: bool = False) -> None:
    """A .npy whose header states ``shape``; ``whole``: as long as the header says (sparse: no disk used)."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    header.update(shape=shape, descr=dtype)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(data)
        if whole:
            f.truncate(f.tell() - len(data) + int(np.prod(shape)) * np.dtype(dtype).itemsize)


def _npz_claiming_60000x1000x1000(w) -> None:
    """An .npz of a few hundred bytes whose x_train header claims 60000x1000x1000 uint8 (55.9 GiB)."""
    member = w.root / "x_train.npy"
    _npy_claiming(member, (60000, 1000, 1000), "|u1", b"\0" * 64)
    arrays = {"y_train": np.zeros(2, np.int64), "x_test": np.zeros((2, 4, 4), np.uint8), "y_test": np.zeros(2, np.int64)}
    with zipfile.ZipFile(w.root / "big.npz", "w") as z:
        z.write(member, "x_train.npy")
        for key, array in arrays.items():
            with z.open(f"{key}.npy", "w") as out:
                np.lib.format.write_array(out, array)
    member.unlink()


def _edit_card(w, change) -> Path:
    path = w.export_dir()
    card = json.loads((path / "model_card.json").read_text())
    change(card)
    (path / "model_card.json").write_text(json.dumps(card))
    return path


def _regression_export_and(w, make) -> None:
    _regression_export(w)
    make(w)


def _finished_twice(w) -> None:
    w.run("r")
    w.run("r2")


def _zip_bomb(w):
    """A 300 KB model.keras whose one member unpacks to 300 MiB of zeros."""
    run = w.run()
    (run / "model.keras").unlink()
    with zipfile.ZipFile(run / "model.keras", "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("model.weights.h5", "w", force_zip64=True) as member:
            block = bytes(1 << 20)
            for _ in range(300):
                member.write(block)


CASES = [
    # --- data files: IDX ---------------------------------------------------------
    Case("idx-folder-missing", ["show", "idx", "--data-dir", "{root}/nosuch"], 1, "nosuch: no such directory"),
    Case("idx-folder-is-a-file", ["show", "idx", "--data-dir", "{root}/file"], 1, "file: not a directory",
         setup=lambda w: (w.root / "file").write_text("x")),
    Case("idx-file-missing", ["show", "idx", "--data-dir", "{root}/data"], 1,
         "missing t10k-labels-idx1-ubyte[.gz]",
         setup=lambda w: w.idx(replace={"t10k-labels-idx1-ubyte.gz": None})),
    Case("idx-empty-file", ["show", "idx", "--data-dir", "{root}/data"], 1,
         "train-images-idx3-ubyte.gz: empty file (0 bytes)",
         setup=lambda w: w.idx(replace={"train-images-idx3-ubyte.gz": b""})),
    Case("idx-gz-that-is-not-gzip", ["show", "idx", "--data-dir", "{root}/data"], 1,
         "named .gz but is not gzip-compressed",
         setup=lambda w: w.idx(replace={"train-images-idx3-ubyte.gz": idx_bytes(IDX["train-images-idx3-ubyte"])})),
    Case("idx-truncated-gzip-stream", ["show", "idx", "--data-dir", "{root}/data"], 1,
         "train-images-idx3-ubyte.gz: truncated gzip stream",
         setup=lambda w: _truncated(w.idx() / "train-images-idx3-ubyte.gz")),
    Case("idx-gzip-bad-crc", ["show", "idx", "--data-dir", "{root}/data"], 1, "corrupt gzip data",
         setup=lambda w: w.idx(replace={"t10k-images-idx3-ubyte.gz": (lambda b: b[:-8] + bytes([b[-8] ^ 0xFF]) + b[-7:])(
             gzip.compress(idx_bytes(IDX["t10k-images-idx3-ubyte"]), mtime=0))})),
    Case("idx-wrong-magic", ["show", "idx", "--data-dir", "{root}/data"], 1, "not an IDX file (magic 0x504b0304",
         setup=lambda w: w.idx(gz=False, replace={"train-images-idx3-ubyte": b"PK\x03\x04" + bytes(100)})),
    Case("idx-float32-data", ["show", "idx", "--data-dir", "{root}/data"], 1,
         "data type 0x0d (float32) is not supported",
         setup=lambda w: w.idx(gz=False, replace={"train-images-idx3-ubyte": dims(b"\0\0\x0d\x03", 1, 2, 2) + bytes(16)})),
    Case("idx-labels-where-images-belong", ["show", "idx", "--data-dir", "{root}/data"], 1,
         "1 dimensions (magic 0x00000801); images have 3",
         setup=lambda w: w.idx(gz=False, replace={"train-images-idx3-ubyte": idx_bytes(IDX["train-labels-idx1-ubyte"])})),
    Case("idx-truncated-payload", ["show", "idx", "--data-dir", "{root}/data"], 1,
         "truncated: header declares 20 x 28 x 28 = 15680 bytes, found 15000",
         setup=lambda w: w.idx(gz=False, replace={
             "train-images-idx3-ubyte": idx_bytes(IDX["train-images-idx3-ubyte"])[:16 + 15000]})),
    Case("idx-trailing-data", ["show", "idx", "--data-dir", "{root}/data"], 1, "trailing data: header declares 10 bytes",
         setup=lambda w: w.idx(replace={"t10k-labels-idx1-ubyte.gz": gzip.compress(
             idx_bytes(IDX["t10k-labels-idx1-ubyte"]) + b"\0\0\0")})),
    Case("idx-truncated-header", ["show", "idx", "--data-dir", "{root}/data"], 1, "truncated inside the header",
         setup=lambda w: w.idx(replace={"train-images-idx3-ubyte.gz": gzip.compress(b"\0\0\x08\x03\0\0")})),
    Case("idx-declares-100000x100000-raw", ["show", "idx", "--data-dir", "{root}/data"], 1,
         "header declares 1 x 100000 x 100000 = 10000000000 bytes", max_alloc=20 << 20,
         setup=lambda w: w.idx(gz=False, replace={
             "train-images-idx3-ubyte": dims(b"\0\0\x08\x03", 1, 100000, 100000) + bytes(3 * 784)})),
    Case("idx-declares-100000x100000-gzip", ["show", "idx", "--data-dir", "{root}/data"], 1,
         "header declares 1 x 100000 x 100000 = 10000000000 bytes", max_alloc=20 << 20,
         setup=lambda w: w.idx(replace={"train-images-idx3-ubyte.gz": gzip.compress(
             dims(b"\0\0\x08\x03", 1, 100000, 100000) + bytes(3 * 784))})),
    Case("idx-fewer-labels-than-images", ["show", "idx", "--data-dir", "{root}/data"], 1,
         "train has 20 images but 19 labels",
         setup=lambda w: w.idx(arrays={"train-labels-idx1-ubyte": IDX["train-labels-idx1-ubyte"][:19]})),
    Case("idx-train-and-test-sizes-differ", ["show", "idx", "--data-dir", "{root}/data"], 1,
         "train images are 28 x 28 but test images are 14 x 14",
         setup=lambda w: w.idx(arrays={"t10k-images-idx3-ubyte": IDX["t10k-images-idx3-ubyte"][:, :14, :14]})),
    Case("fashion-label-beyond-the-classes", ["show", "fashion", "--data-dir", "{root}/data"], 1,
         "train label 12 at index 7 is out of range for 10 classes", setup=_fashion_bad_label),
    Case("idx-classes-txt-duplicate", ["show", "idx", "--data-dir", "{root}/data"], 1, "a class name appears twice",
         setup=lambda w: (w.idx() / "classes.txt").write_text("a\nb\na\n")),
    Case("idx-only-one-class", ["show", "idx", "--data-dir", "{root}/data"], 1, "only one class",
         setup=lambda w: w.idx(arrays={"train-labels-idx1-ubyte": np.zeros(20, np.uint8),
                                       "t10k-labels-idx1-ubyte": np.zeros(10, np.uint8)})),
    Case("train-on-a-truncated-idx", ["train", "dense", "idx", "--data-dir", "{root}/data", "--epochs", "1", "-q"], 1,
         "truncated gzip stream", setup=lambda w: _truncated(w.idx() / "t10k-images-idx3-ubyte.gz")),
    Case("mnist-npz-with-a-pickle", ["show", "mnist", "--data-dir", "{root}/mnist"], 1,
         "mnist.npz (array x_train.npy): holds Python objects (dtype object)", setup=_npz_with_pickle),
    Case("mnist-npz-that-is-not-a-zip", ["show", "mnist", "--data-dir", "{root}/mnist"], 1,
         "mnist.npz: not a readable .npz file",
         setup=lambda w: ((w.root / "mnist").mkdir(), (w.root / "mnist" / "mnist.npz").write_bytes(b"PK\x03\x04junk"))),

    # --- data files: image folders ------------------------------------------------
    Case("images-zero-byte-file", ["show", "images", "--data-dir", "{root}/pets"], 1, "cat/09.png: empty file (0 bytes)",
         setup=lambda w: _images_with(w, "09.png", b"")),
    Case("images-not-an-image", ["show", "images", "--data-dir", "{root}/pets"], 1,
         "cat/notes.txt: not an image Pillow can read", setup=lambda w: _images_with(w, "notes.txt", b"my notes")),
    Case("images-truncated-png", ["show", "images", "--data-dir", "{root}/pets"], 1, "cat/00.png: damaged image",
         setup=lambda w: _truncated_png(w.images() / "cat" / "00.png")),
    Case("images-declares-100000x100000", ["show", "images", "--data-dir", "{root}/pets"], 1,
         "cat/huge.png: image too large", max_alloc=20 << 20,
         setup=lambda w: _images_with(w, "huge.png", png_header_only(100000, 100000))),
    Case("images-declares-8000x8000", ["show", "images", "--data-dir", "{root}/pets"], 1,
         "image declares 8000 x 8000 pixels, more than the 50000000 allowed", max_alloc=20 << 20,
         setup=lambda w: _images_with(w, "big.png", png_header_only(8000, 8000))),
    Case("images-one-class", ["show", "images", "--data-dir", "{root}/pets"], 1, "only one class folder ('cat')",
         setup=lambda w: w.images(classes=("cat",))),
    Case("train-on-images-with-a-non-image", ["train", "dense", "images", "--data-dir", "{root}/pets", "-q"], 1,
         "not an image Pillow can read", setup=lambda w: _images_with(w, "x.jpg", b"\xff\xd8 not really")),

    # --- names and flags ------------------------------------------------------------
    Case("unknown-command", ["trian", "dense", "fashion-sample"], 2, "No such command 'trian'. Did you mean 'train'?"),
    Case("unknown-architecture", ["train", "lstmm", "fashion-sample"], 2, "unknown architecture 'lstmm'; did you mean"),
    Case("misspelled-dataset", ["train", "dense", "fashon-sample"], 2, "did you mean 'fashion-sample'"),
    Case("misspelled-flag", ["train", "dense", "fashion-sample", "--epoch", "3"], 2,
         "No such option '--epoch'. Did you mean '--epochs'?"),
    Case("unknown-kind", ["list", "models", "x*"], 2, "unknown kind 'models'"),
    Case("show-unknown-name", ["show", "fashon"], 2, "did you mean 'fashion'"),
    Case("epochs-zero", ["train", "dense", "fashion-sample", "--epochs", "0"], 2, "'--epochs': 0 is not in the range x>=1"),
    Case("epochs-negative", ["train", "dense", "fashion-sample", "--epochs", "-1"], 2, "'--epochs': -1 is not in the range"),
    Case("epochs-not-a-number", ["train", "dense", "fashion-sample", "--epochs", "ten"], 2, "'ten' is not a valid integer"),
    Case("batch-size-zero", ["train", "dense", "fashion-sample", "--batch-size", "0"], 2, "'--batch-size': 0 is not in the range"),
    Case("batch-size-negative", ["train", "dense", "fashion-sample", "--batch-size", "-8"], 2, "'--batch-size': -8"),
    Case("validation-split-one", ["train", "dense", "fashion-sample", "--validation-split", "1"], 2, "'--validation-split'"),
    Case("validation-split-negative", ["train", "dense", "fashion-sample", "--validation-split", "-0.2"], 2,
         "'--validation-split'"),
    Case("validation-split-above-one", ["train", "dense", "fashion-sample", "--validation-split", "1.5"], 2,
         "'--validation-split'"),
    Case("learning-rate-not-a-number", ["train", "dense", "fashion-sample", "--learning-rate", "fast"], 2,
         "'fast' is not a valid float range"),
    Case("learning-rate-negative", ["train", "dense", "fashion-sample", "--learning-rate", "-0.1"], 2, "'--learning-rate'"),
    Case("optimizer-unknown", ["train", "dense", "fashion-sample", "--optimizer", "sgdd"], 2, "'sgdd' is not one of"),
    Case("seed-not-a-number", ["train", "dense", "fashion-sample", "--seed", "abc"], 2, "'abc' is not a valid integer"),
    Case("param-the-architecture-lacks", ["train", "dense", "fashion-sample", "-p", "filters=8"], 2,
         "'dense' has no parameter 'filters'"),
    Case("param-wrong-type", ["train", "dense", "fashion-sample", "-p", "units=wide"], 2,
         "-p units=wide: 'dense' expects a comma-separated list of integers"),
    Case("param-out-of-range", ["train", "dense", "fashion-sample", "-p", "dropout=1.5"], 2,
         "'dense' needs dropout at most 0.95. Received: dropout=1.5"),
    Case("param-without-value", ["train", "dense", "fashion-sample", "-p", "dropout"], 2, "expected KEY=VALUE"),
    Case("data-dir-for-the-embedded-sample", ["train", "dense", "fashion-sample", "--data-dir", "{root}"], 2,
         "--data-dir does not apply"),
    Case("idx-without-data-dir", ["train", "dense", "idx"], 2, "dataset 'idx' needs --data-dir DIR"),
    Case("quantize-unknown", ["export", "--tflite", "--quantize", "int9"], 2, "--quantize int9: unknown quantization"),
    Case("predict-top-k-zero", ["predict", "{root}/x.tflite", "{root}/shoe.png", "--top-k", "0"], 2, "'--top-k' / '-k': 0"),

    # --- runs --------------------------------------------------------------------
    Case("evaluate-missing-run", ["evaluate", "nosuch"], 2, "run 'nosuch' not found"),
    Case("evaluate-with-no-runs", ["evaluate"], 2, "no finished runs under"),
    Case("run-without-a-model", ["evaluate", "r"], 1, "the run has no model.keras",
         setup=lambda w: (w.run() / "model.keras").unlink()),
    Case("run-without-a-config", ["evaluate", "r"], 1, "not a zoo run directory (no config.json)",
         setup=lambda w: (w.run() / "config.json").unlink()),
    Case("config-not-json", ["evaluate", "r"], 1, "config.json: unreadable",
         setup=lambda w: (w.run() / "config.json").write_text("{\"architecture\": ")),
    Case("config-missing-a-field", ["evaluate", "r"], 1, "config.json: 'dataset' should be a str, found missing",
         setup=lambda w: w.edit_config(w.run(), drop=("dataset",))),
    Case("config-field-of-the-wrong-type", ["evaluate", "r"], 1, "'class_names' should be a list, found a int",
         setup=lambda w: w.edit_config(w.run(), class_names=10)),
    Case("model-not-a-zip", ["evaluate", "r"], 1, "model.keras: not a Keras model file",
         setup=lambda w: (w.run() / "model.keras").write_bytes(b"\x89HDF\r\n\x1a\n not a keras file")),
    Case("model-truncated", ["evaluate", "r"], 1, "model.keras: not a Keras model file",
         setup=lambda w: _truncated(w.run() / "model.keras")),
    Case("model-zero-bytes", ["evaluate", "r"], 1, "model.keras: not a Keras model file",
         setup=lambda w: (w.run() / "model.keras").write_bytes(b"")),
    Case("model-zip-without-config", ["evaluate", "r"], 1, "model.keras: cannot be loaded",
         setup=lambda w: _zip_with(w.run() / "model.keras", {"readme.txt": "hello"})),
    Case("model-reads-another-shape", ["evaluate", "r"], 1, "the model reads [32, 32] but the run's config.json says [28, 28]",
         setup=lambda w: w.save_model(w.run(), keras_model((32, 32)))),
    Case("model-gives-other-classes", ["evaluate", "r"], 1, "the model gives 5 outputs but the run has 10 classes",
         setup=lambda w: w.save_model(w.run(), keras_model(classes=5))),
    Case("model-with-a-lambda-layer", ["evaluate", "r"], 1, "refused by Keras safe mode",
         setup=lambda w: w.save_model(w.run(), lambda_model(w.marker))),
    Case("model-naming-os-system", ["evaluate", "r"], 1, "model.keras: cannot be loaded",
         setup=lambda w: module_function_payload(w, w.run())),
    Case("model-switching-safe-mode-off", ["evaluate", "r"], 1, "model.keras: cannot be loaded",
         setup=lambda w: safe_mode_switch_payload(w, w.run())),
    Case("resume-a-finished-run", ["train", "--resume", "r"], 2, "--resume r: the run already finished",
         setup=lambda w: w.run()),
    Case("resume-with-a-damaged-config", ["train", "--resume", "r", "-q"], 1, "'recipe_settings' should be a dict",
         setup=lambda w: w.edit_config(w.run(status="running"), recipe_settings="fast")),
    Case("resume-with-damaged-settings", ["train", "--resume", "r", "-q"], 1, "config.json: edited since the run began",
         setup=lambda w: w.edit_config(w.run(status="running"), recipe_settings={"epochs": "many"})),
    Case("resume-with-another-architecture", ["train", "cnn", "--resume", "r"], 2, "the run trained dense, not cnn",
         setup=lambda w: w.run(status="running")),

    # --- exports and predict -----------------------------------------------------
    Case("export-missing-run", ["export", "nosuch"], 2, "run 'nosuch' not found"),
    Case("export-a-corrupted-model", ["export", "r", "--tflite"], 1, "model.keras: not a Keras model file",
         setup=lambda w: _truncated(w.run() / "model.keras")),
    Case("export-a-lambda-model", ["export", "r", "--tflite"], 1, "refused by Keras safe mode",
         setup=lambda w: w.save_model(w.run(), lambda_model(w.marker))),
    Case("export-into-a-foreign-directory", ["export", "r", "-o", "{root}/mine"], 2,
         "is not a zoo export (no model_card.json); refusing to replace it",
         setup=lambda w: (w.run(), (w.root / "mine").mkdir(), (w.root / "mine" / "thesis.tex").write_text("x"))),
    Case("predict-tflite-not-a-flatbuffer", ["predict", "{root}/model.tflite", "{root}/shoe.png"], 1,
         "model.tflite: not a TFLite model", setup=lambda w: (w.image(), (w.root / "model.tflite").write_text("hello"))),
    Case("predict-tflite-zero-bytes", ["predict", "{root}/model.tflite", "{root}/shoe.png"], 1, "model.tflite:",
         setup=lambda w: (w.image(), (w.root / "model.tflite").write_bytes(b""))),
    Case("predict-tflite-truncated", ["predict", "{root}/exp/model.tflite", "{root}/shoe.png"], 1, "model.tflite:",
         process=True, setup=lambda w: (w.image(), _truncated(w.export_dir() / "model.tflite"))),
    Case("predict-image-not-an-image", ["predict", "{root}/exp/model.tflite", "{root}/notes.png"], 1,
         "notes.png: not an image Pillow can read",
         setup=lambda w: (w.export_dir(), (w.root / "notes.png").write_text("not a picture"))),
    Case("predict-image-zero-bytes", ["predict", "{root}/exp", "{root}/empty.png"], 1, "empty.png: empty file (0 bytes)",
         setup=lambda w: (w.export_dir(), (w.root / "empty.png").write_bytes(b""))),
    Case("predict-image-missing", ["predict", "{root}/exp", "{root}/nosuch.png"], 1, "nosuch.png: no such file",
         setup=lambda w: w.export_dir()),
    Case("predict-image-declares-100000x100000", ["predict", "{root}/exp", "{root}/huge.png"], 1,
         "huge.png: image too large", max_alloc=20 << 20,
         setup=lambda w: (w.export_dir(), (w.root / "huge.png").write_bytes(png_header_only(100000, 100000)))),
    Case("predict-a-run-without-export", ["predict", "r", "{root}/shoe.png"], 1, "has no exported model",
         setup=lambda w: (w.run(), w.image())),

    # --- paths: a name never escapes the runs directory ---------------------------
    Case("evaluate-dotdot-name", ["evaluate", "../victim"], 2, "run '../victim' not found",
         setup=lambda w: shutil.copytree(w.good_run, w.root / "victim")),
    Case("resume-dotdot-name", ["train", "--resume", "../victim"], 2, "run '../victim' not found",
         setup=lambda w: (shutil.copytree(w.good_run, w.root / "victim"),
                          w.edit_config(w.root / "victim", status="running"))),
    Case("export-dotdot-name", ["export", "../victim"], 2, "run '../victim' not found",
         setup=lambda w: shutil.copytree(w.good_run, w.root / "victim")),
    Case("predict-dotdot-name", ["predict", "../victim", "{root}/shoe.png"], 2, "run '../victim' not found",
         setup=lambda w: (shutil.copytree(w.good_run, w.root / "victim"), w.image())),
    Case("evaluate-absolute-name", ["evaluate", "/nonexistent-zoo-run"], 2, "run '/nonexistent-zoo-run' not found"),
    Case("evaluate-a-directory-that-is-not-a-run", ["evaluate", ".."], 1, "..: not a zoo run directory"),
    Case("plugin-architecture-named-dotdot", ["train", "../../escaped", "fashion-sample", "--epochs", "1", "-q"], 2,
         "unknown architecture '../../escaped'", plugins=("dotdot-name",)),
    Case("plugin-dataset-named-absolute", ["train", "dense", "/tmp/zoo-hostile-absolute", "-q"], 2,
         "unknown dataset '/tmp/zoo-hostile-absolute'", plugins=("absolute-name",),
         absent=("/tmp/zoo-hostile-absolute",)),
    Case("train-output-under-a-file", ["train", "dense", "fashion-sample", "--epochs", "1", "-o", "{root}/f/run", "-q"], 2,
         "/f is a file, not a directory", setup=lambda w: (w.root / "f").write_text("a file")),
    Case("train-output-not-empty", ["train", "dense", "fashion-sample", "--epochs", "1", "-o", "{root}/mine", "-q"], 2,
         "exists and is not an empty directory",
         setup=lambda w: ((w.root / "mine").mkdir(), (w.root / "mine" / "thesis.tex").write_text("x"))),
    Case("runs-root-is-a-file", ["train", "dense", "fashion-sample", "--epochs", "1", "-q"], 1,
         "cannot create run directory", env={"ZOO_RUNS_DIR": "{root}/runsfile"},
         setup=lambda w: (w.root / "runsfile").write_text("a file")),
    Case("export-output-under-a-file", ["export", "r", "-o", "{root}/f/exp"], 1, "cannot write to",
         setup=lambda w: (w.run(), (w.root / "f").write_text("a file"))),
    Case("train-output-read-only", ["train", "dense", "fashion-sample", "--epochs", "1", "-o", "{root}/ro/run", "-q"], 1,
         "Read-only file system", setup=_mount_readonly),
    Case("export-output-read-only", ["export", "r", "-o", "{root}/ro/exp"], 1, "Read-only file system",
         setup=lambda w: (w.run(), _mount_readonly(w))),
    # The SavedModel (830 KiB) does not fit: TensorFlow's error does not say "no space" yet.
    Case("export-onto-a-full-disk", ["export", "r", "-o", "{root}/small/exp"], 1, "(nothing was written to",
         setup=lambda w: (w.run(), _mount(w, "small", "size=256k"))),

    # --- plugins -----------------------------------------------------------------
    Case("plugin-import-error", ["show", "dense"], 0,
         "is broken: ImportError: this plugin cannot be imported", plugins=("import-error",)),
    Case("plugin-hook-raises", ["list", "arch"], 0, "is broken: RuntimeError: hook failed on purpose",
         plugins=("hook-raises",)),
    Case("plugin-registers-a-dict", ["list"], 0, "registered dict, expected zoo.Architecture", plugins=("wrong-type",)),
    Case("plugin-builder-returns-a-string", ["train", "not-a-model", "fashion-sample", "-q"], 1,
         "architecture 'not-a-model' (zoo-hostile-not-a-model) returned str, not a keras.Model", plugins=("not-a-model",)),
    Case("plugin-builder-wrong-units", ["train", "three-units", "fashion-sample", "-q"], 1,
         "(zoo-hostile-wrong-units) built a model with 3 outputs for 10 classes", plugins=("wrong-units",)),
    Case("plugin-builder-raises", ["train", "raises", "fashion-sample", "-q"], 1,
         "architecture 'raises' (zoo-hostile-builder-raises) failed to build: RuntimeError: no GPU, no model",
         plugins=("builder-raises",)),
    Case("plugin-same-name-twice", ["show", "dense"], 1,
         "registered by more than one plugin ('zoo' and 'zoo-hostile-duplicate')", plugins=("duplicate",)),
    Case("plugin-name-with-dotdot", ["list"], 0, "architecture name '../../escaped' is not allowed",
         plugins=("dotdot-name",)),
    # A plugin's own mistake is reported as the plugin's (exit 1), not as the user's usage error.
    Case("plugin-builder-type-error", ["train", "typo-arch", "fashion-sample", "-q"], 1,
         "architecture 'typo-arch' (zoo-hostile-builder-type-error) failed to build: TypeError",
         plugins=("builder-type-error",)),
    Case("plugin-load-raises-show", ["show", "keyerror-data"], 1,
         "dataset 'keyerror-data' (zoo-hostile-load-raises) failed in load: KeyError: 'x_train'",
         plugins=("load-raises",)),
    Case("plugin-load-raises-train", ["train", "dense", "keyerror-data", "-q"], 1,
         "dataset 'keyerror-data' (zoo-hostile-load-raises) failed in load: KeyError", plugins=("load-raises",)),
    Case("plugin-load-raises-evaluate", ["evaluate", "r", "--dataset", "keyerror-data"], 1,
         "failed in load: KeyError", plugins=("load-raises",), setup=lambda w: w.run()),
    Case("plugin-load-returns-a-dict", ["train", "dense", "dict-data", "-q"], 1,
         "dataset 'dict-data' (zoo-hostile-load-returns-a-dict): load returned dict, expected a zoo.dataset.Dataset",
         plugins=("load-returns-a-dict",)),
    Case("plugin-data-empty-test-set", ["train", "dense", "empty-test", "-q"], 1,
         "dataset 'empty-test' (zoo-hostile-bad-arrays): the test split is empty", plugins=("bad-arrays",)),
    Case("plugin-data-0x0-images", ["show", "zero-size"], 1, "zero-sized dimension", plugins=("bad-arrays",)),
    Case("plugin-data-other-shape-than-declared", ["train", "dense", "declares-28-loads-8", "-q"], 1,
         "loaded examples of shape [8, 8] but the entry declares [28, 28]", plugins=("bad-arrays",)),
    Case("plugin-data-label-beyond-classes", ["train", "dense", "label-beyond", "-q"], 1,
         "train label 5 at index 4 is out of range for 2 classes", plugins=("bad-arrays",)),
    Case("plugin-data-nan-pixels", ["train", "dense", "nan-pixels", "-q"], 1, "x_train holds NaN or infinity",
         plugins=("bad-arrays",)),
    Case("plugin-data-class-name-with-newline", ["train", "dense", "newline-class", "-q"], 1,
         "class name 'b\\nc' is empty or holds a control character", plugins=("bad-arrays",)),
    Case("plugin-builder-forgets-the-softmax", ["train", "logits", "fashion-sample", "-q"], 1,
         "(zoo-hostile-no-softmax) built a classifier whose outputs are not probabilities", plugins=("no-softmax",)),
    Case("plugin-data-nan-regression-targets", ["train", "dense", "nan-targets", "-q"], 1,
         "dataset 'nan-targets' (zoo-hostile-bad-arrays): y_train holds NaN or infinity", plugins=("bad-arrays",)),
    Case("plugin-data-regression-targets-as-text", ["train", "dense", "regression-labels-as-text", "-q"], 1,
         "y_train has dtype <U1; expected numbers", plugins=("bad-arrays",)),
    # The input spec: what an entry declares, and loaded arrays that disagree with it.
    Case("plugin-spec-declares-uint8-loads-float", ["train", "dense", "uint8-loads-float", "-q"], 1,
         "dataset 'uint8-loads-float' (zoo-hostile-bad-specs): loaded dtype float32 but the entry declares uint8",
         plugins=("bad-specs",)),
    Case("plugin-spec-declares-rgb-loads-gray", ["show", "rgb-loads-gray"], 1,
         "loaded examples of shape [28, 28, 1] but the entry declares [28, 28, 3]", plugins=("bad-specs",)),
    Case("plugin-spec-image-with-two-channels", ["train", "cnn", "two-channels", "-q"], 1,
         "dataset 'two-channels' (zoo-hostile-bad-specs): an image has 1, 3 or 4 channels; shape [28, 28, 2] has 2",
         plugins=("bad-specs",)),
    Case("plugin-spec-sequence-of-3d-examples", ["train", "simplernn", "sequence-of-cubes", "-q"], 1,
         "a sequence example is time steps x features; shape [4, 4, 4] has 3 axes", plugins=("bad-specs",)),
    Case("plugin-spec-unknown-layout", ["list", "datasets"], 0,
         "is broken: ValueError: dataset 'audio-data': input layout 'audio' is not one of image, sequence, vector",
         plugins=("bad-spec-layout",)),
    Case("regression-monitor-val-accuracy", ["train", "simplernn", "multiply", "--monitor", "val_accuracy", "-q"], 2,
         "--monitor val_accuracy: a regression task is judged by val_loss or val_mae"),
    Case("classification-arch-on-sequences", ["train", "cnn", "multiply", "-q"], 2,
         "cnn reads image input; multiply gives sequence"),
    Case("multiply-with-data-dir", ["train", "simplernn", "multiply", "--data-dir", "{root}", "-q"], 2,
         "dataset 'multiply' is generated; --data-dir does not apply"),
    Case("predict-regression-model-on-an-image", ["predict", "{root}/seq", "{root}/shoe.png"], 1,
         "shoe.png: expected a .npy or .csv file of examples",
         setup=lambda w: (w.image(), _regression_export(w))),
    Case("predict-regression-npy-of-another-shape", ["predict", "{root}/seq", "{root}/x.npy"], 1,
         "x.npy: holds an array of shape [3, 2]; the model reads [100, 2]",
         setup=lambda w: (np.save(w.root / "x.npy", np.zeros((3, 2))), _regression_export(w))),
    Case("predict-regression-npy-with-a-pickle", ["predict", "{root}/seq", "{root}/x.npy"], 1,
         "x.npy: holds Python objects (dtype object), which only pickle can read",
         setup=lambda w: (np.save(w.root / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True),
                          _regression_export(w))),
    Case("plugin-exporter-raises", ["export", "r", "--format", "boom"], 1,
         "exporter 'boom' (zoo-hostile-exporters) failed in export: RuntimeError: disk on fire",
         plugins=("exporters",), setup=lambda w: w.run()),
    Case("plugin-exporter-returns-a-string", ["export", "r", "--format", "stringly"], 1,
         "export returned str; expected a list of dicts", plugins=("exporters",), setup=lambda w: w.run()),
    Case("plugin-exporter-does-not-verify", ["export", "r", "--format", "unverified"], 1,
         "x.bin was not verified", plugins=("exporters",), setup=lambda w: w.run()),
    Case("plugin-exporter-describes-a-missing-file", ["export", "r", "--format", "phantom"], 1,
         "described never-written.bin, which it did not write", plugins=("exporters",), setup=lambda w: w.run()),

    # --- the CLI's edge: values no library call could use ------------------------------
    Case("seed-above-2**32-1", ["train", "dense", "fashion-sample", "--seed", str(2**32)], 2, "'--seed'"),
    Case("seed-negative", ["train", "dense", "fashion-sample", "--seed", "-1"], 2, "'--seed'"),
    Case("batch-size-2**67", ["train", "dense", "fashion-sample", "--batch-size", str(2**67)], 2, "'--batch-size'"),
    Case("learning-rate-inf", ["train", "dense", "fashion-sample", "--learning-rate", "inf"], 2,
         "--learning-rate must be a finite number"),
    Case("learning-rate-nan", ["train", "dense", "fashion-sample", "--learning-rate", "nan"], 2,
         "--learning-rate must be a finite number"),
    Case("param-bn-momentum-out-of-range", ["train", "lstm-bn", "fashion-sample", "-p", "bn_momentum=5"], 2,
         "'lstm-bn' needs bn_momentum at most 1"),
    Case("param-nan", ["train", "dense", "fashion-sample", "-p", "dropout=nan"], 2, "needs dropout a finite number"),
    Case("train-output-name-too-long", ["train", "dense", "fashion-sample", "-o", "{root}/" + "n" * 300, "-q"], 1,
         "File name too long"),
    Case("export-output-name-too-long", ["export", "r", "-o", "{root}/" + "n" * 300], 1, "File name too long",
         setup=lambda w: w.run()),
    Case("predict-image-name-too-long", ["predict", "{root}/exp", "{root}/" + "n" * 300 + ".png"], 1,
         "File name too long", setup=lambda w: w.export_dir()),
    Case("predict-image-non-utf8-name", ["predict", "{root}/exp", "{root}/\udcff.png"], 1,
         "\\xff.png: not an image Pillow can read",
         setup=lambda w: (w.export_dir(), (w.root / os.fsdecode(b"\xff.png")).write_text("text"))),

    # --- runs: nothing lost, nothing tangled ----------------------------------------------
    Case("export-force-over-foreign-files", ["export", "r", "--force"], 2,
         "the export also holds thesis.tex, which zoo did not write; refusing to replace it",
         setup=lambda w: _export_with_foreign_file(w)),
    Case("train-output-inside-an-export", ["train", "dense", "fashion-sample", "-o", "{root}/runs/r/export/x", "-q"], 2,
         "inside the export", setup=lambda w: _export_with_foreign_file(w, foreign=False)),
    Case("resume-with-seed", ["train", "--resume", "r", "--seed", "3"], 2, "--seed cannot be changed",
         setup=lambda w: w.run(status="running")),
    Case("resume-with-data-dir", ["train", "--resume", "r", "--data-dir", "{root}"], 2, "--data-dir cannot be changed",
         setup=lambda w: w.run(status="running")),
    Case("resume-with-color", ["train", "--resume", "r", "--color", "gray"], 2, "--color cannot be changed",
         setup=lambda w: w.run(status="running")),
    # Augmentation is the dataset's to allow; the images dataset's options are its own.
    Case("augment-flip-on-digits", ["train", "cnn", "idx", "--data-dir", "{root}", "--augment", "flip-shift", "-q"], 2,
         "--augment flip-shift uses flip, which dataset 'idx' does not allow (it allows rotate, zoom, shear, shift"),
    Case("augment-unknown", ["train", "cnn", "fashion-sample", "--augment", "blur", "-q"], 2,
         "--augment blur: expected none, one of tutorial, flip-shift, shift, geometric"),
    Case("augment-on-sequences", ["train", "lstm-bn", "multiply", "--augment", "shift", "-q"], 2,
         "dataset 'multiply' is not images; it allows no augmentation"),
    Case("color-on-a-dataset-without-it", ["train", "cnn", "fashion-sample", "--color", "rgb", "-q"], 2,
         "--color: dataset 'fashion-sample' has no such option (its options: none)"),
    Case("image-size-zero", ["train", "cnn", "images", "--data-dir", "{root}", "--image-size", "0x5", "-q"], 2,
         "'0x5': each side must be 1..4096 pixels"),
    Case("image-size-not-hxw", ["show", "images", "--data-dir", "{root}", "--image-size", "big"], 2,
         "'big' is not HxW (e.g. 64x64)"),
    Case("color-on-an-architecture", ["show", "cnn", "--color", "gray"], 2,
         "--image-size, --color and --tokenizer are dataset options; cnn is an architecture"),
    Case("npz-of-vectors", ["show", "npz", "--data-dir", "{root}/v.npz"], 1,
         "v.npz: x_train is float64 (4, 5); expected uint8 or float images (N, H, W) or (N, H, W, C)",
         setup=lambda w: np.savez(w.root / "v.npz", x_train=np.zeros((4, 5)), y_train=np.zeros(4, int),
                                  x_test=np.zeros((2, 5)), y_test=np.zeros(2, int))),
    Case("npz-two-in-a-folder", ["show", "npz", "--data-dir", "{root}/two"], 1,
         "two: 2 .npz files; expected exactly one (or give the file)",
         setup=lambda w: ((w.root / "two").mkdir(), (w.root / "two" / "a.npz").write_bytes(b"x"),
                          (w.root / "two" / "b.npz").write_bytes(b"x"))),
    Case("npz-negative-label", ["show", "npz", "--data-dir", "{root}/n.npz"], 1,
         "n.npz: train label -1 at index 0 is negative",
         setup=lambda w: np.savez(w.root / "n.npz", x_train=np.zeros((2, 4, 4), np.uint8), y_train=np.array([-1, 0]),
                                  x_test=np.zeros((2, 4, 4), np.uint8), y_test=np.array([0, 1]))),
    Case("idx-two-channels", ["show", "idx", "--data-dir", "{root}/data"], 1,
         "header declares 2 channels per pixel; images have 1 (gray), 3 (RGB) or 4 (RGBA)",
         setup=lambda w: w.idx(arrays={"train-images-idx3-ubyte": np.zeros((20, 28, 28, 2), np.uint8)})),
    Case("resume-with-an-edited-architecture", ["train", "--resume", "r", "-q"], 1,
         "config.json: edited since the run began",
         setup=lambda w: w.edit_config(w.run(status="running"), architecture="densse")),
    Case("resume-with-an-edited-data-dir", ["train", "--resume", "r", "-q"], 1,
         "config.json: a stored setting no longer works: dataset 'fashion-sample' is shipped with zoo",
         setup=lambda w: w.edit_config(w.run(status="running"), data_dir="/elsewhere")),
    Case("evaluate-with-an-edited-dataset", ["evaluate", "r"], 1,
         "config.json: a stored setting no longer works: unknown dataset 'fashon'",
         setup=lambda w: w.edit_config(w.run(), dataset="fashon")),
    Case("resume-from-a-truncated-backup", ["train", "--resume", "r", "-q"], 1, "the backup is damaged",
         setup=_truncated_backup),
    Case("model-keras-zip-bomb", ["evaluate", "r"], 1, "model.keras: unpacks to", max_alloc=64 << 20,
         setup=_zip_bomb),

    # --- data folders: every entry is an image -------------------------------------------
    Case("images-nested-folder", ["show", "images", "--data-dir", "{root}/pets"], 1,
         "a folder inside the class folder 'cat'",
         setup=lambda w: (w.images(), (w.root / "pets" / "cat" / "more").mkdir())),
    Case("images-broken-symlink", ["show", "images", "--data-dir", "{root}/pets"], 1, "not a readable file (a broken link)",
         setup=lambda w: (w.images(), (w.root / "pets" / "dog" / "gone.png").symlink_to(w.root / "nowhere.png"))),
    Case("images-class-folder-with-newline", ["show", "images", "--data-dir", "{root}/pets"], 1,
         "holds a control character", setup=lambda w: w.images(classes=("cat", "dog\nhouse"))),

    # --- issue 27: -p values are checked against their Param --------------------------
    Case("p-depth-1000", ["train", "lstm-bn", "fashion-sample", "-p", "depth=1000", "-q"], 2,
         "-p depth=1000: 'lstm-bn' needs depth at most 16"),
    Case("p-filters-1000-values", ["train", "cnn", "fashion-sample", "-p", "filters=" + ",".join(["8"] * 1000), "-q"], 2,
         "'cnn' needs filters a comma-separated list of 1 to 8 integers"),
    Case("p-units-a-word", ["train", "simplernn", "fashion-sample", "-p", "units=lots", "-q"], 2,
         "-p units=lots: 'simplernn' expects an integer for 'units'"),
    Case("p-units-300-digits", ["train", "simplernn", "fashion-sample", "-p", "units=" + "9" * 300, "-q"], 2,
         "'simplernn' expects an integer for 'units'"),
    # --- recipe files name the file and the key ---------------------------------------------
    _recipe_case("recipe-file-epochs-a-word", '{"zoo_recipe": 1, "architecture": "dense", "settings": {"epochs": "many"}}',
                 "r.json: settings.epochs = \"many\" cannot be used (must be an integer"),
    _recipe_case("recipe-file-negative-epochs", '{"zoo_recipe": 1, "architecture": "dense", "settings": {"epochs": -3}}',
                 "r.json: settings.epochs = -3 cannot be used (must be in 1.."),
    _recipe_case("recipe-file-nan", '{"zoo_recipe": 1, "architecture": "dense", "settings": {"learning_rate": NaN}}',
                 "r.json: not a readable recipe file (NaN is not JSON)"),
    _recipe_case("recipe-file-unknown-setting", '{"zoo_recipe": 1, "architecture": "dense", "settings": {"epoch": 3}}',
                 "r.json: unknown settings.epoch"),
    _recipe_case("recipe-file-unknown-key", '{"zoo_recipe": 1, "architecture": "dense", "setings": {"epochs": 3}}',
                 "r.json: unknown key(s) 'setings'"),
    _recipe_case("recipe-file-param-of-the-wrong-type", '{"zoo_recipe": 1, "architecture": "dense", "params": {"units": "lots"}}',
                 "r.json: params.units = \"lots\": 'dense' needs a comma-separated list"),
    _recipe_case("recipe-file-nested-100000-deep", "[" * 100000 + "]" * 100000,
                 "r.json: not a readable recipe file (nested too deeply)"),
    # --- tune refuses before a study exists -------------------------------------------------
    Case("tune-a-pair-that-cannot-train", ["tune", "cnn", "multiply", "-o", "{root}/study"], 2,
         "cnn reads image input; multiply gives sequence", absent=("{root}/study",)),
    # --- damaged run files ---------------------------------------------------------------------
    Case("report-metrics-figure-a-string", ["report", "r"], 1,
         "metrics.json: 'test_accuracy' is of the wrong type",
         setup=lambda w: (lambda run: (run / "metrics.json").write_text(
             json.dumps({**json.loads((run / "metrics.json").read_text()), "test_accuracy": "high"})))(w.run())),
    Case("export-a-run-that-failed-to-finish", ["export", "r"], 1,
         "not finished (status: failed while finishing: RuntimeError: x), so it cannot be exported",
         setup=lambda w: w.edit_config(w.run(), status="failed while finishing: RuntimeError: x")),
    Case("resume-with-edited-params", ["train", "--resume", "r", "-q"], 1,
         "config.json: edited since the run began",
         setup=lambda w: w.edit_config(w.run(status="running"), params={"units": [64], "dropout": 0.0,
                                                                        "batch_norm": False})),
    Case("compare-html-into-a-missing-folder", ["compare", "r", "r2", "--html", "{root}/nodir/cmp.html"], 1,
         "nodir/cmp.html: cannot write (No such file or directory)", setup=_finished_twice),
    # --- model cards and labels are validated like any input -------------------------------
    Case("predict-card-class-names-a-string", ["predict", "{root}/exp", "{root}/shoe.png"], 1,
         "model_card.json: 'class_names' must be a list, found str",
         setup=lambda w: (w.image(), _edit_card(w, lambda c: c.update(class_names="T-shirt")))),
    Case("predict-card-input-a-list", ["predict", "{root}/exp", "{root}/shoe.png"], 1,
         "model_card.json: 'input' must be a dict, found list",
         setup=lambda w: (w.image(), _edit_card(w, lambda c: c.update(input=[1, 2])))),
    Case("predict-card-scale-a-string", ["predict", "{root}/exp", "{root}/shoe.png"], 1,
         "model_card.json: input.from_image_file is damaged",
         setup=lambda w: (w.image(), _edit_card(w, lambda c: c["input"]["from_image_file"].update(scale="big")))),
    Case("predict-card-scale-nan", ["predict", "{root}/exp", "{root}/shoe.png"], 1,
         "model_card.json: unreadable (NaN is not JSON)",
         setup=lambda w: (w.image(), (lambda d: (d / "model_card.json").write_text(
             (d / "model_card.json").read_text().replace('"pixel_scale": ', '"pixel_scale": NaN, "x": ')))(
             w.export_dir()))),
    Case("predict-card-pixel-scale-a-fraction-string", ["predict", "{root}/exp", "{root}/shoe.png"], 1,
         "model_card.json: input.pixel_scale must be a finite number, found '1/255'",
         setup=lambda w: (w.image(), _edit_card(w, lambda c: c["input"].update(pixel_scale="1/255")))),
    Case("predict-card-file-scale-a-string", ["predict", "{root}/exp/model.tflite", "{root}/shoe.png"], 1,
         "model_card.json: input.from_image_file is damaged",
         setup=lambda w: (w.image(), _edit_card(w, lambda c: c["input"]["from_image_file"].update(
             scale="0.0039")))),
    Case("predict-card-of-another-model", ["predict", "{root}/exp", "{root}/shoe.png"], 1,
         "input.shape [None, 10] does not fit model.tflite",
         setup=lambda w: (w.image(), _edit_card(w, lambda c: c["input"].update(shape=[None, 10])))),
    Case("predict-labels-not-utf8", ["predict", "{root}/exp", "{root}/shoe.png"], 1,
         "labels.txt: not UTF-8 text",
         setup=lambda w: (w.image(), (lambda d: (d / "labels.txt").write_bytes(b"\xff\xfe\n" * 10))(
             _edit_card(w, lambda c: c.pop("class_names"))))),
    # --- sizes in file headers are checked before anything that size is allocated ---------
    Case("npz-header-claims-60000x1000x1000", ["show", "npz", "--data-dir", "{root}/big.npz"], 1,
         "big.npz (array x_train.npy): its header claims 60000x1000x1000 uint8", max_alloc=64 << 20,
         setup=_npz_claiming_60000x1000x1000),
    Case("predict-npy-header-claims-10-to-the-12", ["predict", "{root}/seq", "{root}/x.npy"], 1,
         "x.npy: its header claims 1000000x1000000 float64", max_alloc=64 << 20,
         setup=lambda w: _regression_export_and(w, lambda w: _npy_claiming(w.root / "x.npy", (10**6, 10**6)))),
    Case("predict-npy-64mib-of-another-shape", ["predict", "{root}/seq", "{root}/x.npy"], 1,
         "x.npy: holds an array of shape [4194304, 2]; the model reads [100, 2]", max_alloc=16 << 20,
         setup=lambda w: _regression_export_and(w, lambda w: _npy_claiming(w.root / "x.npy", (4194304, 2),
                                                                             whole=True))),
    Case("npz-empty-test-split-names-the-file", ["show", "npz", "--data-dir", "{root}/e.npz"], 1,
         "the test split is empty (read from ",
         setup=lambda w: np.savez(w.root / "e.npz", x_train=np.full((2, 4, 4), 200, np.uint8), y_train=np.array([0, 1]),
                                  x_test=np.zeros((0, 4, 4), np.uint8), y_test=np.zeros(0, np.int64))),
    # --- the user's files, not the plugin's fault -------------------------------------------
    Case("images-class-folder-not-utf8", ["show", "images", "--data-dir", "{root}/pets"], 1,
         "is not valid UTF-8", setup=lambda w: w.images(classes=("cat", os.fsdecode(b"d\xffg")))),
]



# ---------------------------------------------------------------------------
# Running a row.

@pytest.fixture(scope="session")
def exported(good_run, tmp_path_factory):
    """A verified LiteRT export of ``good_run``."""
    from zoo import export

    return export.export(str(good_run), formats=["tflite"],
                         output=str(tmp_path_factory.mktemp("hostile-export") / "export"),
                         log=lambda *a: None).directory


@pytest.fixture(scope="session")
def regression_export(tmp_path_factory):
    """A verified LiteRT export of dense trained one epoch on the multiplication problem."""
    from zoo import export, trainer

    root = tmp_path_factory.mktemp("hostile-regression")
    run = trainer.train("dense", "multiply", overrides={"epochs": 1}, output=str(root / "run"), verbose=0).run_dir
    return export.export(str(run), formats=["tflite"], output=str(root / "export"), log=lambda *a: None).directory


def snapshot(root: Path, skip=("site",)) -> dict:
    """Every path under ``root``: kind, size, mtime and a SHA-1 of the content."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if not rel_dir.parts:
            dirnames[:] = [d for d in dirnames if d not in skip]
        for name in dirnames:
            found[str(rel_dir / name)] = ("dir",)
        for name in filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            digest = hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else "special"
            found[str(rel_dir / name)] = ("file", st.st_size, st.st_mtime_ns, digest)
    return found


@contextlib.contextmanager
def installed(site: Path, keys, monkeypatch):
    """Install plugins ``keys`` into ``site`` and load only them; restore everything after."""
    modules = [install_plugin(site, key) for key in keys]
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", ",".join(modules))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    importlib.invalidate_caches()
    plugins.load.cache_clear()
    try:
        yield
    finally:
        plugins.load.cache_clear()
        for module in modules:
            sys.modules.pop(module, None)


def invoke(case: Case, args: list, env: dict):
    """Run the command; return (exit code, stdout, stderr)."""
    if case.process:
        result = run_zoo(*args, env={**env, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=300)
        return result.returncode, result.stdout, result.stderr
    runner = CliRunner()
    if case.max_alloc:
        tracemalloc.start()
    try:
        result = runner.invoke(cli, args, env=env or None)
        peak = tracemalloc.get_traced_memory()[1] if case.max_alloc else 0
    finally:
        if case.max_alloc:
            tracemalloc.stop()
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{case.id}: raised {type(result.exception).__name__}: {result.exception}")
    if case.max_alloc:
        assert peak < case.max_alloc, f"{case.id}: allocated {peak} bytes"
    return result.exit_code, result.stdout, result.stderr


# Lines a real process may print around zoo's own: TensorFlow's C++ logging.
NATIVE_LOG = ("I0000", "W0000", "E0000", "WARNING: All log messages before absl")


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xfail(reason=c.xfail, strict=True))
                                  if c.xfail else c for c in CASES], ids=[c.id for c in CASES])
def test_hostile_input(case, good_run, exported, tmp_path, monkeypatch, request):
    world = World(tmp_path, good_run, exported, request.getfixturevalue)
    try:
        if case.setup:
            case.setup(world)
        args = [a.format(root=tmp_path) for a in case.args]
        env = {k: v.format(root=tmp_path) for k, v in case.env.items()}
        before = snapshot(tmp_path)
        with installed(tmp_path / "site", case.plugins, monkeypatch) if case.plugins else contextlib.nullcontext():
            code, stdout, stderr = invoke(case, args, env)
        after = snapshot(tmp_path)
    finally:
        if world.unmount:
            subprocess.run(["umount", str(world.unmount)], check=True)

    output = stdout + stderr
    assert "Traceback" not in output, output
    assert code == case.code, f"exit {code}, expected {case.code}:\n{output}"
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(NATIVE_LOG)]
    errors = [line for line in lines if line.startswith("Error: ")]
    if case.code == 0:
        assert case.fragment in stderr, stderr
        assert not errors, stderr
    else:
        # One line says what is wrong, and it is the last word. Before it may
        # stand click's "Usage:"/"Try" lines, a broken plugin's warning, or
        # progress made before the fault (zoo export logs its steps).
        assert len(errors) == 1, stderr
        assert case.fragment in errors[0], stderr
        assert lines[-1] == errors[0], stderr
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    assert changed <= set(case.changes), f"{case.id} changed {sorted(changed)}"
    assert not world.marker.exists(), "hostile code ran"
    for path in case.absent:
        assert not Path(path).exists(), f"{path} was written"


def test_the_catalogue_is_big_enough():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


# ---------------------------------------------------------------------------
# The hostile model files above are real attacks: loaded without safe mode,
# they run their code. (Keeps the rows honest: they would fail if zoo did.)

def test_the_lambda_payload_runs_without_safe_mode(tmp_path):
    import keras

    marker = tmp_path / MARKER
    lambda_model(marker).save(tmp_path / "m.keras")
    assert not marker.exists()
    keras.saving.load_model(tmp_path / "m.keras", safe_mode=False)
    assert marker.exists()


def test_the_npz_payload_runs_with_pickle_allowed(tmp_path):
    marker = tmp_path / MARKER
    evil = np.empty(1, dtype=object)
    evil[0] = Payload(marker)
    np.savez(tmp_path / "m.npz", x=evil)
    with np.load(tmp_path / "m.npz", allow_pickle=True) as f:
        f["x"]
    assert marker.exists()


def test_safe_mode_is_still_on_after_the_catalogue():
    """No hostile model may have switched Keras' safe mode off for the rest of the process."""
    from keras.src.backend.common import global_state

    assert global_state.get_global_attribute("safe_mode_saving") in (None, True)
