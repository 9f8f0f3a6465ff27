"""Text generation datasets: a corpus cut into windows, each followed by the token to predict.

The book's last RNN sections (7.32-7.51) train on the Annals of the Joseon
Dynasty (26 million characters, not reachable offline): the text is split
into tokens (words, or jamo with ``jamotools``), cut into windows of 80
tokens (25 words), and a model learns the token that follows each window;
it then writes by repeatedly appending the most likely next token
(``zoo.generate``). Here the corpus is a plain-text file of yours
(``corpus``) or, offline out of the box, the movie reviews of the NSMC
sample shipped with zoo (``nsmc-corpus``; NSMC is CC0), one review a line.

The tokenizer (``zoo.tokenizer``: ``jamo`` as the book's second model, or
``char``) is fitted to the training text and recorded with the run, so
``zoo generate`` continues a prompt tokenized exactly as training was.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

import zoo
from zoo.data import spec
from zoo.data.dataset import Dataset
from zoo.errors import DataError, UsageError
from zoo.api.registry import Param, Recipe
from zoo.data.tasks import Generation, token_label
from zoo.data.tokenizer import Tokenizer
from zoo_plugins.text import MAX_TEXT_BYTES, SAMPLE_DIR, _files_in, read_reviews

# The book's jamo model reads 80 tokens (7.48); its vocabulary is every symbol of the text.
WINDOW = 80
TOKENIZERS = {
    "jamo": Tokenizer(length=WINDOW, level="jamo", clean=(), lower=False, token_length=None, unknown="oov",
                      padding="pre", name="jamo"),
    "char": Tokenizer(length=WINDOW, level="char", clean=(), lower=False, token_length=None, unknown="oov",
                      padding="pre", name="char"),
}
MAX_SYMBOLS = 20000  # ids, as Keras' num_words counts them: rarer symbols become [UNK]
# The book cuts its text into windows that do not overlap (stride 81). A corpus that
# fits a 2-core CPU is about 100 times smaller than the book's, so windows start every
# STRIDE tokens: each token is predicted from several different windows before it.
STRIDE = 9
HELD_OUT = 0.1  # a user's corpus: the last tenth of its lines are the held-out text
PROMPT_CHARACTERS = 12  # the report's samples start from the held-out lines' first characters
NAMES = {0: "<pad>", 1: "<unk>"}  # no single-character token can be named so

OPTIONS = {"tokenizer": Param("jamo", "how the corpus becomes tokens: jamo (each Hangul syllable split into its "
                                      "letters, the book's second model) or char (characters)",
                              choices=tuple(TOKENIZERS))}


def read_corpus(path: Path) -> list[str]:
    """The non-empty lines of a UTF-8 plain-text file (a BOM and CRLF line ends allowed).

    Raises:
        DataError: missing, too large, not UTF-8, or holding no text (named by file and line).
    """
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise DataError(f"{path}: {size} bytes, more than the {MAX_TEXT_BYTES} zoo reads from a text file")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder; give a plain-text file (UTF-8, one passage per line)") from None
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not UTF-8 text") from None
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        raise DataError(f"{path}: holds no text (empty, or only white space)")
    return lines


def windows(ids: np.ndarray, length: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: windows of ``length`` ids starting every ``stride`` ids, each with the id after it."""
    starts = np.arange(0, len(ids) - length, stride)
    x = ids[starts[:, None] + np.arange(length)]
    return x.astype(np.int32), ids[starts + length].astype(np.int32)


def corpus_dataset(name: str, train_lines: list, test_lines: list, tokenizer: str, source: dict,
                   where: str) -> Dataset:
    """Windows of the training and held-out lines (joined by newlines: the model learns where a line ends)."""
    train_text, test_text = "\n".join(train_lines) + "\n", "\n".join(test_lines) + "\n"
    fitted = TOKENIZERS[tokenizer].fit([train_text], MAX_SYMBOLS, whole=True)
    ids = {split: np.asarray(fitted.ids(text), np.int64) for split, text in
           (("train", train_text), ("test", test_text))}
    for split, found in ids.items():
        if len(found) <= fitted.length:
            raise DataError(f"{where}: its {'held-out' if split == 'test' else 'training'} text has "
                            f"{len(found)} {fitted.level} tokens, fewer than one window of "
                            f"{fitted.length + 1} ({fitted.length} read, then the next)")
    x_train, y_train = windows(ids["train"], fitted.length, STRIDE)
    x_test, y_test = windows(ids["test"], fitted.length, STRIDE)
    tokens = [NAMES.get(i) or token_label(fitted.vocabulary[i - fitted.first_word_id]) for i in range(fitted.size)]
    source = {**source, "tokens": {"train": int(len(ids["train"])), "test": int(len(ids["test"]))},
              "windows": {"length": fitted.length, "stride": STRIDE}, "coverage_test": round(float(np.mean(ids["test"] != 1)), 4)}
    prompts = [line[:PROMPT_CHARACTERS] for line in test_lines[:3]]
    return Dataset(name, tuple(tokens), x_train, y_train, x_test, y_test, source=source,
                   spec=spec.text(fitted.length, fitted), task=Generation(tuple(tokens)), tokenizer=fitted,
                   test_texts=prompts)


