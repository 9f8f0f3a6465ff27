"""Built-in datasets: Fashion-MNIST, MNIST, their noisy variants, the embedded
Fashion-MNIST sample, and the user's own IDX or image folders.

Fashion-MNIST and MNIST load from the first of these places that holds them:
``--data-dir DIR`` (or ``$ZOO_DATA_DIR``), Debian's ``/usr/share/datasets``
(Fashion-MNIST only), the Keras cache, then Keras' own download into that
cache. A named folder is used or fails; nothing falls back to other data.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import zoo
from zoo.data import spec
from zoo.data.arrays import npz_headers
from zoo.data.dataset import Dataset
from zoo.errors import DataError, UsageError, first_line
from zoo.data.idx import IDX_NAMES, has_idx_files, read_idx_folder

# From Fashion-MNIST's README, label 0 to 9.
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGITS = tuple(str(i) for i in range(10))
SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "fashion-sample"
# keras.datasets' origin; ZOO_DATASETS_URL replaces it (a mirror, or a test server).
KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# The SimpleRNN tutorial's noise, added to pixels / 255.
NOISE_MEAN, NOISE_STD = 0.5, 0.1
TEST_FRACTION = 0.2  # held out from an image folder


@dataclass(frozen=True)
class Remote:
    """Where a public dataset is found, on disk or online.

    Attributes:
        name: the registered name.
        title: the dataset's name in messages.
        class_names: one name per label.
        folder: its sub-folder name in ``$ZOO_DATA_DIR`` and in the Keras cache.
        cache_subdir: its folder under ``$KERAS_HOME``, as keras.datasets uses.
        files: the files keras.datasets downloads into ``cache_subdir``.
        sha256: known hashes of ``files``, checked on download from KERAS_URL.
        system_dir: a folder a system package installs it in, or None.
        install: how to install that package.
    """

    name: str
    title: str
    class_names: tuple
    folder: str
    cache_subdir: str
    files: tuple
    sha256: dict
    system_dir: str | None = None
    install: str | None = None

    @property
    def npz(self) -> str | None:
        return self.files[0] if self.files[0].endswith(".npz") else None

    def sources(self) -> tuple:
        local = "--data-dir DIR or $ZOO_DATA_DIR (the files, or a '" + self.folder + "' sub-folder)"
        system = (f"{self.system_dir} ({self.install})",) if self.system_dir else ()
        cache = f"Keras cache: $KERAS_HOME/{self.cache_subdir} (default ~/.keras/{self.cache_subdir})"
        online = f"download: {KERAS_URL} (or $ZOO_DATASETS_URL), into the Keras cache"
        return (local, *system, cache, online)


FASHION = Remote(
    name="fashion", title="Fashion-MNIST", class_names=FASHION_CLASSES, folder="fashion-mnist",
    cache_subdir="datasets/fashion-mnist",
    files=tuple(f"{name}.gz" for name in IDX_NAMES.values()), sha256={},
    system_dir="/usr/share/datasets/fashion-mnist",
    install="apt-get install dataset-fashion-mnist",
)
MNIST = Remote(
    name="mnist", title="MNIST", class_names=DIGITS, folder="mnist", cache_subdir="datasets",
    files=("mnist.npz",),
    # The hash keras.datasets.mnist checks.
    sha256={"mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"},
)


def _keras_home() -> Path:
    """``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras`` if home is read-only), as Keras does."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"])
    home = os.path.expanduser("~")
    return Path(home if os.access(home, os.W_OK) else "/tmp") / ".keras"


def _base_url() -> str:
    url = os.environ.get("ZOO_DATASETS_URL") or KERAS_URL
    return url if url.endswith("/") else url + "/"


def _named_dir(data_dir) -> str | None:
    return os.fspath(data_dir) if data_dir else os.environ.get("ZOO_DATA_DIR") or None


def _holds(remote: Remote, folder: Path) -> bool:
    return has_idx_files(folder) or bool(remote.npz and (folder / remote.npz).is_file())


def _holding(remote: Remote, folder: Path) -> Path | None:
    """``folder`` or its ``remote.folder`` sub-folder, whichever holds the data."""
    return next((c for c in (folder, folder / remote.folder) if _holds(remote, c)), None)


def _local(remote: Remote, data_dir=None) -> Path | None:
    """The first local place holding ``remote``; a named folder is the only place."""
    named = _named_dir(data_dir)
    if named:
        return _holding(remote, Path(named))
    for folder in (remote.system_dir, _keras_home() / remote.cache_subdir):
        if folder and _holds(remote, Path(folder)):
            return Path(folder)
    return None


def _locate(remote: Remote, data_dir=None) -> str | None:
    found = _local(remote, data_dir)
    if found is None:
        return None
    if not has_idx_files(found) and remote.npz:
        return str(found / remote.npz)
    return str(found)


