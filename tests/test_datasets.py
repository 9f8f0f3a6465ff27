"""The built-in datasets: every loader on real files, and each way one can fail.

The downloads run Keras' real ``get_file`` against a local ``http.server``
that serves small files the tests write (``ZOO_DATASETS_URL``).
"""
import dataclasses
import functools
import http.server
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo.plugins
import zoo_plugins.datasets as datasets
from zoo.errors import DataError, UsageError
from zoo.images import load_image

REPO = Path(__file__).resolve().parents[1]
MNIST_10K = REPO.parent / "shared" / "data" / "mnist-10k"
DEBIAN = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
RNG = np.random.default_rng(0)
SMALL = {
    "x_train": RNG.integers(0, 256, (20, 28, 28), dtype=np.uint8),
    "y_train": np.arange(20, dtype=np.uint8) % 10,
    "x_test": RNG.integers(0, 256, (10, 28, 28), dtype=np.uint8),
    "y_test": np.arange(10, dtype=np.uint8)[::-1].copy(),
}


def dataset(name):
    return zoo.plugins.get("dataset", name)


@pytest.fixture
def small_idx(tmp_path, write_idx):
    """A folder with the four IDX files of SMALL, gzipped."""
    def write(folder=tmp_path / "small", arrays=SMALL):
        folder.mkdir(parents=True, exist_ok=True)
        for name, key in zip(IDX_FILES, SMALL):
            write_idx(folder / f"{name}.gz", arrays[key])
        return folder
    return write


def assert_small(ds):
    for key, array in SMALL.items():
        np.testing.assert_array_equal(getattr(ds, key), array)


# --- registration ------------------------------------------------------------------

def test_registered_names_and_aliases():
    names = {e.name for e in zoo.plugins.registry().entries("dataset")}
    assert {"fashion", "mnist", "fashion-noisy", "mnist-noisy", "fashion-sample", "idx",
            "images"} <= names
    assert dataset("fashion_mnist").name == dataset("Fashion-MNIST").name == "fashion"
    assert dataset("fashion").class_names == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    assert dataset("mnist").class_names == tuple("0123456789")
    assert dataset("idx").needs_data_dir and dataset("images").needs_data_dir
    for entry in zoo.plugins.registry().entries("dataset"):
        assert entry.sources and entry.locate is not None


def test_listing_does_not_import_tensorflow():
    import subprocess
    import sys
    code = ("import sys, zoo.plugins as p\n"
            "for e in p.registry().entries('dataset'): e.locate()\n"
            "p.get('dataset', 'fashion-sample').load()\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --- the embedded sample -----------------------------------------------------------

def test_fashion_sample():
    entry = dataset("fashion-sample")
    assert entry.locate() == str(datasets.SAMPLE_DIR)
    ds = entry.load()
    assert ds.x_train.shape == (7500, 28, 28) and ds.x_test.shape == (1500, 28, 28)
    assert ds.x_train.dtype == np.uint8 and ds.pixel_scale == 1 / 255
    assert np.bincount(ds.y_train).tolist() == [750] * 10
    assert np.bincount(ds.y_test).tolist() == [150] * 10
    assert ds.class_names == dataset("fashion").class_names
    # Classes are interleaved, so a validation split sees all of them.
    assert len(set(ds.y_train[-750:].tolist())) == 10
    assert sum(f.stat().st_size for f in datasets.SAMPLE_DIR.iterdir()) <= 4_000_000
    assert set(ds.source["md5"]) == {f"{n}.gz" for n in IDX_FILES}
    with pytest.raises(UsageError, match="shipped with zoo"):
        entry.load(data_dir="/tmp")


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="needs apt-get install dataset-fashion-mnist")
def test_fashion_sample_is_real_fashion_mnist():
    sample, full = dataset("fashion-sample").load(), dataset("fashion").load()
    # Every sample image is an official training image with the same label.
    index = {img.tobytes(): label for img, label in zip(full.x_train, full.y_train)}
    assert all(index[img.tobytes()] == label for img, label in zip(sample.x_train, sample.y_train))


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="needs apt-get install dataset-fashion-mnist")
def test_fashion_sample_script_is_deterministic(tmp_path):
    import subprocess
    import sys
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_fashion_sample.py"),
                    "--out", str(tmp_path)], check=True, capture_output=True, timeout=300)
    for path in datasets.SAMPLE_DIR.iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


