"""Photos with boxes: ``voc`` and ``coco`` folders of your own, and ``raccoon-sample`` (shipped, offline).

A folder's split, as the ``images`` dataset's: ``train/`` and ``test/``
sub-folders when it has them (each a VOC folder, or each with its own
``labels.json``), else PASCAL VOC's ``ImageSets/Main/{train,test}.txt``
lists (``val.txt`` standing for ``test.txt``), else a fifth held out, chosen
by ``--seed``. A ``labels.txt`` (one class name per line) beside the
annotations fixes the classes and their order; without one, the names the
boxes use, sorted. Photos are stretched to ``--image-size`` (320 x 320 by
default), as MediaPipe's ObjectDetector stretches a camera frame.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

import zoo
from zoo.api.registry import Param
from zoo.data import spec
from zoo.data.dataset import Dataset
from zoo.errors import DataError, UsageError

SIZE = (320, 320)
TEST_FRACTION = 0.2
SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "raccoon-sample"
PHOTOS = spec.image(None, "uint8", "rgb")
VOC_WHAT = ("a PASCAL VOC folder: *.xml annotations with their photos beside them or in images/ or "
            "JPEGImages/; train/ and test/ sub-folders or ImageSets/Main/{train,test}.txt keep a split")
COCO_WHAT = "a folder with labels.json (COCO: images, annotations, categories) and its photos, or train/ and test/ each with one"
OPTIONS = {"image_size": Param(SIZE, "HxW every photo is stretched to (both multiples of 64 for "
                                     "efficientnet-lite0-ssd)", low=32, high=2048)}


def _label_list(folder: Path) -> tuple | None:
    path = folder / "labels.txt"
    if not path.is_file():
        return None
    try:
        names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None
    if not names or len(set(names)) != len(names):
        raise DataError(f"{path}: needs one class name per line, each once")
    return names


def _listed(folder: Path, split: str) -> set | None:
    """The file stems PASCAL VOC's ImageSets/Main/<split>.txt lists, or None."""
    path = folder / "ImageSets" / "Main" / f"{split}.txt"
    return {line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()} \
        if path.is_file() else None


def _held_out(annotated: list, seed: int) -> tuple:
    order = np.random.default_rng(seed).permutation(len(annotated))
    n_test = max(1, round(len(annotated) * TEST_FRACTION))
    return [annotated[i] for i in sorted(order[n_test:])], [annotated[i] for i in sorted(order[:n_test])]


