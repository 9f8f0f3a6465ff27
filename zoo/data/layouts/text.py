"""The ``text`` layout: token ids (a tokenizer's output), read from sentences and ``.txt`` files.

A text model's input is int32 token ids of the tokenizer's length; the
tokenizer travels beside the run and the export (``tokenizer.json``), so
``zoo predict`` reads sentences and MediaPipe's TextClassifier reads the
vocabulary inside its file.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np

from zoo.data.images import IMAGE_SUFFIXES
from zoo.data.layouts.base import Layout
from zoo.errors import DataError


# no fields of its own: no dataclass decorator (each costs zoo predict a few ms)
class TextLayout(Layout):
    def shape_problem(self, spec) -> str | None:
        problem = super().shape_problem(spec)
        if problem is None and spec.dtype is not None and not np.issubdtype(np.dtype(spec.dtype), np.integer):
            return f"text is token ids: integers, not {spec.dtype}"
        return problem

    def default_scale(self, dtype) -> float:
        return 1.0  # token ids are used as they are

    def data_problem(self, dataset) -> str | None:
        """Text: a tokenizer, described by the spec, whose ids cover every token id in the arrays."""
        from zoo.data.tokenizer import Tokenizer

        spec = dataset.input_spec

        if not isinstance(dataset.tokenizer, Tokenizer):
            return "text needs the zoo.tokenizer.Tokenizer that made its token ids (Dataset(tokenizer=...))"
        problem = dataset.tokenizer.problem()
        if problem:
            return f"tokenizer: {problem}"
        if spec.tokenizer != dataset.tokenizer.describe():
            return "the spec's tokenizer is not the dataset's (zoo.spec.text(length, tokenizer))"
        if tuple(spec.shape) != (dataset.tokenizer.length,):
            return f"token ids of length {spec.shape[0]} but the tokenizer gives {dataset.tokenizer.length}"
        for split in ("train", "test"):
            x = getattr(dataset, f"x_{split}")
            if len(x) and (int(x.min()) < 0 or int(x.max()) >= dataset.tokenizer.size):
                return f"x_{split} holds token ids outside 0..{dataset.tokenizer.size - 1}, the tokenizer's"
        return None

    def draw(self, ax, example: np.ndarray) -> None:
        """Token ids: how many the tokenizer found, as bars of their ids."""
        ids = np.asarray(example).reshape(-1)
        ax.bar(range(len(ids)), ids, color="#555555")
        ax.set_title(f"{int((ids != 0).sum())} tokens", fontsize=7)

    def card_input(self, spec) -> dict:
        return {self.card_key: "tokenizer.json beside the file: text -> int32 token ids (the SavedModel "
                               "takes them as float32)"}

    def card_dtype(self, spec) -> str:
        return "int32"  # .tflite files of text take int32 token ids (the SavedModel float32 ids)

    def runner_settings(self, card, runner) -> dict:
        section = card.data.get("input") if isinstance(card.data.get("input"), dict) else {}
        return {"tokenizer": _text_tokenizer(card.model_file, section.get("spec") or {}, runner)}

    def gather(self, classifier, items, texts=(), word_by_word=False):
        tokenizer = classifier.tokenizer
        named = sentences(items, texts)
        if word_by_word:
            named = growing(named, tokenizer)
        coverage = [round(tokenizer.coverage([text]), 6) for _, text in named]
        return [name for name, _ in named], self.feed(classifier, [text for _, text in named]), coverage

    def feed(self, classifier, examples) -> np.ndarray:
        ids = classifier.tokenizer.encode(list(examples)).astype(np.float32)
        return classifier.runner.predict(ids) if len(ids) else np.zeros((0, 0))

    def test_inputs(self, dataset, count: int):
        """The test split's sentences as read (a dataset that keeps none leaves nothing to tokenize)."""
        return (list(dataset.test_texts[:count]) if dataset.test_texts else None), False


TEXT = TextLayout("text", "sentences, as a tokenizer's token ids", axes="token ids (a tokenizer's output)",
                  ranks=(1,), example="text", input_name="token_ids", mediapipe="text", page_input="text",
                  reads_sentences=True, card_key="from_text",
                  fitted=True, token_ids=True)


def _text_tokenizer(path: Path, spec: dict, runner):
    """The tokenizer beside a text model: present, the card's (by SHA-256), giving the file's input length."""
    from zoo.data import tokenizer

    found = tokenizer.read(path.parent / tokenizer.TOKENIZER_FILE)
    recorded = spec.get("tokenizer") if isinstance(spec.get("tokenizer"), dict) else {}
    if recorded.get("sha256") not in (None, found.digest()):
        raise DataError(f"{path.parent / tokenizer.TOKENIZER_FILE}: not the tokenizer {path.name} was trained "
                        f"with (its SHA-256 differs from the model card's)")
    if tuple(runner.image_shape) != (found.length,):
        raise DataError(f"{path.parent / tokenizer.TOKENIZER_FILE}: gives {found.length} token ids; "
                        f"{path.name} reads {list(runner.image_shape)}")
    embedded = embedded_vocabulary(path)
    if embedded is not None and embedded != found.vocabulary:
        # The phone reads the vocabulary inside the file: zoo predict reads the same one.
        import dataclasses

        return dataclasses.replace(found, vocabulary=embedded)
    return found