# --- fashion and mnist: where they load from ----------------------------------------

@pytest.mark.skipif(not DEBIAN.is_dir(), reason="needs apt-get install dataset-fashion-mnist")
def test_fashion_from_debian(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    entry = dataset("fashion")
    assert entry.locate() == str(DEBIAN)
    ds = entry.load()
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert ds.source == {"path": str(DEBIAN), "md5": {
        "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
    }}


@pytest.mark.parametrize("name", ["fashion", "mnist"])
def test_data_dir_comes_first(small_idx, tmp_path, monkeypatch, name):
    folder = small_idx()
    entry = dataset(name)
    assert entry.locate(folder) == str(folder)
    ds = entry.load(data_dir=folder)
    assert_small(ds)
    assert ds.source["path"] == str(folder) and ds.name == name
    # $ZOO_DATA_DIR, pointing at the files or at a folder with a sub-folder per dataset.
    monkeypatch.setenv("ZOO_DATA_DIR", str(folder))
    assert_small(entry.load())
    root = tmp_path / "root"
    small_idx(root / datasets.FASHION.folder if name == "fashion" else root / "mnist")
    monkeypatch.setenv("ZOO_DATA_DIR", str(root))
    assert entry.locate() == str(root / ("fashion-mnist" if name == "fashion" else "mnist"))
    assert_small(entry.load())


def test_a_named_folder_without_the_data_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert dataset("fashion").locate(empty) is None
    with pytest.raises(DataError, match=rf"{empty}: missing train-images-idx3-ubyte\[\.gz\]"):
        dataset("fashion").load(data_dir=empty)
    monkeypatch.setenv("ZOO_DATA_DIR", str(empty))
    with pytest.raises(DataError, match="missing train-images"):
        dataset("fashion").load()


def test_a_data_dir_that_is_a_file(tmp_path):
    path = tmp_path / "fashion.tar"
    path.write_bytes(b"not a folder")
    for name in ("fashion", "mnist", "idx"):
        with pytest.raises(DataError, match=rf"{path}: not a directory"):
            dataset(name).load(data_dir=path)


def test_labels_out_of_range_for_ten_classes(small_idx):
    y = SMALL["y_train"].copy()
    y[7] = 10
    folder = small_idx(arrays={**SMALL, "y_train": y})
    with pytest.raises(DataError, match="train label 10 at index 7 is out of range for 10 classes"):
        dataset("mnist").load(data_dir=folder)


def write_npz(path, **override):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{**SMALL, **override})
    return path


def test_mnist_from_the_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert dataset("mnist").locate() is None
    npz = write_npz(tmp_path / "keras" / "datasets" / "mnist.npz")
    assert dataset("mnist").locate() == str(npz)
    ds = dataset("mnist").load()
    assert_small(ds)
    assert ds.source["path"] == str(npz)
    assert set(ds.source["md5"]) == {f"mnist.npz/{k}" for k in SMALL}


@pytest.mark.parametrize("override, message", [
    ({"y_test": np.array([1, 10], dtype=np.uint8), "x_test": SMALL["x_test"][:2]},
     "test label 10 at index 1 is out of range"),
    ({"x_train": SMALL["x_train"].astype(np.float64)}, r"x_train is float64 .* expected uint8"),
    ({"y_train": SMALL["y_train"][:5]}, "train has 20 images but 5 labels"),
    ({"x_test": SMALL["x_test"][:, :20]}, r"train images are \(28, 28\) but test images are \(20, 28\)"),
])
def test_a_bad_mnist_npz_in_the_cache(tmp_path, monkeypatch, override, message):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    npz = write_npz(tmp_path / "datasets" / "mnist.npz", **override)
    with pytest.raises(DataError, match=message):
        dataset("mnist").load()
    assert npz.exists()  # the user's cache is reported, not deleted


