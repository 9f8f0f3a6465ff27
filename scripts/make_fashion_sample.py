"""Make the embedded Fashion-MNIST sample in plugins/data/fashion-sample/.

The sample is 750 images per class from the official training set and 150 per
class from the official test set (7,500 + 1,500 images, about 3.9 MB gzipped),
the largest round numbers that keep the four files under 4 MB.

How the images are chosen, exactly:

- ``rng = numpy.random.default_rng(0)``.
- From ``train-*-idx*-ubyte.gz``: for each class 0, 1, ..., 9 in that order,
  ``rng.choice(indices of that class, 750, replace=False)``; the 7,500 chosen
  indices are then sorted, so the sample keeps the official order (classes
  interleaved).
- Then, with the same ``rng``, the same from ``t10k-*-idx*-ubyte.gz`` with 150
  per class.

The files are written in the official IDX layout with ``gzip`` level 9 and
``mtime=0`` and no file name in the gzip header, so a rerun writes the same
bytes (given the same zlib). Usage::

    python scripts/make_fashion_sample.py [--source /usr/share/datasets/fashion-mnist]
                                          [--out plugins/data/fashion-sample]

The source defaults to Debian's copy (``apt-get install dataset-fashion-mnist``);
its decoded MD5s are checked before anything is written.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
from pathlib import Path

import numpy as np

from zoo.idx import IDX_NAMES, read_idx_folder

SEED = 0
PER_CLASS = {"train": 750, "test": 150}
# MD5 of each decoded official file (header included).
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
}


def choose(rng: np.random.Generator, labels: np.ndarray, per_class: int) -> np.ndarray:
    """``per_class`` indices of each class, drawn class by class, then sorted."""
    picked = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]
    return np.sort(np.concatenate(picked))


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file: magic 00 00 08 <ndim>, big-endian uint32 sizes, uint8 data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1]
                                            / "plugins" / "data" / "fashion-sample"))
    args = parser.parse_args()

    x_train, y_train, x_test, y_test, source = read_idx_folder(args.source, num_classes=10)
    if source["md5"] != OFFICIAL_MD5:
        raise SystemExit(f"{args.source}: not the official Fashion-MNIST files: {source['md5']}")

    rng = np.random.default_rng(SEED)
    train = choose(rng, y_train, PER_CLASS["train"])
    test = choose(rng, y_test, PER_CLASS["test"])
    arrays = {"x_train": x_train[train], "y_train": y_train[train],
              "x_test": x_test[test], "y_test": y_test[test]}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for key, name in IDX_NAMES.items():
        data = idx_bytes(arrays[key])
        packed = gzip.compress(data, compresslevel=9, mtime=0)
        (out / f"{name}.gz").write_bytes(packed)
        total += len(packed)
        print(f"{name}.gz  {arrays[key].shape}  {len(packed)} bytes  "
              f"md5(decoded) {hashlib.md5(data).hexdigest()}")
    print(f"total {total} bytes in {out}")


if __name__ == "__main__":
    main()