def _load_sample_corpus(data_dir=None, seed=0, tokenizer="jamo") -> Dataset:
    """The shipped NSMC sample's reviews: training reviews to learn from, test reviews held out."""
    found = _files_in(SAMPLE_DIR)
    if found is None:
        raise DataError(f"{SAMPLE_DIR}: the NSMC sample shipped with zoo is missing (reinstall zoo)")
    train, test = found
    train_lines, _ = read_reviews(train)
    test_lines, _ = read_reviews(test)
    train_lines = [t.strip() for t in train_lines if t.strip()]
    test_lines = [t.strip() for t in test_lines if t.strip()]
    source = {"path": str(SAMPLE_DIR), "md5": {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in (train, test)},
              "lines": {"train": len(train_lines), "test": len(test_lines)}, "licence": "CC0 (NSMC)"}
    return corpus_dataset("nsmc-corpus", train_lines, test_lines, tokenizer, source, str(SAMPLE_DIR))


def _load_corpus(data_dir=None, seed=0, tokenizer="jamo") -> Dataset:
    """A plain-text file: its last tenth of lines held out (not shuffled: text runs on from line to line)."""
    if not data_dir:
        raise UsageError("dataset 'corpus' needs --data-dir FILE: a UTF-8 plain-text file")
    path = Path(data_dir)
    lines = read_corpus(path)
    cut = len(lines) - max(1, int(round(len(lines) * HELD_OUT)))
    if cut < 1:
        raise DataError(f"{path}: {len(lines)} line(s); a corpus needs at least two (the last tenth is held out)")
    source = {"path": str(path), "md5": {path.name: hashlib.md5(path.read_bytes()).hexdigest()},
              "lines": {"train": cut, "test": len(lines) - cut}}
    return corpus_dataset("corpus", lines[:cut], lines[cut:], tokenizer, source, str(path))


def _book_recipes() -> dict:
    """The book's jamo model (7.49): Embedding(V, 100) + LSTM(400) + Dense(V), adam, batch 256."""
    tutorial = Recipe(optimizer="adam", batch_size=256, epochs=10, validation_split=0.0,
                      params={"units": 400, "embedding_dim": 100, "batch_norm": False},
                      note="the book's jamo-level model (7.49): Embedding(V, 100) + LSTM(400) + Dense(V), "
                           "adam, batch 256; 10 epochs instead of 100 (about 80 s each on 2 cores)")
    return {"lstm-bn": {"tutorial": tutorial}}


TEXT_SPEC = spec.text(WINDOW)


@zoo.hookimpl
def register_datasets(register):
    register(zoo.DatasetEntry(
        name="nsmc-corpus", summary="text generation: the NSMC sample's reviews as one corpus (CC0), "
                                    "windows of 80 jamo and the next",
        load=_load_sample_corpus, locate=lambda data_dir=None: str(SAMPLE_DIR) if _files_in(SAMPLE_DIR) else None,
        spec=TEXT_SPEC, task=None, sources=(str(SAMPLE_DIR),), recipes=_book_recipes(), augmentations=(),
        options=OPTIONS))
    register(zoo.DatasetEntry(
        name="corpus", summary="text generation: your plain-text file, windows of 80 jamo and the next",
        load=_load_corpus, locate=lambda data_dir=None: data_dir if data_dir and Path(data_dir).is_file() else None,
        spec=TEXT_SPEC, needs_data_dir=True, sources=("--data-dir FILE: UTF-8 plain text, one passage a line",),
        recipes=_book_recipes(), augmentations=(), options=OPTIONS))