def test_an_mnist_npz_that_is_not_an_npz(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    npz = tmp_path / "datasets" / "mnist.npz"
    npz.parent.mkdir()
    npz.write_bytes(b"<html>404</html>")
    with pytest.raises(DataError, match=rf"{npz}: not a readable \.npz file"):
        dataset("mnist").load()
    np.savez(npz, x_train=SMALL["x_train"])
    with pytest.raises(DataError, match="missing arrays y_train, x_test, y_test"):
        dataset("mnist").load()


def without_debian():
    """Fashion-MNIST's loader as it runs on a machine without the Debian package."""
    return dataclasses.replace(datasets.FASHION, system_dir=None)


def test_fashion_from_the_keras_cache(small_idx, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    cache = small_idx(tmp_path / "keras" / "datasets" / "fashion-mnist")
    assert datasets._locate(without_debian()) == str(cache)
    ds = datasets._load_remote(without_debian())
    assert_small(ds)
    assert ds.source["path"] == str(cache) and ds.name == "fashion"


# --- downloads through Keras ---------------------------------------------------------

@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local HTTP server for the files in tmp_path/served; ZOO_DATASETS_URL points at it."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("ZOO_DATASETS_URL", f"http://127.0.0.1:{httpd.server_address[1]}/")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    yield served
    httpd.shutdown()
    httpd.server_close()


def test_mnist_download_into_the_keras_cache(server, tmp_path, monkeypatch):
    write_npz(server / "mnist.npz")
    ds = dataset("mnist").load()
    assert_small(ds)
    cached = tmp_path / "keras" / "datasets" / "mnist.npz"
    assert cached.read_bytes() == (server / "mnist.npz").read_bytes()
    # The next load reads the cache: nothing to serve any more.
    (server / "mnist.npz").unlink()
    assert dataset("mnist").locate() == str(cached)
    assert_small(dataset("mnist").load())


def test_fashion_download_into_the_keras_cache(server, small_idx, tmp_path):
    small_idx(server)
    ds = datasets._load_remote(without_debian())
    assert_small(ds)
    cache = tmp_path / "keras" / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{n}.gz" for n in IDX_FILES)


def test_an_invalid_download_is_removed_from_the_cache(server, tmp_path):
    write_npz(server / "mnist.npz", y_train=SMALL["y_train"] + 1)  # label 10
    with pytest.raises(DataError, match=r"label 10 .* removed from the cache"):
        dataset("mnist").load()
    assert not (tmp_path / "keras" / "datasets" / "mnist.npz").exists()


def test_a_partial_fashion_download_leaves_nothing(server, small_idx, tmp_path):
    small_idx(server)
    (server / "t10k-images-idx3-ubyte.gz").unlink()  # 404
    with pytest.raises(DataError, match="404"):
        datasets._load_remote(without_debian())
    assert list((tmp_path / "keras" / "datasets" / "fashion-mnist").iterdir()) == []


def test_offline_with_nothing_found(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    # A port nobody listens on: the download fails as it does offline.
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ZOO_DATASETS_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(DataError) as err:
        dataset("mnist-noisy").load()
    message = str(err.value)
    assert "\n" not in message
    for expected in ("MNIST not found", "$ZOO_DATA_DIR", str(tmp_path / "keras" / "datasets"),
                     f"127.0.0.1:{port}/", "--data-dir DIR", "going online"):
        assert expected in message
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        datasets._load_remote(without_debian())
    assert not list((tmp_path / "keras" / "datasets").rglob("*.*"))


# --- the noisy variants --------------------------------------------------------------

@pytest.mark.parametrize("name", ["mnist-noisy", "fashion-noisy"])
def test_noisy_is_deterministic_per_seed(name, small_idx):
    folder = datasets.SAMPLE_DIR if name == "fashion-noisy" else small_idx()
    clean = dataset(name.replace("-noisy", "")).load(data_dir=folder)
    a = dataset(name).load(data_dir=folder, seed=3)
    b = dataset(name).load(data_dir=folder, seed=3)
    c = dataset(name).load(data_dir=folder, seed=4)
    for ds in (a, c):
        assert ds.x_train.dtype == np.float32 and ds.x_train.shape == clean.x_train.shape
        assert ds.pixel_scale == 1.0 and 0.0 <= ds.x_train.min() and ds.x_test.max() <= 1.0
        np.testing.assert_array_equal(ds.y_train, clean.y_train)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_train, c.x_train)
    assert a.source["noise"]["seed"] == 3 and a.source["path"] == str(folder)
    # The noise is N(0.5, 0.1) where the clip at 1.0 does not bite (dark pixels).
    dark = clean.x_train == 0
    noise = a.x_train[dark]
    assert abs(noise.mean() - 0.5) < 0.01 and abs(noise.std() - 0.1) < 0.01
    assert (a.x_train[clean.x_train >= 230] == 1.0).mean() > 0.99


# --- the user's IDX folders -------------------------------------------------------------

def test_idx_needs_a_data_dir():
    with pytest.raises(UsageError, match="dataset 'idx' needs --data-dir DIR"):
        dataset("idx").load()
    assert dataset("idx").locate() is None


@pytest.mark.skipif(not MNIST_10K.is_dir(), reason="needs ../shared/data/mnist-10k")
def test_idx_on_the_real_mnist_10k_subset():
    entry = dataset("idx")
    assert entry.locate(MNIST_10K) == str(MNIST_10K)
    ds = entry.load(data_dir=MNIST_10K)
    assert ds.x_train.shape == (8000, 28, 28) and ds.x_test.shape == (2000, 28, 28)
    assert ds.class_names == tuple("0123456789")
    assert np.bincount(ds.y_train).tolist() == [784, 882, 805, 828, 789, 679, 811, 882, 755, 785]
    assert np.bincount(ds.y_test).tolist() == [217, 245, 186, 204, 191, 184, 203, 188, 189, 193]


def test_idx_classes_from_labels_or_classes_txt(small_idx, write_idx):
    folder = small_idx()
    small = {**SMALL, "y_train": SMALL["y_train"] % 3, "y_test": SMALL["y_test"] % 3}
    small_idx(folder, small)
    assert dataset("idx").load(data_dir=folder).class_names == ("0", "1", "2")
    (folder / "classes.txt").write_text("cat\ndog\n\nbird\nfish\n")
    ds = dataset("idx").load(data_dir=folder)
    assert ds.class_names == ("cat", "dog", "bird", "fish")
    (folder / "classes.txt").write_text("cat\ndog\n")
    with pytest.raises(DataError, match="label 2 at index 2 is out of range for 2 classes"):
        dataset("idx").load(data_dir=folder)


def test_idx_other_image_sizes_are_loaded(tmp_path, write_idx):
    folder = tmp_path / "big"
    folder.mkdir()
    for name, array in zip(IDX_FILES, (np.zeros((4, 32, 32), np.uint8), np.array([0, 1, 0, 1], np.uint8),
                                       np.zeros((2, 32, 32), np.uint8), np.array([1, 0], np.uint8))):
        write_idx(folder / name, array)
    assert dataset("idx").load(data_dir=folder).input_shape == (32, 32)


# --- image folders -----------------------------------------------------------------------

def make_images(root, classes=("cat", "dog", "bird"), per_class=5):
    """PNG and JPEG files of different sizes and modes, one sub-folder per class."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (40 + i, 30 + c, 3), dtype=np.uint8)
            suffix = ".png" if i % 2 else ".jpg"
            Image.fromarray(pixels, "RGB").save(root / name / f"{i:02d}{suffix}")
    return root


def test_images_folder(tmp_path):
    root = make_images(tmp_path / "pets")
    entry = dataset("images")
    assert entry.locate(root) == str(root)
    # By default: colour kept (the files are RGB), at the most common size (all
    # differ here: the largest wins the tie).
    default = entry.load(data_dir=root, seed=1)
    assert default.x_train.shape == (12, 44, 32, 3) and default.input_spec.channels == "rgb"
    assert (default.source["color"], default.source["image_size"]) == ("rgb", [44, 32])
    ds = entry.load(data_dir=root, seed=1, image_size=(28, 28), color="gray")
    assert ds.class_names == ("bird", "cat", "dog")
    assert ds.x_train.shape == (12, 28, 28) and ds.x_test.shape == (3, 28, 28)
    assert ds.x_train.dtype == np.uint8
    assert np.bincount(ds.y_test).tolist() == [1, 1, 1]  # 20% of every class
    # The same image as load_image gives, so training and `zoo predict` agree.
    originals = {load_image(p).tobytes() for p in root.rglob("*.*")}
    assert all(x.tobytes() in originals for x in np.concatenate([ds.x_train, ds.x_test]))
    again = entry.load(data_dir=root, seed=1, image_size=(28, 28), color="gray")
    np.testing.assert_array_equal(ds.x_test, again.x_test)
    other = [entry.load(data_dir=root, seed=s, image_size=(28, 28), color="gray").x_test.tobytes()
             for s in range(2, 6)]
    assert any(o != ds.x_test.tobytes() for o in other)
    assert ds.source["split"] == {"test_fraction": 0.2, "stratified": True, "seed": 1}


def test_images_needs_a_data_dir(tmp_path):
    with pytest.raises(UsageError, match="dataset 'images' needs --data-dir DIR"):
        dataset("images").load()


@pytest.mark.parametrize("damage, message", [
    ("zero-byte", r"cat/03\.png: empty file"),
    ("not an image", r"cat/03\.png: not an image"),
    ("truncated", r"cat/03\.png: damaged image"),
])
def test_images_with_a_bad_file(tmp_path, damage, message):
    root = make_images(tmp_path / "pets")
    bad = root / "cat" / "03.png"
    if damage == "zero-byte":
        bad.write_bytes(b"")
    elif damage == "not an image":
        bad.write_text("these are my notes")
    else:
        bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(DataError, match=message):
        dataset("images").load(data_dir=root)


def test_images_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no class sub-folders"):
        dataset("images").load(data_dir=empty)
    one = make_images(tmp_path / "one", classes=("cat",))
    with pytest.raises(DataError, match="only one class folder \\('cat'\\)"):
        dataset("images").load(data_dir=one)
    few = make_images(tmp_path / "few", per_class=1)
    with pytest.raises(DataError, match="1 image\\(s\\); each class needs at least 2"):
        dataset("images").load(data_dir=few)
    file = tmp_path / "pets.zip"
    file.write_bytes(b"PK")
    with pytest.raises(DataError, match=rf"{file}: not a directory"):
        dataset("images").load(data_dir=file)


def png_header_only(path, width, height):
    """A PNG that declares width x height but holds almost no data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("size, message", [
    ((8000, 8000), "image declares 8000 x 8000 pixels, more than the 50000000 allowed"),
    ((100000, 100000), "image too large"),
])
def test_load_image_refuses_huge_declared_sizes(tmp_path, size, message):
    path = png_header_only(tmp_path / "huge.png", *size)
    start = time.perf_counter()
    with pytest.raises(DataError, match=rf"huge\.png: {message}"):
        load_image(path)
    assert time.perf_counter() - start < 1


def test_load_image_converts_to_grayscale_and_size(tmp_path):
    Image.new("RGBA", (64, 48), (255, 255, 255, 255)).save(tmp_path / "white.png")
    x = load_image(tmp_path / "white.png", size=(10, 12))
    assert x.shape == (10, 12) and x.dtype == np.uint8 and (x == 255).all()
    with pytest.raises(DataError, match="no such file"):
        load_image(tmp_path / "missing.png")
