"""The IDX reader: round trips, every kind of damaged file, and the real files."""
import gzip
import hashlib
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from zoo.errors import DataError
from zoo.idx import read_idx, read_idx_folder

FASHION = Path("/usr/share/datasets/fashion-mnist")
RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8)
LABELS = np.array([3, 0, 9, 1, 3], dtype=np.uint8)


def header(magic: bytes, *dims: int) -> bytes:
    return magic + b"".join(d.to_bytes(4, "big") for d in dims)


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_round_trip_raw_and_gzip(tmp_path, write_idx, name):
    path = write_idx(tmp_path / name, IMAGES)
    x, md5 = read_idx(path, "images")
    assert x.dtype == np.uint8 and x.shape == (5, 28, 28)
    np.testing.assert_array_equal(x, IMAGES)
    decoded = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    assert md5 == hashlib.md5(decoded).hexdigest()
    y, _ = read_idx(write_idx(tmp_path / "y.gz", LABELS), "labels")
    np.testing.assert_array_equal(y, LABELS)


def test_other_image_sizes_are_read_as_they_are(tmp_path, write_idx):
    images = RNG.integers(0, 256, (4, 32, 20), dtype=np.uint8)
    x, _ = read_idx(write_idx(tmp_path / "x.gz", images), "images")
    assert x.shape == (4, 32, 20)
    np.testing.assert_array_equal(x, images)


def test_images_are_not_copied(tmp_path, write_idx):
    x, _ = read_idx(write_idx(tmp_path / "x.gz", IMAGES), "images")
    assert not x.flags.owndata  # a view on the decoded bytes, no float or uint8 copy


def _make(path: Path, kind: str) -> Path:
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "raw named .gz":
        path.write_bytes(header(b"\0\0\x08\x03", 5, 28, 28) + IMAGES.tobytes())
    return path


@pytest.mark.parametrize("kind, message", [
    ("missing", "no such file"),
    ("directory", "not a file"),
    ("empty", r"empty file \(0 bytes\)"),
    ("raw named .gz", "named .gz but is not gzip-compressed"),
])
def test_missing_empty_and_fake_gzip(tmp_path, kind, message):
    path = _make(tmp_path / "train-images-idx3-ubyte.gz", kind)
    with pytest.raises(DataError, match=message) as err:
        read_idx(path, "images")
    assert str(err.value).startswith(str(path) + ": ")
    assert "\n" not in str(err.value)


def test_truncated_gzip_stream(tmp_path, write_idx):
    path = write_idx(tmp_path / "x.gz", IMAGES)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"x\.gz: truncated gzip stream"):
        read_idx(path, "images")


def test_gzip_with_a_bad_checksum(tmp_path, write_idx):
    path = write_idx(tmp_path / "x.gz", IMAGES)
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"x\.gz: corrupt gzip data"):
        read_idx(path, "images")


@pytest.mark.parametrize("magic, expect, message", [
    (b"\0\0\x08\x01", "images", r"1 dimensions .* images have 3 or 4 \(magic 0x00000803"),
    (b"\0\0\x08\x03", "labels", r"3 dimensions .* labels have 1 \(magic 0x00000801\)"),
    (b"\0\0\x0d\x03", "images", r"data type 0x0d \(float32\) is not supported"),
    (b"\0\0\x0b\x03", "images", r"data type 0x0b \(int16\)"),
    (b"PK\x03\x04", "images", r"not an IDX file \(magic 0x504b0304"),
])
def test_wrong_magic_or_data_type(tmp_path, write_idx, magic, expect, message):
    path = write_idx(tmp_path / "f.gz", IMAGES, header=header(magic, 5, 28, 28))
    with pytest.raises(DataError, match=message):
        read_idx(path, expect)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_and_trailing_data(tmp_path, write_idx, suffix):
    short = write_idx(tmp_path / f"short{suffix}", IMAGES[:4], header=header(b"\0\0\x08\x03", 5, 28, 28))
    with pytest.raises(DataError, match=rf"short{suffix}: truncated: header declares "
                                        r"5 x 28 x 28 = 3920 bytes, found 3136"):
        read_idx(short, "images")
    long = write_idx(tmp_path / f"long{suffix}", LABELS, header=header(b"\0\0\x08\x01", 4))
    with pytest.raises(DataError, match=rf"long{suffix}: trailing data: header declares 4 bytes"):
        read_idx(long, "labels")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_header(tmp_path, suffix):
    path = tmp_path / f"x{suffix}"
    data = b"\0\0\x08\x03\0\0"
    path.write_bytes(gzip.compress(data) if suffix else data)
    with pytest.raises(DataError, match="truncated inside the header"):
        read_idx(path, "images")