# An .npz member may unpack to at most this (Fashion-MNIST's largest array is
# 47 MB; CIFAR-10's 150 MB): checked from the zip directory before reading.
MAX_NPZ_UNPACKED = 2 * 1024**3


def _read_npz(path: Path, num_classes: int | None = None, gray_uint8: bool = False):
    """``(x_train, y_train, x_test, y_test, source)`` from a Keras-style ``.npz``, validated.

    Images are (N, H, W) or (N, H, W, C) with 1, 3 or 4 channels, uint8 or
    float; labels integers (N,) or (N, 1) (as ``keras.datasets.cifar10``
    keeps them). With ``num_classes``, every label must be below it; with
    ``gray_uint8``, images must be uint8 (N, H, W), as Keras' MNIST files are.
    """
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    if zipfile.is_zipfile(path):
        # Every member's .npy header, checked against its size in the archive
        # before np.load allocates what a header claims (zoo.arrays).
        headers = npz_headers(path, MAX_NPZ_UNPACKED)
        unpacked = sum(h.nbytes for h in headers.values())
        if unpacked > MAX_NPZ_UNPACKED:
            raise DataError(f"{path}: its arrays unpack to {unpacked} bytes, more than the "
                            f"{MAX_NPZ_UNPACKED} allowed")
    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise DataError(f"{path}: a single .npy array, not an .npz archive")
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise DataError(f"{path}: missing arrays {', '.join(missing)} (found: "
                                f"{', '.join(f.files) or 'none'})")
            arrays = {k: f[k] for k in NPZ_KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if gray_uint8 and (x.dtype != np.uint8 or x.ndim != 3):
            raise DataError(f"{path}: x_{split} is {x.dtype} {x.shape}; expected uint8 (N, H, W)")
        image = x.ndim == 3 or (x.ndim == 4 and x.shape[3] in (1, 3, 4))
        if not image or not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
            raise DataError(f"{path}: x_{split} is {x.dtype} {x.shape}; expected uint8 or float images "
                            "(N, H, W) or (N, H, W, C) with 1, 3 or 4 channels")
        if y.ndim == 2 and y.shape[1] == 1:
            y = arrays[f"y_{split}"] = y[:, 0]
        if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
            raise DataError(f"{path}: y_{split} is {y.dtype} {y.shape}; expected integers (N,)")
        if len(x) != len(y):
            raise DataError(f"{path}: {split} has {len(x)} images but {len(y)} labels")
        if len(y) and int(y.min()) < 0:
            bad = int(np.argmax(y < 0))
            raise DataError(f"{path}: {split} label {int(y[bad])} at index {bad} is negative")
        if num_classes is not None and len(y) and int(y.max()) >= num_classes:
            bad = int(np.argmax(y >= num_classes))
            raise DataError(f"{path}: {split} label {int(y[bad])} at index {bad} is out of range "
                            f"for {num_classes} classes (0-{num_classes - 1})")
        if np.issubdtype(x.dtype, np.floating):
            if not np.isfinite(x).all():
                raise DataError(f"{path}: x_{split} holds NaN or infinity")
            arrays[f"x_{split}"] = x.astype(np.float32, copy=False)
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DataError(f"{path}: train images are {arrays['x_train'].shape[1:]} but test "
                        f"images are {arrays['x_test'].shape[1:]}")
    if arrays["x_train"].dtype != arrays["x_test"].dtype:
        raise DataError(f"{path}: x_train is {arrays['x_train'].dtype} but x_test is {arrays['x_test'].dtype}")
    md5 = {f"{path.name}/{k}": hashlib.md5(np.ascontiguousarray(a)).hexdigest()
           for k, a in arrays.items()}
    return (*(arrays[k] for k in NPZ_KEYS), {"path": str(path), "md5": md5})


def _read(remote: Remote, folder: Path) -> Dataset:
    classes = len(remote.class_names)
    if has_idx_files(folder) or not remote.npz:
        *arrays, source = read_idx_folder(folder, num_classes=classes)
    else:
        *arrays, source = _read_npz(folder / remote.npz, classes, gray_uint8=True)
    return Dataset(remote.name, remote.class_names, *arrays, source=source, spec=GRAY_28)


def _download(remote: Remote) -> Dataset:
    """Fetch the missing files with Keras into its cache; remove them again if anything fails."""
    folder = _keras_home() / remote.cache_subdir
    base = _base_url()
    fresh = [name for name in remote.files if not (folder / name).exists()]
    fetched = []
    # Keras downloads into /tmp/.keras when the cache folder does not exist yet.
    with contextlib.suppress(OSError):
        _keras_home().mkdir(parents=True, exist_ok=True)
    try:
        from keras.utils import get_file  # imports TensorFlow: only when downloading

        # Keras prints its progress on stdout; keep stdout for zoo's own output.
        with contextlib.redirect_stdout(sys.stderr):
            for name in fresh:
                target = folder / name
                fetched.append(target)
                path = get_file(name, origin=base + name, cache_subdir=remote.cache_subdir,
                                cache_dir=str(_keras_home()),
                                file_hash=remote.sha256.get(name) if base == KERAS_URL else None)
                if Path(path) != target:  # Keras used /tmp/.keras: the cache is read-only
                    fetched[-1] = Path(path)
                    folder = Path(path).parent
        return _read(remote, folder)
    except DataError as exc:
        _remove(fetched)
        raise DataError(f"{exc} (downloaded from {base}; removed from the cache)") from None
    except Exception as exc:  # noqa: BLE001 - get_file raises bare Exception for network errors
        _remove(fetched)
        reason = first_line(exc)
        raise DataError(_not_found(remote, base, reason)) from None


def _remove(paths) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _not_found(remote: Remote, base: str, reason: str) -> str:
    tried = ["--data-dir/$ZOO_DATA_DIR (not set)"]
    if remote.system_dir:
        tried.append(f"{remote.system_dir} (not there)")
    tried.append(f"{_keras_home() / remote.cache_subdir} (no {' '.join(remote.files)})")
    tried.append(f"download from {base} ({reason})")
    ways = ([remote.install] if remote.install else []) + [
        f"--data-dir DIR with the four IDX files{' or ' + remote.npz if remote.npz else ''}",
        "going online so Keras can download it",
    ]
    sample = " ('fashion-sample', a real sample shipped with zoo, needs none of this)" \
        if remote is FASHION else ""
    return (f"{remote.title} not found and not downloadable; tried: {'; '.join(tried)}. "
            f"To get it: {', or '.join(ways)}{sample}")


def _missing(remote: Remote, folder: Path):
    """Raise the error for a named folder that does not hold ``remote``."""
    alternative = f" (or {remote.npz} in it)" if remote.npz else ""
    try:  # The IDX reader says what is wrong: no folder, a file, which file is missing.
        read_idx_folder(folder)
    except DataError as exc:
        raise DataError(f"{exc}{alternative}") from None
    raise DataError(f"{folder}: holds no {remote.title} files{alternative}")


def _load_remote(remote: Remote, data_dir=None, seed=0) -> Dataset:
    named = _named_dir(data_dir)
    if named:
        found = _holding(remote, Path(named))
        if found is None:
            _missing(remote, Path(named))
        return _read(remote, found)
    found = _local(remote)
    return _read(remote, found) if found else _download(remote)


# --- the noisy variants --------------------------------------------------------------

def add_noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x / 255 + N(0.5, 0.1)``, clipped to [0, 1], as float32.

    The tutorial clips only at 1.0. Clipping at 0 too changes a pixel only
    where the noise falls below -5 standard deviations (about 1 in 3.5 million,
    so a handful in Fashion-MNIST) and keeps the promised [0, 1] range.
    """
    out = rng.standard_normal(x.shape, dtype=np.float32)
    out *= np.float32(NOISE_STD)
    out += np.float32(NOISE_MEAN)
    out += x.astype(np.float32) / np.float32(255)
    return np.clip(out, 0.0, 1.0, out=out)


def _load_noisy(remote: Remote, name: str, data_dir=None, seed=0) -> Dataset:
    clean = _load_remote(remote, data_dir)
    rng = np.random.default_rng(seed)
    source = dict(clean.source, noise={
        "added_to": "pixel / 255", "distribution": "normal", "mean": NOISE_MEAN,
        "std": NOISE_STD, "clip": [0.0, 1.0], "seed": seed,
        "rng": "numpy.random.default_rng(seed).standard_normal, float32, train then test",
    })
    return Dataset(name, clean.class_names, add_noise(clean.x_train, rng), clean.y_train,
                   add_noise(clean.x_test, rng), clean.y_test, source=source, spec=NOISY_28)


# --- the embedded sample ------------------------------------------------------------

def _load_sample(data_dir=None, seed=0) -> Dataset:
    if data_dir:
        raise UsageError("dataset 'fashion-sample' is shipped with zoo; --data-dir does not apply "
                         "(use 'fashion' or 'idx' with --data-dir)")
    *arrays, source = read_idx_folder(SAMPLE_DIR, num_classes=10)
    source["made_by"] = ("scripts/make_fashion_sample.py: 750 per class from train and 150 per "
                         "class from t10k of the official files, numpy default_rng(0)")
    return Dataset("fashion-sample", FASHION_CLASSES, *arrays, source=source, spec=GRAY_28)


def _locate_sample(data_dir=None) -> str | None:
    return str(SAMPLE_DIR) if has_idx_files(SAMPLE_DIR) else None


# --- the user's folders ------------------------------------------------------------

def _need_dir(name: str, data_dir, what: str) -> Path:
    if not data_dir:
        raise UsageError(f"dataset '{name}' needs --data-dir DIR: {what}")
    return Path(data_dir)


def _locate_dir(data_dir=None, check=Path.is_dir) -> str | None:
    return str(Path(data_dir)) if data_dir and check(Path(data_dir)) else None


IDX_WHAT = ("a folder holding " + ", ".join(f"{n}[.gz]" for n in IDX_NAMES.values())
            + " and optionally classes.txt (one class name per line)")


def _load_idx(data_dir=None, seed=0) -> Dataset:
    folder = _need_dir("idx", data_dir, IDX_WHAT)
    names = _class_names(folder)
    x_train, y_train, x_test, y_test, source = read_idx_folder(
        folder, num_classes=len(names) if names else None)
    names = _numbered_classes(names, folder, y_train, y_test)
    return Dataset("idx", names, x_train, y_train, x_test, y_test, source=source, spec=USER_IMAGES)


NPZ_WHAT = ("an .npz file (or a folder holding one) with x_train, y_train, x_test, y_test, as "
            "keras.datasets keeps them, and optionally classes.txt beside it")


def _npz_file(data_dir) -> Path:
    path = _need_dir("npz", data_dir, NPZ_WHAT)
    if path.is_dir():
        found = sorted(p for p in path.glob("*.npz") if p.is_file())
        if len(found) != 1:
            raise DataError(f"{path}: {len(found)} .npz files; expected exactly one (or give the file)")
        path = found[0]
    if not path.is_file():
        raise DataError(f"{path}: {'not a file' if path.exists() else 'no such file'} (expected {NPZ_WHAT})")
    return path


def _class_names(folder: Path) -> tuple | None:
    """The names in ``folder/classes.txt`` (one per line), or None without the file."""
    if not (folder / "classes.txt").is_file():
        return None
    try:
        text = (folder / "classes.txt").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{folder / 'classes.txt'}: unreadable ({exc})") from None
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(set(names)) != len(names):
        raise DataError(f"{folder / 'classes.txt'}: a class name appears twice")
    return names


def _numbered_classes(names, folder: Path, *labels) -> tuple:
    """``names``, or "0".."k" from the largest label; at least two."""
    if names is None:
        top = max((int(y.max()) for y in labels if len(y)), default=0)
        names = tuple(str(i) for i in range(top + 1))
    if len(names) < 2:
        raise DataError(f"{folder}: only one class ({names[0]!r}); a classifier needs at least two")
    return names


def _load_npz(data_dir=None, seed=0) -> Dataset:
    path = _npz_file(data_dir)
    names = _class_names(path.parent)
    x_train, y_train, x_test, y_test, source = _read_npz(path, len(names) if names else None)
    names = _numbered_classes(names, path, y_train, y_test)
    # uint8 pixels are divided by 255; float images are taken as already in [0, 1].
    return Dataset("npz", names, x_train, y_train, x_test, y_test, source=source,
                   spec=spec.image(None, x_train.dtype.name))


IMAGES_WHAT = ("a folder with one sub-folder of PNG/JPEG images per class (or train/ and test/, each with "
               "those sub-folders)")


# Without --image-size, images take the folder's most common size, scaled down
# (aspect kept) so that neither side exceeds this: a folder of 12-megapixel
# photos should not make a 12-megapixel model input.
MAX_DEFAULT_SIDE = 128
IMAGE_OPTIONS = {
    "image_size": zoo.registry.Param(None, "HxW every image is resized to (default: the folder's most common "
                                     f"size, at most {MAX_DEFAULT_SIDE} a side)", low=1, high=4096),
    "color": zoo.registry.Param(None, "rgb or gray (default: rgb when any image has colour)",
                                choices=("rgb", "gray")),
}


def default_image_size(sizes: list) -> tuple:
    """The most common ``(height, width)`` (ties: the largest), at most MAX_DEFAULT_SIDE a side."""
    import collections

    counts = collections.Counter(sizes)
    height, width = max(counts, key=lambda hw: (counts[hw], hw[0] * hw[1], hw))
    scale = min(1.0, MAX_DEFAULT_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _load_images(data_dir=None, seed=0, image_size=None, color=None) -> Dataset:
    from zoo.data.images import image_header, load_image

    root = _need_dir("images", data_dir, IMAGES_WHAT)
    if not root.is_dir():
        raise DataError(f"{root}: {'not a directory' if root.exists() else 'no such directory'} "
                        f"(expected {IMAGES_WHAT})")
    def class_folders(where: Path) -> list:
        return sorted(p.name for p in where.iterdir() if p.is_dir() and not p.name.startswith("."))

    classes = class_folders(root)
    # train/ and test/, each with the same class folders: the folder's own split (CIFAR-10's photos,
    # most published photo sets), used as given instead of holding out a fifth.
    given_split = classes == ["test", "train"] and all(class_folders(root / s) for s in ("train", "test"))
    if given_split:
        classes = class_folders(root / "train")
        if class_folders(root / "test") != classes:
            raise DataError(f"{root}: train/ and test/ hold different class folders ({', '.join(classes[:5])} "
                            f"against {', '.join(class_folders(root / 'test')[:5])})")
    if not classes:
        raise DataError(f"{root}: no class sub-folders (expected {IMAGES_WHAT})")
    if len(classes) == 1:
        raise DataError(f"{root}: only one class folder ({classes[0]!r}); a classifier needs at least two")

    rng = np.random.default_rng(seed)
    digest = hashlib.md5()
    parts = {"train": ([], []), "test": ([], [])}
    folders = {}
    for name in classes:
        files = []
        for where in ([root / "train" / name, root / "test" / name] if given_split else [root / name]):
            found = sorted(p for p in where.iterdir() if not p.name.startswith("."))
            for path in found:  # every entry is an image: nothing is skipped without a word
                if path.is_dir():
                    raise DataError(f"{path}: a folder inside the class folder '{name}'; images must "
                                    "lie directly in their class folder (one level)")
                if not path.is_file():
                    raise DataError(f"{path}: not a readable file ({'a broken link' if path.is_symlink() else 'not a regular file'})")
            if given_split and not found:
                raise DataError(f"{where}: no images; every class needs some in train/ and in test/")
            files += found
        if len(files) < 2:
            raise DataError(f"{root / name}: {len(files)} image(s); each class needs at least 2 "
                            f"(one to train on, one to test)")
        folders[name] = files
    # Headers only (no pixels decoded): the sizes and whether any image has colour.
    headers = [image_header(f) for files in folders.values() for f in files]
    coloured = any(has_colour for *_, has_colour in headers)
    size_from = "--image-size" if image_size else "the folder's most common size"
    image_size = tuple(image_size) if image_size else default_image_size([(h, w) for h, w, _ in headers])
    color_from = "--color" if color else ("an image has colour" if coloured else "no image has colour")
    color = color or ("rgb" if coloured else "gray")
    for label, name in enumerate(classes):
        files = folders[name]
        images = np.stack([load_image(f, image_size, color) for f in files])
        digest.update(name.encode() + b"\0" + images.tobytes())
        if given_split:  # the folder's own test images
            is_test = np.array([f.parent.parent.name == "test" for f in files])
            picks = (("test", np.flatnonzero(is_test)), ("train", np.flatnonzero(~is_test)))
        else:  # stratified: 20% of every class, at least one, chosen by the seed
            order = rng.permutation(len(files))
            n_test = max(1, round(len(files) * TEST_FRACTION))
            picks = (("test", order[:n_test]), ("train", order[n_test:]))
        for split, pick in picks:
            parts[split][0].append(images[pick])
            parts[split][1].append(np.full(len(pick), label, dtype=np.int32))
    arrays = []
    for split in ("train", "test"):
        x, y = np.concatenate(parts[split][0]), np.concatenate(parts[split][1])
        # Mix the classes: Keras' validation_split takes the last examples as they are.
        shuffle = rng.permutation(len(y))
        arrays += [x[shuffle], y[shuffle]]
    source = {"path": str(root), "md5": {"images": digest.hexdigest()},
              "files": int(sum(len(y) for y in arrays[1::2])),
              "split": ({"given": "the folder's train/ and test/"} if given_split else
                        {"test_fraction": TEST_FRACTION, "stratified": True, "seed": seed}),
              "image_size": list(image_size), "image_size_from": size_from,
              "color": color, "color_from": color_from,
              "conversion": (f"Pillow: {'grayscale' if color == 'gray' else 'RGB'} "
                             f"'{'L' if color == 'gray' else 'RGB'}', resized to {image_size[0]} x {image_size[1]} "
                             "(bilinear)")}
    return Dataset("images", tuple(classes), *arrays, source=source, spec=spec.image(None, "uint8", color))


IMAGE_SHAPE = (28, 28)  # MNIST's and Fashion-MNIST's, as the files hold them
# One description per kind of data, shared by each entry's declaration and its loader.
GRAY_28 = spec.image(IMAGE_SHAPE, "uint8", "gray")
NOISY_28 = spec.image(IMAGE_SHAPE, "float32", "gray")  # pixel/255 plus noise, clipped: used as stored
USER_IMAGES = spec.image(None, "uint8")  # a user's files: size and channels are theirs
# A mirrored T-shirt, sneaker or bag is still one: clothing may be flipped. Digits
# (MNIST, and a user's IDX files or folders, which zoo cannot judge) get the
# default: every transformation but the mirror.
CLOTHING_AUGMENTATIONS = ("rotate", "zoom", "shear", "shift", "flip")


# --- the multiplication problem (the CNN/RNN tutorial, seed 001) ---------------------

MULTIPLY_EXAMPLES, MULTIPLY_STEPS, MULTIPLY_TRAIN = 3000, 100, 2560
MULTIPLY_TOLERANCE = 0.04  # the tutorial's "correctness": within 0.04 of the truth
MULTIPLY_SPEC = spec.sequence((MULTIPLY_STEPS, 2), "float32")  # (marker, value) per step


def multiply_arrays(seed: int = 0):
    """The multiplication problem exactly as the tutorial generates it, from ``seed``.

    3,000 sequences of 100 time steps with two features each: a marker (1 at
    two random steps, else 0) and a uniform random value; the target is the
    product of the two marked values. The tutorial calls ``np.random.rand``
    and ``np.random.choice`` in this order on NumPy's global generator;
    ``RandomState(seed)`` is that generator after ``np.random.seed(seed)``.
    The first 2,560 are for training (the tutorial holds out 20% of them for
    validation), the last 440 for testing.
    """
    rng = np.random.RandomState(seed)
    x, y = [], []
    for _ in range(MULTIPLY_EXAMPLES):
        values = rng.rand(MULTIPLY_STEPS)
        marked = rng.choice(MULTIPLY_STEPS, 2, replace=False)
        markers = np.zeros(MULTIPLY_STEPS)
        markers[marked] = 1
        x.append(np.array(list(zip(markers, values))))
        y.append(np.prod(values[marked]))
    x, y = np.array(x, dtype=np.float32), np.array(y, dtype=np.float32)
    return x[:MULTIPLY_TRAIN], y[:MULTIPLY_TRAIN], x[MULTIPLY_TRAIN:], y[MULTIPLY_TRAIN:]


def _load_multiply(data_dir=None, seed=0) -> Dataset:
    if data_dir:
        raise UsageError("dataset 'multiply' is generated; --data-dir does not apply (--seed chooses it)")
    from zoo.data.tasks import Regression

    source = {"generated": "zoo_plugins.datasets.multiply_arrays", "seed": seed,
              "rng": "numpy.random.RandomState(seed): rand(100), choice(100, 2, replace=False) per example",
              "examples": MULTIPLY_EXAMPLES, "train": MULTIPLY_TRAIN}
    return Dataset("multiply", (), *multiply_arrays(seed), source=source, spec=MULTIPLY_SPEC,
                   task=Regression(("product",), MULTIPLY_TOLERANCE))


# --- a real time series shipped with zoo: yearly sunspot numbers ------------------------

SUNSPOTS_CSV = SAMPLE_DIR.parent / "sunspots" / "sunspots.csv"
SUNSPOTS_WINDOW = 20  # years of history per example: about two solar cycles
SUNSPOTS_TEST_YEARS = 40  # the last 40 years are forecast, never trained on
SUNSPOTS_SCALE = 100.0  # stored and predicted in hundreds of sunspots
SUNSPOTS_TOLERANCE = 0.1  # "correct" within 10 sunspots
SUNSPOTS_SPEC = spec.sequence((SUNSPOTS_WINDOW, 1), "float32")  # hundreds of sunspots per year


def read_sunspots(path: Path = SUNSPOTS_CSV):
    """``(years, counts)`` from the shipped CSV (YEAR, SUNACTIVITY), checked year by year."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        years = np.array([int(r["YEAR"]) for r in rows])
        counts = np.array([float(r["SUNACTIVITY"]) for r in rows])
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: not the sunspot CSV zoo ships ({first_line(exc)})") from None
    if len(years) < 2 or not np.array_equal(np.diff(years), np.ones(len(years) - 1)) or not np.isfinite(counts).all():
        raise DataError(f"{path}: expected one finite value per consecutive year")
    return years, counts


def next_value_windows(series: np.ndarray, window: int, test: int):
    """Sliding windows of ``window`` values, each predicting the value after it.

    Split by time, never shuffled across it: the last ``test`` targets (and
    the windows that predict them) are the test set; every training target
    comes before the first test target.
    """
    x = np.stack([series[i:i + window] for i in range(len(series) - window)])[..., None]
    y = series[window:]
    cut = len(y) - test
    return (x[:cut].astype(np.float32), y[:cut].astype(np.float32),
            x[cut:].astype(np.float32), y[cut:].astype(np.float32))


def _load_sunspots(data_dir=None, seed=0) -> Dataset:
    if data_dir:
        raise UsageError("dataset 'sunspots' is shipped with zoo; --data-dir does not apply")
    from zoo.data.tasks import Regression

    years, counts = read_sunspots()
    arrays = next_value_windows(counts / SUNSPOTS_SCALE, SUNSPOTS_WINDOW, SUNSPOTS_TEST_YEARS)
    source = {"path": str(SUNSPOTS_CSV), "md5": {SUNSPOTS_CSV.name: hashlib.md5(SUNSPOTS_CSV.read_bytes()).hexdigest()},
              "series": f"yearly sunspot numbers {years[0]}-{years[-1]} (NOAA NGDC, public domain, via "
                        "statsmodels 0.15.0; scripts/make_sunspots.py)",
              "window": SUNSPOTS_WINDOW, "scale": f"counts / {SUNSPOTS_SCALE:g}",
              "split": f"chronological: targets {years[SUNSPOTS_WINDOW]}-{years[-SUNSPOTS_TEST_YEARS - 1]} train, "
                       f"{years[-SUNSPOTS_TEST_YEARS]}-{years[-1]} test"}
    return Dataset("sunspots", (), *arrays, source=source, spec=SUNSPOTS_SPEC,
                   task=Regression(("sunspots / 100",), SUNSPOTS_TOLERANCE))


# The tutorial's values run from -0.1 to 1.0.
NEXT_VALUE_SPEC = dataclasses.replace(spec.sequence((4, 1), "float32"), stored_range=(-0.1, 1.0))


def next_value_arrays():
    """The CNN/RNN tutorial's first sequence exercise: four steps of a rising sequence -> the next.

    Training, as the tutorial builds it: for i in 0..5, the window
    ``[i, i+1, i+2, i+3] / 10`` (4 steps, 1 feature) and the target
    ``(i + 4) / 10``. The tutorial then asks the model about two windows it
    never saw, ``[0.6, 0.7, 0.8, 0.9]`` (next: 1.0) and ``[-0.1, 0.0, 0.1, 0.2]``
    (next: 0.3): those are the test set.
    """
    x_train = np.array([[[c / 10] for c in range(i, i + 4)] for i in range(6)], dtype=np.float32)
    y_train = np.array([(i + 4) / 10 for i in range(6)], dtype=np.float32)
    x_test = np.array([[[0.6], [0.7], [0.8], [0.9]], [[-0.1], [0.0], [0.1], [0.2]]], dtype=np.float32)
    y_test = np.array([1.0, 0.3], dtype=np.float32)
    return x_train, y_train, x_test, y_test


def _load_next_value(data_dir=None, seed=0) -> Dataset:
    if data_dir:
        raise UsageError("dataset 'next-value' is the tutorial's own six windows; --data-dir does not apply")
    from zoo.data.tasks import Regression

    return Dataset("next-value", (), *next_value_arrays(), spec=NEXT_VALUE_SPEC, task=Regression(("next",), 0.05),
                   source={"generated": "zoo_plugins.datasets.next_value_arrays",
                           "as": "the CNN/RNN tutorial's windows [i..i+3]/10 -> (i+4)/10, i = 0..5; "
                                 "test: [0.6..0.9] -> 1.0 and [-0.1..0.2] -> 0.3"})


def _sunspots_recipes():
    """One recurrent layer of 32, batch 16, early stopping on the most recent training years."""
    from zoo.api.registry import Recipe

    tuned = Recipe(optimizer="adam", learning_rate=3e-3, batch_size=16, epochs=300, validation_split=0.15,
                   patience=30, params={"units": 32, "depth": 1, "batch_norm": False, "dropout": 0.0},
                   note="one recurrent layer of 32 over 20 years, adam 3e-3, early stopping on the "
                        "latest 15% of the training years")
    return {"simplernn": {"tuned": tuned}, "lstm-bn": {"tuned": dataclasses.replace(
                tuned, params={**tuned.params, "bidirectional": False})},
            "gru": {"tuned": dataclasses.replace(tuned, params={"units": 32, "batch_norm": False})}}


def _multiply_recipes():
    """The tutorial's two models for the multiplication problem, and a tuned default."""
    from zoo.api.registry import Recipe

    def tutorial(layer):
        return Recipe(optimizer="adam", batch_size=32, epochs=100, validation_split=0.2,
                      params={"units": 30, "depth": 2, "batch_norm": False, "bidirectional": False,
                              "dropout": 0.0} if layer == "LSTM" else
                             {"units": 30, "depth": 2, "batch_norm": False, "dropout": 0.0},
                      note=f"CNN/RNN tutorial: {layer}(30, return_sequences) + {layer}(30) + Dense(1), "
                           f"adam, mse, 100 epochs (published correctness "
                           f"{'95.68' if layer == 'LSTM' else '9.77'}%)")

    tuned = Recipe(optimizer="adam", learning_rate=3e-3, batch_size=64, epochs=80, validation_split=0.2,
                   patience=15, schedule="constant",
                   params={"units": 64, "depth": 2, "batch_norm": False, "dropout": 0.0},
                   note="two stacked layers of 64, adam 3e-3, early stopping (not yet benchmarked)")
    # The book's GRU section (7.15-7.18): the same model with GRU layers, correctness 98.86%.
    gru = Recipe(optimizer="adam", batch_size=32, epochs=100, validation_split=0.2,
                 params={"units": 30, "depth": 2, "batch_norm": False},
                 note="the book (7.15-7.18): GRU(30, return_sequences) + GRU(30) + Dense(1), adam, mse, "
                      "100 epochs (published correctness 98.86%)")
    return {"gru": {"tutorial": gru},
            "simplernn": {"tutorial": tutorial("SimpleRNN"), "tuned": tuned},
            "lstm-bn": {"tutorial": tutorial("LSTM"),
                        "tuned": dataclasses.replace(tuned, params={**tuned.params, "bidirectional": False})}}


@zoo.hookimpl
def register_datasets(register):
    """Register the built-in datasets."""
    for remote, summary, aliases in (
        (FASHION, "Fashion-MNIST: 28x28 grayscale clothing, 10 classes, 60,000 train + 10,000 test",
         ("fashion-mnist", "fashion_mnist")),
        (MNIST, "MNIST handwritten digits: 28x28 grayscale, 10 classes, 60,000 train + 10,000 test",
         ()),
    ):
        register(zoo.DatasetEntry(
            name=remote.name, summary=summary, aliases=aliases, class_names=remote.class_names,
            spec=GRAY_28, load=functools.partial(_load_remote, remote),
            augmentations=CLOTHING_AUGMENTATIONS if remote is FASHION else None,
            locate=functools.partial(_locate, remote), sources=remote.sources(),
        ))
        noisy = f"{remote.name}-noisy"
        register(zoo.DatasetEntry(
            name=noisy, class_names=remote.class_names, spec=NOISY_28,
            augmentations=CLOTHING_AUGMENTATIONS if remote is FASHION else None,
            summary=f"{remote.title} plus Gaussian noise (mean 0.5, std 0.1) on pixel/255, "
                    f"clipped to [0, 1], float32 (the SimpleRNN tutorial's)",
            load=functools.partial(_load_noisy, remote, noisy),
            locate=functools.partial(_locate, remote), sources=remote.sources(),
        ))
    register(zoo.DatasetEntry(
        name="fashion-sample", class_names=FASHION_CLASSES, spec=GRAY_28,
        augmentations=CLOTHING_AUGMENTATIONS,
        summary="Real Fashion-MNIST sample shipped with zoo: 750 + 150 images per class, offline",
        load=_load_sample, locate=_locate_sample,
        sources=(f"shipped with zoo: {SAMPLE_DIR}",),
    ))
    from zoo.api.registry import Recipe
    from zoo.data.tasks import Regression

    register(zoo.DatasetEntry(
        name="multiply", spec=MULTIPLY_SPEC,
        task=Regression(("product",), MULTIPLY_TOLERANCE), load=_load_multiply,
        summary="The multiplication problem (CNN/RNN tutorial): 100 steps x (marker, value) -> "
                "product of the two marked values; 2,560 + 440, generated from --seed",
        locate=lambda data_dir=None: "generated from --seed", sources=("generated from --seed",),
        recipes=_multiply_recipes(),
    ))
    register(zoo.DatasetEntry(
        name="next-value", spec=NEXT_VALUE_SPEC,
        task=Regression(("next",), 0.05), load=_load_next_value,
        summary="The CNN/RNN tutorial's next-value exercise: 4 steps of a rising sequence -> the next "
                "(6 windows to learn, 2 to predict)",
        locate=lambda data_dir=None: "generated", sources=("generated (the tutorial's own windows)",),
        recipes={"simplernn": {"tutorial": Recipe(
            optimizer="adam", batch_size=32, epochs=100,
            params={"units": 10, "depth": 1, "batch_norm": False, "dropout": 0.0},
            note="CNN/RNN tutorial: SimpleRNN(10) + Dense(1), adam, mse, 100 epochs")}},
    ))
    register(zoo.DatasetEntry(
        name="sunspots", spec=SUNSPOTS_SPEC,
        task=Regression(("sunspots / 100",), SUNSPOTS_TOLERANCE), load=_load_sunspots,
        summary="Yearly sunspot numbers 1700-2008 (public domain, shipped): 20 years -> the next, "
                "the last 40 years held out for testing",
        locate=lambda data_dir=None: str(SUNSPOTS_CSV) if SUNSPOTS_CSV.is_file() else None,
        sources=(f"shipped with zoo: {SUNSPOTS_CSV}",), recipes=_sunspots_recipes(),
    ))
    register(zoo.DatasetEntry(
        name="idx", summary="Your MNIST-style IDX files (the four train/t10k files) in --data-dir",
        load=_load_idx, needs_data_dir=True, spec=USER_IMAGES,
        locate=functools.partial(_locate_dir, check=has_idx_files),
        sources=(f"--data-dir DIR: {IDX_WHAT}",),
    ))
    register(zoo.DatasetEntry(
        name="npz", summary="Your .npz file (x_train, y_train, x_test, y_test) of images of any size and colour",
        load=_load_npz, needs_data_dir=True, spec=spec.image(None),
        locate=lambda data_dir=None: _locate_dir(data_dir, check=lambda p: p.is_file() or any(p.glob("*.npz"))),
        sources=(f"--data-dir PATH: {NPZ_WHAT}",),
    ))
    register(zoo.DatasetEntry(
        name="images", summary="Your images: one sub-folder per class, at their size and colour, 20% held out",
        load=_load_images, needs_data_dir=True, locate=_locate_dir, spec=USER_IMAGES,
        options=IMAGE_OPTIONS,
        sources=(f"--data-dir DIR: {IMAGES_WHAT}",),
    ))
