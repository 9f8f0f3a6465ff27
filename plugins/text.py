"""Text datasets: NSMC (Korean movie reviews, positive or negative) and the sample shipped with zoo.

The book the CNN/RNN tutorial follows (7.19-7.31) downloads NSMC's two files,
cleans each review with ``clean_str``, cuts every word to 5 characters and
every review to 25 words, and keeps the 20,000 most frequent ids of Keras'
Tokenizer: zoo's ``tutorial`` tokenizer (``zoo.tokenizer``) is that, as
data. The tokenizer is fitted to the training reviews on every load
(deterministic: counts, ties in order of appearance), and travels with the
run and the export as ``tokenizer.json``.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import sys
from pathlib import Path

import numpy as np

import zoo
from zoo.data import spec
from zoo.data.dataset import Dataset
from zoo.errors import DataError, UsageError, first_line
from zoo.api.registry import Recipe
from zoo.api.registry import Param
from zoo.data.tokenizer import TOKENIZERS, Tokenizer

NSMC_CLASSES = ("negative", "positive")  # label 0 and 1
NSMC_FILES = ("ratings_train.txt", "ratings_test.txt")
NSMC_URL = "https://raw.githubusercontent.com/e9t/nsmc/master/"  # the book's (7.19)
NSMC_HEADER = "id\tdocument\tlabel"
SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "nsmc-sample"
# The book: words cut to 5 characters, 25 words, Keras Tokenizer(num_words=20000).
BOOK_TOKENIZER = Tokenizer(length=25, token_length=5, name="tutorial")
BOOK_WORDS = 20000
# A file read whole may have at most this many bytes (the official train file: 14.6 MB).
MAX_TEXT_BYTES = 256 << 20


def read_reviews(path: Path) -> tuple[list, np.ndarray]:
    """``(texts, labels)`` of an NSMC file (``id<TAB>document<TAB>label``, plain or ``.gz``).

    As the book reads it: the header line is skipped, and a line without a
    tab is skipped (the official files end with an empty line). A line with
    a tab must have three fields and a label 0 or 1.

    Raises:
        DataError: the file is missing, not UTF-8, not NSMC's format, or a
            line is damaged (named by file and line).
    """
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise DataError(f"{path}: {size} bytes, more than the {MAX_TEXT_BYTES} zoo reads from a text file")
        raw = path.read_bytes()
        if path.suffix == ".gz":
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
                raw = f.read(MAX_TEXT_BYTES + 1)
            if len(raw) > MAX_TEXT_BYTES:
                raise DataError(f"{path}: unpacks to more than {MAX_TEXT_BYTES} bytes")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, EOFError) as exc:  # gzip's BadGzipFile is an OSError
        raise DataError(f"{path}: unreadable ({getattr(exc, 'strerror', None) or first_line(exc)})") from None
    try:
        text = raw.decode("utf-8-sig")  # a BOM is not part of the header
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not UTF-8 text") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != NSMC_HEADER:
        raise DataError(f"{path}: not an NSMC file (its first line must be {NSMC_HEADER!r})")
    texts, labels = [], []
    for number, line in enumerate(lines[1:], start=2):
        if line.count("\t") == 0:
            continue
        fields = line.split("\t")
        if len(fields) != 3 or fields[2].strip() not in ("0", "1"):
            raise DataError(f"{path}: line {number} is not 'id<TAB>review<TAB>0 or 1'")
        texts.append(fields[1])
        labels.append(int(fields[2]))
    if not texts:
        raise DataError(f"{path}: holds no reviews")
    return texts, np.asarray(labels, dtype=np.int32)


def _find(folder: Path, name: str) -> Path | None:
    return next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)


def _files_in(folder: Path) -> tuple[Path, Path] | None:
    found = [_find(folder, name) for name in NSMC_FILES]
    return tuple(found) if all(found) else None


def _keras_cache() -> Path:
    home = Path(os.environ["KERAS_HOME"]) if "KERAS_HOME" in os.environ else Path.home() / ".keras"
    return home / "datasets" / "nsmc"


def reviews_dataset(name: str, train: Path, test: Path, tokenizer: Tokenizer = BOOK_TOKENIZER,
                    words: int = BOOK_WORDS, source: dict | None = None) -> Dataset:
    """The reviews of two NSMC files as token ids of ``tokenizer`` fitted to the training reviews."""
    train_texts, y_train = read_reviews(train)
    test_texts, y_test = read_reviews(test)
    fitted = tokenizer.fit(train_texts, words)
    digest = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in (train, test)}
    source = {"path": str(train.parent), "md5": digest, "train": len(train_texts), "test": len(test_texts),
              "tokenizer": f"{fitted.name}: {len(fitted.vocabulary)} words fitted to the training reviews",
              "coverage_test": round(fitted.coverage(test_texts), 4), **(source or {})}
    return Dataset(name, NSMC_CLASSES, fitted.encode(train_texts), y_train, fitted.encode(test_texts), y_test,
                   source=source, spec=spec.text(fitted.length, fitted), tokenizer=fitted, test_texts=test_texts)


TEXT_OPTIONS = {"tokenizer": Param("tutorial", "the tokenizer fitted to the reviews: tutorial (the book's: "
                                              "cleaning, lower case, words cut to 5), mediapipe (what "
                                              "MediaPipe's text classifier reproduces on a phone) or "
                                              "syllables (100 characters)",
                                   choices=tuple(TOKENIZERS))}


def _load_nsmc(data_dir=None, seed=0, tokenizer="tutorial") -> Dataset:
    """NSMC from --data-dir (or $ZOO_DATA_DIR, or its 'nsmc' sub-folder), the Keras cache, or a download."""
    named = data_dir or os.environ.get("ZOO_DATA_DIR")
    if named:
        folder = Path(named)
        found = _files_in(folder) or _files_in(folder / "nsmc")
        if found is None:
            raise DataError(f"{folder}: holds no NSMC files (expected {' and '.join(NSMC_FILES)}, plain or .gz)")
        return reviews_dataset("nsmc", *found, tokenizer=TOKENIZERS[tokenizer])
    found = _files_in(_keras_cache())
    return reviews_dataset("nsmc", *found, tokenizer=TOKENIZERS[tokenizer]) if found else _download(tokenizer)


def _download(tokenizer="tutorial") -> Dataset:
    """The book's download (7.19): both files with Keras' get_file, into the Keras cache."""
    base = os.environ.get("ZOO_NSMC_URL") or NSMC_URL
    base = base if base.endswith("/") else base + "/"
    fetched = []
    try:
        from keras.utils import get_file  # imports TensorFlow: only when downloading

        with contextlib.redirect_stdout(sys.stderr):  # Keras' progress is not zoo's output
            for name in NSMC_FILES:
                fetched.append(Path(get_file(name, origin=base + name, cache_subdir="datasets/nsmc",
                                             cache_dir=str(_keras_cache().parents[1]))))
        return reviews_dataset("nsmc", *fetched, tokenizer=TOKENIZERS[tokenizer], source={"downloaded_from": base})
    except DataError as exc:
        for path in fetched:
            path.unlink(missing_ok=True)
        raise DataError(f"{exc} (downloaded from {base}; removed from the cache)") from None
    except Exception as exc:  # noqa: BLE001 - get_file raises bare Exception for network errors
        for path in fetched:
            path.unlink(missing_ok=True)
        raise DataError(f"NSMC not found and not downloadable; tried: --data-dir/$ZOO_DATA_DIR (not set); "
                        f"{_keras_cache()} (no {' and '.join(NSMC_FILES)}); download from {base} "
                        f"({first_line(exc)}). To get it: --data-dir DIR with the two files, or going "
                        "online; 'nsmc-sample', shipped with zoo, needs none of this") from None


def _locate_nsmc(data_dir=None) -> str | None:
    named = data_dir or os.environ.get("ZOO_DATA_DIR")
    folders = [Path(named), Path(named) / "nsmc"] if named else [_keras_cache()]
    return next((str(f) for f in folders if _files_in(f)), None)


def _load_sample(data_dir=None, seed=0, tokenizer="tutorial") -> Dataset:
    if data_dir:
        raise UsageError("dataset 'nsmc-sample' is shipped with zoo; --data-dir does not apply "
                         "(use 'nsmc' with --data-dir)")
    found = _files_in(SAMPLE_DIR)
    if found is None:
        raise DataError(f"{SAMPLE_DIR}: the shipped sample is missing (reinstall zoo)")
    return reviews_dataset("nsmc-sample", *found, tokenizer=TOKENIZERS[tokenizer], source={
        "made_by": "scripts/make_nsmc_sample.py: a balanced sample of the NSMC files, numpy default_rng(0)"})


TEXTS_WHAT = ("a CSV or TSV file with a header naming a 'text' and a 'label' column, or a folder with one "
              "sub-folder of .txt files per class")
TEST_FRACTION = 0.2  # held out from a user's texts, stratified, as from an image folder
MAX_TEXT_FILES = 1_000_000


def _read_table(path: Path) -> tuple[list, list]:
    """``(texts, label names)`` of a CSV (or, by its suffix, TSV) file with 'text' and 'label' columns."""
    import csv

    try:
        if path.stat().st_size > MAX_TEXT_BYTES:
            raise DataError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_TEXT_BYTES} zoo reads "
                            "from a text file")
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc.strerror})") from None
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    csv.field_size_limit(MAX_TEXT_BYTES)
    rows = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(rows, [])]
        if "text" not in header or "label" not in header:
            raise DataError(f"{path}: its header must name a 'text' and a 'label' column "
                            f"(found: {', '.join(h[:20] for h in header[:8]) or 'nothing'})")
        at_text, at_label = header.index("text"), header.index("label")
        texts, labels = [], []
        for row in rows:
            if not row or not any(cell.strip() for cell in row):
                continue  # a blank line
            number = rows.line_num
            if len(row) != len(header):
                raise DataError(f"{path}: line {number} has {len(row)} fields; the header has {len(header)}")
            label = row[at_label].strip()
            if not label:
                raise DataError(f"{path}: line {number} has no label")
            texts.append(row[at_text])
            labels.append(label)
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV (line {rows.line_num}: {exc})") from None
    return texts, labels


def _read_text_folder(root: Path) -> tuple[list, list]:
    """``(texts, label names)`` of ``root/<class>/*.txt`` (Keras' text_dataset_from_directory layout)."""
    texts, labels = [], []
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: no class sub-folders (expected {TEXTS_WHAT})")
    for name in classes:
        files = sorted(p for p in (root / name).iterdir() if not p.name.startswith("."))
        if not files:  # a class with no texts would vanish from the labels without a word
            raise DataError(f"{root / name}: an empty class folder; give it .txt files or remove it")
        for path in files:
            if path.suffix.lower() != ".txt" or not path.is_file():
                raise DataError(f"{path}: not a .txt file; a class folder holds one text per .txt file")
            if len(texts) >= MAX_TEXT_FILES:
                raise DataError(f"{root}: more than {MAX_TEXT_FILES} texts")
            if path.stat().st_size > MAX_TEXT_BYTES:
                raise DataError(f"{path}: more than {MAX_TEXT_BYTES} bytes")
            try:
                texts.append(path.read_bytes().decode("utf-8-sig"))
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
            if not texts[-1].strip():
                raise DataError(f"{path}: empty (a text needs at least one word)")
            labels.append(name)
    return texts, labels


def _locate_texts(data_dir=None) -> str | None:
    return str(data_dir) if data_dir and Path(data_dir).exists() else None


def _load_texts(data_dir=None, seed=0, tokenizer="tutorial") -> Dataset:
    """A user's labelled texts, split 80/20 by class with the seed; the tokenizer fitted to the 80%."""
    if not data_dir:
        raise UsageError(f"dataset 'texts' needs --data-dir PATH: {TEXTS_WHAT}")
    path = Path(data_dir)
    if path.is_dir():
        texts, names = _read_text_folder(path)
    elif path.is_file():
        texts, names = _read_table(path)
    else:
        raise DataError(f"{path}: no such file or folder (expected {TEXTS_WHAT})")
    empty = next((i for i, t in enumerate(texts) if not t.strip()), None)
    if empty is not None:
        raise DataError(f"{path}: text {empty + 1} is empty")
    classes = tuple(sorted(set(names)))
    if len(classes) < 2:
        raise DataError(f"{path}: {len(classes)} class(es); a classifier needs at least two")
    y = np.array([classes.index(n) for n in names], np.int32)
    rng = np.random.default_rng(seed)
    test = []
    for label in range(len(classes)):
        members = np.flatnonzero(y == label)
        if len(members) < 2:
            raise DataError(f"{path}: class {classes[label]!r} has {len(members)} text(s); each class needs at "
                            "least 2 (one to train on, one to test)")
        test += rng.permutation(members)[:max(1, round(len(members) * TEST_FRACTION))].tolist()
    is_test = np.zeros(len(y), bool)
    is_test[test] = True
    train_idx, test_idx = rng.permutation(np.flatnonzero(~is_test)), rng.permutation(np.flatnonzero(is_test))
    train_texts, test_texts = [texts[i] for i in train_idx], [texts[i] for i in test_idx]
    fitted = TOKENIZERS[tokenizer].fit(train_texts, BOOK_WORDS)
    source = {"path": str(path), "md5": {"texts": hashlib.md5("\0".join(texts).encode("utf-8")).hexdigest()},
              "texts": len(texts), "split": {"test_fraction": TEST_FRACTION, "stratified": True, "seed": seed},
              "coverage_test": round(fitted.coverage(test_texts), 4)}
    return Dataset("texts", classes, fitted.encode(train_texts), y[train_idx], fitted.encode(test_texts), y[test_idx],
                   source=source, spec=spec.text(fitted.length, fitted), tokenizer=fitted, test_texts=test_texts)


def _book_recipes() -> dict:
    """The book's sentiment model (7.27-7.29): Embedding(20000, 300) + LSTM(50), adam, 5 epochs, batch 128."""
    tutorial = Recipe(optimizer="adam", batch_size=128, epochs=5, validation_split=0.2,
                      params={"units": 50, "embedding_dim": 300, "batch_norm": False},
                      note="the book's NSMC model (7.27): Embedding(20000, 300) + LSTM(50) + Dense(2), adam, "
                           "5 epochs, batch 128, validation 0.2 (published test accuracy 0.80038)")
    # Measured on the full corpus (bench part nsmc): read by syllables, Kim's CNN
    # beats every word model tried; 4 epochs at batch 256 fit in about 8 minutes on 2 cores.
    tuned = Recipe(optimizer="adam", learning_rate=2e-3, batch_size=256, epochs=4, validation_split=0.0,
                   schedule="cosine", params={"embedding_dim": 128, "filters": 128, "widths": (2, 3, 4, 5)},
                   data_options={"tokenizer": "syllables"},
                   note="NSMC read by syllables (100 characters): textcnn widths 2-5 x 128, adam 2e-3 + "
                        "cosine decay, 4 epochs, batch 256")
    return {"lstm-bn": {"tutorial": tutorial}, "textcnn": {"tuned": tuned}}


TEXT_SPEC = spec.text()  # token ids: how many (25 words, 100 syllables) and which, the tokenizer option says


@zoo.hookimpl
def register_datasets(register):
    register(zoo.DatasetEntry(
        name="nsmc", summary="Naver Sentiment Movie Corpus: 150,000 + 50,000 Korean movie reviews, "
                             "negative or positive (CC0)",
        load=_load_nsmc, locate=_locate_nsmc, spec=TEXT_SPEC, class_names=NSMC_CLASSES,
        sources=("--data-dir DIR or $ZOO_DATA_DIR (ratings_train.txt and ratings_test.txt, plain or .gz)",
                 "Keras cache: $KERAS_HOME/datasets/nsmc", f"download: {NSMC_URL} (or $ZOO_NSMC_URL)"),
        recipes=_book_recipes(), augmentations=(), options=TEXT_OPTIONS))
    register(zoo.DatasetEntry(
        name="texts", summary="your own labelled texts: a CSV/TSV with text and label columns, or a folder "
                              "of .txt files per class",
        load=_load_texts, locate=_locate_texts, spec=TEXT_SPEC, needs_data_dir=True, sources=(f"--data-dir PATH: {TEXTS_WHAT}",),
        augmentations=(), options=TEXT_OPTIONS))
    register(zoo.DatasetEntry(
        name="nsmc-sample", summary="a balanced sample of NSMC shipped with zoo (4,000 + 1,000 reviews)",
        load=_load_sample, locate=lambda data_dir=None: str(SAMPLE_DIR) if _files_in(SAMPLE_DIR) else None,
        spec=TEXT_SPEC, class_names=NSMC_CLASSES, sources=(str(SAMPLE_DIR),),
        recipes=_book_recipes(), augmentations=(), options=TEXT_OPTIONS))