def _refused_fast(path, message):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(DataError, match=message):
            read_idx(path, "images")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2
    assert peak < 20 * 2**20, f"allocated {peak} bytes"


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_huge_declared_size_is_refused_before_allocating(tmp_path, write_idx, suffix):
    # 100000 x 100000 = 10 GB declared; 3 images' worth present.
    path = write_idx(tmp_path / f"bomb{suffix}", IMAGES[:3],
                     header=header(b"\0\0\x08\x03", 1, 100000, 100000))
    _refused_fast(path, r"header declares 1 x 100000 x 100000 = 10000000000 bytes")


def test_large_declared_size_is_streamed_with_a_cap(tmp_path, write_idx):
    # 1 GB declared, under the absolute limit and plausible for the gzip's
    # size, so it is decompressed chunk by chunk until the data runs out.
    noise = np.random.default_rng(1).integers(0, 256, 1_000_000, dtype=np.uint8)
    path = write_idx(tmp_path / "big.gz", noise, header=header(b"\0\0\x08\x03", 1000, 1000, 1000))
    _refused_fast(path, r"truncated: header declares 1000 x 1000 x 1000 = 1000000000 bytes, "
                        r"found 1000000")


def _folder(tmp_path, write_idx, x_train=IMAGES, y_train=LABELS, x_test=IMAGES[:2],
            y_test=LABELS[:2]):
    for name, array in (("train-images-idx3-ubyte.gz", x_train), ("train-labels-idx1-ubyte.gz", y_train),
                        ("t10k-images-idx3-ubyte", x_test), ("t10k-labels-idx1-ubyte", y_test)):
        write_idx(tmp_path / name, array)
    return tmp_path


def test_read_folder(tmp_path, write_idx):
    x_train, y_train, x_test, y_test, source = read_idx_folder(_folder(tmp_path, write_idx), 10)
    np.testing.assert_array_equal(x_train, IMAGES)
    np.testing.assert_array_equal(y_test, LABELS[:2])
    assert source["path"] == str(tmp_path)
    assert sorted(source["md5"]) == sorted(["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
    assert source["md5"]["t10k-labels-idx1-ubyte"] == hashlib.md5(
        (tmp_path / "t10k-labels-idx1-ubyte").read_bytes()).hexdigest()


def test_folder_fewer_labels_than_images(tmp_path, write_idx):
    with pytest.raises(DataError, match="train has 5 images but 4 labels"):
        read_idx_folder(_folder(tmp_path, write_idx, y_train=LABELS[:4]))


def test_folder_label_out_of_range(tmp_path, write_idx):
    folder = _folder(tmp_path, write_idx, y_test=np.array([2, 10], dtype=np.uint8))
    read_idx_folder(folder)  # no class count given: any label is accepted
    with pytest.raises(DataError, match=r"test label 10 at index 1 is out of range for 10 classes \(0-9\)"):
        read_idx_folder(folder, num_classes=10)


def test_folder_train_and_test_sizes_differ(tmp_path, write_idx):
    other = RNG.integers(0, 256, (2, 32, 32), dtype=np.uint8)
    with pytest.raises(DataError, match="train images are 28 x 28 but test images are 32 x 32"):
        read_idx_folder(_folder(tmp_path, write_idx, x_test=other))


def test_folder_is_a_file_missing_or_incomplete(tmp_path, write_idx):
    not_dir = tmp_path / "data.gz"
    not_dir.write_bytes(b"x")
    with pytest.raises(DataError, match=r"data\.gz: not a directory"):
        read_idx_folder(not_dir)
    with pytest.raises(DataError, match=r"nowhere: no such directory"):
        read_idx_folder(tmp_path / "nowhere")
    (tmp_path / "d").mkdir()
    folder = _folder(tmp_path / "d", write_idx)
    (folder / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match=r"missing t10k-images-idx3-ubyte\[\.gz\]"):
        read_idx_folder(folder)


@pytest.mark.skipif(not FASHION.is_dir(), reason="needs apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist_files():
    x_train, y_train, x_test, y_test, source = read_idx_folder(FASHION, num_classes=10)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.shape == (60000,)
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert source["md5"] == {
        "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
    }