def _split(root: Path, read, seed: int) -> tuple:
    """(train, test, how it was split) of a folder, read by ``read(folder) -> [Annotated]``."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        return read(root / "train"), read(root / "test"), {"given": "the folder's train/ and test/"}
    everything = read(root)
    train_list, test_list = _listed(root, "train"), _listed(root, "test") or _listed(root, "val")
    if train_list is not None and test_list is not None:
        return ([a for a in everything if a.source.stem in train_list],
                [a for a in everything if a.source.stem in test_list], {"given": "ImageSets/Main"})
    if len(everything) < 2:
        raise DataError(f"{root}: {len(everything)} annotated photo(s); at least 2 are needed (train and test)")
    train, test = _held_out(everything, seed)
    return train, test, {"test_fraction": TEST_FRACTION, "seed": seed}


def _dataset(name: str, root: Path, train: list, test: list, class_names: tuple, how: dict, size) -> Dataset:
    from zoo.data import boxes as box_files
    from zoo.data.anchors import AnchorGrid
    from zoo.data.tasks.detection import Detection  # imported when photos are loaded: zoo list stays quick

    for part, found in (("train", train), ("test", test)):
        if not found:
            raise DataError(f"{root}: the {part} split has no annotated photos")
    if not class_names:
        raise DataError(f"{root}: no box names a class; a detector needs at least one")
    size = tuple(int(v) for v in size)
    x_train, y_train = box_files.to_arrays(train, class_names, size)
    x_test, y_test = box_files.to_arrays(test, class_names, size)
    digest = hashlib.md5(x_train.tobytes() + x_test.tobytes())
    for y in (y_train, y_test):
        for boxes in y:
            digest.update(boxes.tobytes())
    source = {"path": str(root), "md5": {"photos_and_boxes": digest.hexdigest()}, "split": how,
              "files": len(train) + len(test), "boxes": int(sum(len(b) for b in y_train) + sum(len(b) for b in y_test)),
              "background_photos": int(sum(len(b) == 0 for b in y_train) + sum(len(b) == 0 for b in y_test)),
              "image_size": list(size), "conversion": f"Pillow RGB, stretched to {size[0]} x {size[1]} (bilinear)"}
    task = Detection(class_names, AnchorGrid(image_size=size))
    return Dataset(name, class_names, x_train, y_train, x_test, y_test, source=source, task=task,
                   spec=spec.image(None, "uint8", "rgb"))


def _load_voc_folder(name: str, root: Path, seed: int, image_size) -> Dataset:
    from zoo.data import boxes as box_files

    if not root.is_dir():
        raise DataError(f"{root}: {'not a directory' if root.exists() else 'no such directory'} (expected {VOC_WHAT})")
    names = _label_list(root)
    train, test, how = _split(root, lambda folder: box_files.read_voc_folder(folder, names), seed)
    if not train and not test:
        raise DataError(f"{root}: no *.xml annotations (expected {VOC_WHAT})")
    return _dataset(name, root, train, test, names or box_files.class_names_of(train + test), how, image_size)


def _load_voc(data_dir=None, seed=0, image_size=SIZE) -> Dataset:
    if not data_dir:
        raise UsageError(f"dataset 'voc' needs --data-dir DIR: {VOC_WHAT}")
    return _load_voc_folder("voc", Path(data_dir), seed, image_size)


def _load_coco(data_dir=None, seed=0, image_size=SIZE) -> Dataset:
    if not data_dir:
        raise UsageError(f"dataset 'coco' needs --data-dir DIR: {COCO_WHAT}")
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"{root}: {'not a directory' if root.exists() else 'no such directory'} (expected {COCO_WHAT})")
    from zoo.data import boxes as box_files

    found_names = []

    def read(folder: Path) -> list:
        if not (folder / "labels.json").is_file():
            raise DataError(f"{folder}: no labels.json (expected {COCO_WHAT})")
        annotated, names = box_files.read_coco(folder / "labels.json")
        found_names.append(names)
        return annotated

    train, test, how = _split(root, read, seed)
    if len(set(found_names)) > 1:
        raise DataError(f"{root}: train/labels.json and test/labels.json name different categories")
    return _dataset("coco", root, train, test, found_names[0], how, image_size)


def _load_sample(data_dir=None, seed=0, image_size=SIZE) -> Dataset:
    if data_dir:
        raise UsageError("dataset 'raccoon-sample' is shipped with zoo; --data-dir does not apply "
                         "(use 'voc' with --data-dir)")
    data = _load_voc_folder("raccoon-sample", SAMPLE_DIR, seed, image_size)
    data.source["made_by"] = ("scripts/make_raccoon_sample.py: the first photos of the raccoon set's own "
                              "train and test lists, at most 320 pixels a side (MIT, see LICENSE)")
    return data


def _locate(data_dir=None):
    return str(Path(data_dir)) if data_dir and Path(data_dir).is_dir() else None


@zoo.hookimpl
def register_datasets(register):
    register(zoo.DatasetEntry(
        name="voc", summary="Your photos with PASCAL VOC boxes (*.xml), 20% held out unless split",
        load=_load_voc, needs_data_dir=True, locate=_locate, spec=PHOTOS, options=OPTIONS,
        sources=(f"--data-dir DIR: {VOC_WHAT}",), augmentations=(),
    ))
    register(zoo.DatasetEntry(
        name="coco", summary="Your photos with a COCO labels.json, 20% held out unless split",
        load=_load_coco, needs_data_dir=True, locate=_locate, spec=PHOTOS, options=OPTIONS,
        sources=(f"--data-dir DIR: {COCO_WHAT}",), augmentations=(),
    ))
    register(zoo.DatasetEntry(
        name="raccoon-sample", summary="Real raccoon photos with boxes shipped with zoo (48 + 12), offline",
        load=_load_sample, locate=lambda data_dir=None: str(SAMPLE_DIR) if SAMPLE_DIR.is_dir() else None,
        spec=PHOTOS, options=OPTIONS, class_names=("raccoon",), augmentations=(),
        sources=(f"shipped with zoo: {SAMPLE_DIR}",),
    ))