def embedded_vocabulary(path: Path) -> tuple | None:
    """The vocabulary a MediaPipe text classifier carries in its metadata (``vocab.txt`` in the zip
    MediaPipe appends to the flatbuffer: ``<PAD> 0``, ``<UNKNOWN> 1``, then a word and its id a line),
    or None for a file without one.

    Raises:
        DataError: a vocab.txt that is not MediaPipe's form (ids out of order, not UTF-8).
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            if "vocab.txt" not in archive.namelist() or archive.getinfo("vocab.txt").file_size > 64 << 20:
                return None
            text = archive.read("vocab.txt").decode("utf-8")
    except (zipfile.BadZipFile, OSError, KeyError):
        return None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: the vocabulary in its metadata is not UTF-8 (byte {exc.start})") from None
    rows = [line.rsplit(" ", 1) for line in text.splitlines() if line]
    if len(rows) < 2 or any(len(r) != 2 or r[1] != str(i) for i, r in enumerate(rows)) or \
            [r[0] for r in rows[:2]] != ["<PAD>", "<UNKNOWN>"]:
        raise DataError(f"{path}: the vocabulary in its metadata is not MediaPipe's '<PAD> 0', '<UNKNOWN> 1', "
                        "'word id' lines")
    return tuple(word for word, _ in rows[2:])


# A sentence file given to zoo predict: at most this many bytes, read whole.
MAX_SENTENCE_FILE_BYTES = 64 << 20
# --word-by-word: at most this many growing prefixes of one sentence (it stops sooner, where
# the prefix fills the tokenizer's length and later words can no longer change the answer).
MAX_PREFIXES = 1000


def path_kind(path: Path) -> str | None:
    """What is at ``path``: ``"file"`` for a regular file (through links), a few words for anything
    else (a directory, a FIFO, a broken link, a link loop), None where nothing is."""
    try:
        os.lstat(path)
    except (OSError, ValueError):  # nothing there, or no possible path (too long, a NUL byte)
        return None
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a symbolic link to nothing"
    except OSError as exc:
        return "a symbolic link loop" if exc.errno == errno.ELOOP else f"unreadable ({exc.strerror})"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"


def sentences(items, texts=()) -> list[tuple[str, str]]:
    """``(name, text)`` for each argument: a ``.txt`` file gives one sentence per non-empty line
    (named ``FILE:LINE``); an argument that names no path is a sentence itself; ``texts``
    (``--text``) are sentences whatever they look like.

    An argument that names a path is that file or is refused for what it is
    (an image, a directory, a FIFO): a file name is never classified as a review.
    """
    found = []
    for item in items:
        path = Path(item)
        kind = path_kind(path) if str(item).strip() else None  # Path("") is ".", not a path given
        if kind is None:
            # "notes.txt" (no space) names a file; a mistyped one must not be read as a sentence.
            if path.suffix.lower() == ".txt" and not any(c.isspace() for c in str(item)):
                raise DataError(f"{path}: no such file")
            found.append(_sentence(str(item)))
            continue
        what = kind if kind != "file" else "an image" if path.suffix.lower() in IMAGE_SUFFIXES else \
            None if path.suffix.lower() == ".txt" else "not a .txt file"
        if what is not None:
            raise DataError(f"{path}: {what}; a text model reads sentences and .txt files of them "
                            "(a sentence that names a path: --text)")
        if path.stat().st_size > MAX_SENTENCE_FILE_BYTES:
            raise DataError(f"{path}: more than {MAX_SENTENCE_FILE_BYTES >> 20} MiB, the most a .txt file "
                            "given to zoo predict may hold")
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        lines = [(f"{path}:{n}", line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        if not lines:
            raise DataError(f"{path}: holds no sentences")
        found += lines
    return found + [_sentence(str(text)) for text in texts]


def _sentence(text: str) -> tuple[str, str]:
    if not text.strip():
        raise DataError("an empty sentence: give text, or a .txt file of sentences")
    return text, text


def growing(named, tokenizer) -> list[tuple[str, str]]:
    """Each sentence as it grows, one space-separated word at a time (the book's 7.31), each prefix
    named by itself; a sentence stops growing once its prefix fills the tokenizer's length (the
    words after it are cut anyway), or after ``MAX_PREFIXES``: output and memory stay bounded
    whatever the sentence's length."""
    found = []
    for _, text in named:
        prefix = None
        for count, word in enumerate(text.split(" "), start=1):
            prefix = word if prefix is None else f"{prefix} {word}"
            found.append((prefix, prefix))
            if count >= MAX_PREFIXES or len(tokenizer.tokens(prefix)) >= tokenizer.length:
                break
    return found
