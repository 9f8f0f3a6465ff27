r"""A tokenizer described as data: text becomes a fixed number of token ids, the same way everywhere.

Keras 3 no longer has ``keras.preprocessing.text.Tokenizer``, and
``TextVectorization`` does not convert to builtin LiteRT ops, so
tokenization lives outside the model, as MediaPipe's text classifier keeps
it (a regex tokenizer and a vocabulary in the file's metadata). One
``Tokenizer`` is fitted to a dataset's training texts, recorded with the run
(``tokenizer.json``) and the export, and read by training, ``zoo predict``
(NumPy only, no TensorFlow) and the model card alike.

The steps, each a field:

1. ``clean``: regular-expression substitutions applied in order (Python
   ``re``), e.g. the book's ``clean_str``, which keeps Hangul, Latin
   letters, digits and ``(),!?'`` and spaces punctuation out;
2. ``lower``: lower case;
3. ``split``: the separator of ``str.split`` (the book splits on one space,
   so ``"a  b"`` would give an empty word between: the cleaning collapses
   runs of spaces first); or, with ``delimiter``, the non-empty pieces between
   matches of that regular expression, as MediaPipe's regex tokenizer splits;
4. ``token_length``: each word cut to its first characters (the book: 5);
5. ``length``: the first ``length`` words are kept, then words outside the
   vocabulary are dropped (``unknown="drop"``, the book's Keras Tokenizer
   with ``num_words``) or become the ``[UNK]`` id (``unknown="oov"``);
6. padding with id 0 at the end (``"post"``) up to ``length``.

Ids: 0 is padding; with ``unknown="oov"`` 1 is ``[UNK]``; the vocabulary's
words follow, most frequent first (ties in order of first appearance, as
Keras' Tokenizer counts them).

**What MediaPipe can reproduce.** MediaPipe's text classifier tokenizes on
the phone by the file's metadata: a delimiter regular expression (RE2) and a
vocabulary file, case-sensitive, no cleaning, no cut of words, unknown words
as ``<UNKNOWN>``, padding ``<PAD>`` at the end (mediapipe's
``regex_tokenizer.cc`` and ``regex_preprocessor_calculator.cc``). So the
book's tokenizer (cleaning rules, lower case, words cut to 5) cannot be
carried into a MediaPipe file; the ``mediapipe`` tokenizer is the one it can:
``delimiter`` only, ``lower=False``, ``unknown="oov"``. Its delimiter names
the characters of a word by explicit ranges, which RE2 and Python read alike:
MediaPipe's default ``[^\w']+`` means ASCII letters in RE2 (every Hangul
syllable becomes a delimiter and the review is lost) but Unicode letters in
Python, so the two would tokenize differently.
"""
from __future__ import annotations

import collections
import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field

import numpy as np

from zoo import jsonfile
from zoo.errors import DataError

TOKENIZER_FILE = "tokenizer.json"
FORMAT = "zoo-tokenizer"
VERSION = 1
# word: pieces between separators; char: every character; jamo: every character after Unicode's
# canonical decomposition (NFD), which splits each Hangul syllable into its jamo (가 -> ᄀ ᅡ).
LEVELS = ("word", "char", "jamo")
UNKNOWN = ("drop", "oov")
PADDING = ("post", "pre")
# The most a vocabulary may hold: an Embedding of 1,000,000 x 300 float32 is 1.2 GB.
MAX_VOCABULARY = 1_000_000
MAX_LENGTH = 10_000

# The book's clean_str (7.22; from yoonkim/CNN_sentence), as data: pattern, replacement.
# The replacements " \\( ", " \\) " and " \\? " are kept as the book wrote them: Python's
# re.sub leaves an unknown escape such as "\\(" as it is, so its tokens hold a backslash.
BOOK_CLEANING = (
    (r"[^가-힣A-Za-z0-9(),!?\'\`]", " "),
    (r"\'s", " \'s"),
    (r"\'ve", " \'ve"),
    (r"n\'t", " n\'t"),
    (r"\'re", " \'re"),
    (r"\'d", " \'d"),
    (r"\'ll", " \'ll"),
    (r",", " , "),
    (r"!", " ! "),
    (r"\(", " \\( "),
    (r"\)", " \\) "),
    (r"\?", " \\? "),
    (r"\s{2,}", " "),
    (r"\'{2,}", "\'"),
    (r"\'", ""),
)


@dataclass(frozen=True)
class Tokenizer:
    """How text becomes ``length`` token ids (see the module's docstring for the steps)."""

    length: int = 25
    level: str = "word"
    clean: tuple = BOOK_CLEANING
    lower: bool = True
    split: str = " "
    token_length: int | None = 5
    unknown: str = "drop"
    padding: str = "post"
    vocabulary: tuple = field(default=(), repr=False)
    name: str = "tutorial"
    delimiter: str | None = None

    # --- what it is ---------------------------------------------------------------------------
    @property
    def first_word_id(self) -> int:
        """The id of the vocabulary's first word: after padding (0) and, with ``oov``, ``[UNK]`` (1)."""
        return 2 if self.unknown == "oov" else 1

    @property
    def size(self) -> int:
        """Ids in use, padding included: what an Embedding's ``input_dim`` must be."""
        return self.first_word_id + len(self.vocabulary)

    def problem(self) -> str | None:
        """What is wrong with this description, or None."""
        def whole(value, low, high):
            return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

        if self.level not in LEVELS:
            return f"level {str(self.level)[:20]!r} is not one of {', '.join(LEVELS)}"
        if not whole(self.length, 1, MAX_LENGTH):
            return f"length must be an integer in 1..{MAX_LENGTH}. Received: {str(self.length)[:20]}"
        if self.token_length is not None and not whole(self.token_length, 1, MAX_LENGTH):
            return f"token_length must be a positive integer or null. Received: {str(self.token_length)[:20]}"
        if self.unknown not in UNKNOWN or self.padding not in PADDING:
            return f"unknown must be one of {', '.join(UNKNOWN)} and padding one of {', '.join(PADDING)}"
        if not isinstance(self.lower, bool) or not isinstance(self.split, str) or not self.split:
            return "lower must be true or false and split a non-empty string"
        if not isinstance(self.clean, tuple) or not all(
                isinstance(rule, (tuple, list)) and len(rule) == 2 and all(isinstance(r, str) for r in rule)
                for rule in self.clean):
            return "clean must be a list of [pattern, replacement] pairs of strings"
        for pattern in [rule[0] for rule in self.clean] + ([self.delimiter] if self.delimiter is not None else []):
            try:
                if not isinstance(pattern, str) or re.compile(pattern).match("") is not None:
                    return f"pattern {str(pattern)[:40]!r} matches nothing at all (an empty match): give characters"
            except re.error as exc:
                return f"pattern {pattern[:40]!r} is not a regular expression ({exc})"
        vocabulary = self.vocabulary
        if not isinstance(vocabulary, tuple) or not all(isinstance(w, str) for w in vocabulary):
            return "vocabulary must be a list of strings"
        if len(vocabulary) > MAX_VOCABULARY:
            return f"vocabulary holds {len(vocabulary)} words, more than {MAX_VOCABULARY}"
        if len(set(vocabulary)) != len(vocabulary):
            return "a word appears twice in the vocabulary"
        return None

    # --- text to tokens to ids ------------------------------------------------------------------
    def tokens(self, text: str) -> list[str]:
        """The words (or characters) of ``text`` after cleaning, cutting and truncating to ``length``."""
        return self.pieces(text)[:self.length]

    def pieces(self, text: str) -> list[str]:
        """All the tokens of ``text``, however many: what ``tokens`` truncates, and what a generation
        corpus is cut into windows from.

        The text is composed (Unicode NFC) first: macOS file names and some
        editors write Hangul decomposed (NFD, jamo by jamo), and the same
        review must give the same tokens however it was typed.
        """
        text = unicodedata.normalize("NFC", text)
        for pattern, replacement in self.clean:
            text = re.sub(pattern, replacement, text)
        if self.lower:
            text = text.lower()
        if self.level == "char":
            pieces = list(text)
        elif self.level == "jamo":
            # The book splits syllables with jamotools (compatibility jamo, which join back only by
            # guessing which consonant closes a syllable); NFD is exact: NFC joins its jamo back.
            pieces = list(unicodedata.normalize("NFD", text))
        elif self.delimiter is not None:  # MediaPipe's rule: the non-empty pieces between delimiters
            pieces = [piece for piece in _pieces(text, self.delimiter) if piece]
        else:
            pieces = text.split(self.split)
        if self.token_length is not None:
            pieces = [piece[:self.token_length] for piece in pieces]
        return pieces

    def join(self, tokens) -> str:
        """Tokens back into text: words with the separator between, characters and jamo as they are
        (jamo joined into syllables again)."""
        if self.level == "word":
            return self.split.join(tokens)
        text = "".join(tokens)
        return unicodedata.normalize("NFC", text) if self.level == "jamo" else text

    def ids(self, text: str) -> list[int]:
        """Every token of ``text`` as its id (unknown tokens as ``unknown`` says), untruncated, unpadded."""
        return self._ids_of(self.pieces(text))

    def _ids_of(self, tokens) -> list[int]:
        """Tokens as ids: an unknown one becomes ``[UNK]`` (``oov``) or is dropped (``drop``)."""
        index = self._index()
        unknown = 1 if self.unknown == "oov" else None
        return [i for i in (index.get(token, unknown) for token in tokens) if i is not None]

    def encode(self, texts) -> np.ndarray:
        """``(N, length)`` int32 token ids of ``texts`` (a list of str)."""
        out = np.zeros((len(texts), self.length), np.int32)
        for row, text in enumerate(texts):
            ids = self._ids_of(self.tokens(text))
            if ids:
                if self.padding == "post":
                    out[row, :len(ids)] = ids
                else:
                    out[row, self.length - len(ids):] = ids
        return out

    def decode(self, ids) -> list[str]:
        """The tokens of one row of ids (padding left out)."""
        words = {i + self.first_word_id: w for i, w in enumerate(self.vocabulary)}
        words[1] = words.get(1, "[UNK]") if self.unknown == "oov" else words.get(1)
        return [words.get(int(i), "[?]") for i in ids if int(i) != 0]

    def coverage(self, texts) -> float:
        """The share of ``texts``' tokens (within ``length``) that the vocabulary knows.

        Empty pieces (what the book's cleaning and split leave between two
        spaces) are no words: a text of emoji alone has nothing known, even
        where the vocabulary learnt the empty piece.
        """
        index = self._index()
        total = known = 0
        for text in texts:
            tokens = [token for token in self.tokens(text) if token]
            total += len(tokens)
            known += sum(token in index for token in tokens)
        return known / total if total else 0.0

    def _index(self) -> dict:
        cached = self.__dict__.get("_cached_index")
        if cached is None:
            cached = {word: i + self.first_word_id for i, word in enumerate(self.vocabulary)}
            object.__setattr__(self, "_cached_index", cached)
        return cached

    # --- fitting --------------------------------------------------------------------------------
    def fit(self, texts, words: int, whole: bool = False) -> Tokenizer:
        """This tokenizer with a vocabulary of ``texts``' most frequent tokens.

        ``words`` counts ids as Keras' ``Tokenizer(num_words=words)`` does:
        padding takes one, so ``words - 1`` words are kept (the book's 20,000
        gives 19,999); ties keep their order of first appearance. Tokens are
        counted as ``tokens`` gives them (cut and truncated), as the book
        fitted its Tokenizer on the cut sentences; ``whole`` counts every token
        instead (a generation corpus, read in windows all through).
        """
        counts = collections.Counter()
        for text in texts:
            counts.update(self.pieces(text) if whole else self.tokens(text))
        keep = max(0, words - self.first_word_id)
        # Counter.most_common sorts stably: ties stay in order of first appearance.
        vocabulary = tuple(word for word, _ in counts.most_common(keep))
        return Tokenizer(**{**self._fields(), "vocabulary": vocabulary})

    # --- as data --------------------------------------------------------------------------------
    def _fields(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def to_dict(self) -> dict:
        data = asdict(self)
        data["clean"] = [list(rule) for rule in self.clean]
        data["vocabulary"] = list(self.vocabulary)
        return {"format": FORMAT, "version": VERSION, **data}

    def describe(self) -> dict:
        """What a model card and config.json say of it (the vocabulary is in ``tokenizer.json``)."""
        data = self.to_dict()
        data.pop("vocabulary")
        return {**data, "ids": self.size, "file": TOKENIZER_FILE, "sha256": self.digest()}

    def digest(self) -> str:
        """SHA-256 of the description; fields left None are left out, so a field added later (None by
        default) does not change the digest of a tokenizer recorded before it."""
        data = {k: v for k, v in self.to_dict().items() if v is not None}
        return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, data: dict, where: str = "tokenizer") -> Tokenizer:
        """The tokenizer a ``tokenizer.json`` describes, checked.

        Raises:
            DataError: not a zoo tokenizer, or a field zoo cannot use (named with ``where``).
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"{where}: not a zoo tokenizer (no \"format\": \"{FORMAT}\")")
        if data.get("version") != VERSION:
            raise DataError(f"{where}: tokenizer version {str(data.get('version'))[:20]} is not {VERSION}")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__) - {"format", "version"})
        if unknown:
            raise DataError(f"{where}: unknown field(s) {', '.join(k[:40] for k in unknown[:5])}")
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("clean", "vocabulary"):
            if isinstance(fields.get(key), list):
                fields[key] = tuple(tuple(v) if isinstance(v, list) else v for v in fields[key])
        try:
            tokenizer = cls(**fields)
        except TypeError as exc:
            raise DataError(f"{where}: {exc}") from None
        problem = tokenizer.problem()
        if problem:
            raise DataError(f"{where}: {problem}")
        return tokenizer


def _pieces(text: str, delimiter: str) -> list[str]:
    """``text`` cut at every match of ``delimiter`` (its own groups, if any, are not pieces)."""
    pieces, start = [], 0
    for match in re.finditer(delimiter, text):
        pieces.append(text[start:match.start()])
        start = match.end()
    pieces.append(text[start:])
    return pieces


# Letters of a Korean or English word, digits and the apostrophe, by explicit ranges:
# Hangul syllables (가-힣) and compatibility jamo (ㄱ-ㅣ, as in "ㅋㅋ").
MEDIAPIPE_DELIMITER = "[^0-9A-Za-z\u3131-\u3163\uac00-\ud7a3']+"
# The tokenizer a MediaPipe text classifier reproduces on the phone (see the module's docstring).
MEDIAPIPE = Tokenizer(length=25, clean=(), lower=False, token_length=None, unknown="oov", padding="post",
                      name="mediapipe", delimiter=MEDIAPIPE_DELIMITER)
# Syllables: Korean words are long and inflected (영화는, 영화가, 영화를 ...), so a
# vocabulary of whole words leaves most of a review unknown or cut; its 2,000-odd
# syllables cover nearly every character. The cleaning keeps Hangul syllables,
# the bare jamo reviewers type (ㅋㅋ, ㅠㅠ), Latin letters, digits and the
# punctuation that carries tone, and folds runs of spaces; 100 characters hold
# all but the longest reviews (NSMC's are under 140).
SYLLABLE_CLEANING = ((r"[^가-힣ㄱ-ㅣA-Za-z0-9!?.,~^ ]", " "), (r" {2,}", " "))
SYLLABLES = Tokenizer(length=100, level="char", clean=SYLLABLE_CLEANING, lower=True, token_length=None,
                      unknown="oov", padding="post", name="syllables")
TOKENIZERS = {"tutorial": Tokenizer(), "mediapipe": MEDIAPIPE, "syllables": SYLLABLES}


def mediapipe_problem(tokenizer: Tokenizer) -> str | None:
    """Why MediaPipe's regex tokenizer cannot reproduce ``tokenizer``, or None."""
    if tokenizer.clean or tokenizer.lower or tokenizer.token_length is not None or tokenizer.level != "word":
        return (f"the '{tokenizer.name}' tokenizer cleans, lower-cases or cuts words, which MediaPipe's regex "
                "tokenizer cannot do on the phone; train with --tokenizer mediapipe")
    if tokenizer.delimiter is None or tokenizer.unknown != "oov" or tokenizer.padding != "post":
        return "MediaPipe's regex tokenizer needs a delimiter, unknown words as one id and padding at the end"
    return None


def mediapipe_vocabulary(tokenizer: Tokenizer) -> str:
    """The vocabulary file MediaPipe reads: ``token id`` per line, with its <PAD> and <UNKNOWN>."""
    lines = ["<PAD> 0", "<UNKNOWN> 1"] + [f"{word} {i + tokenizer.first_word_id}"
                                         for i, word in enumerate(tokenizer.vocabulary)]
    return "\n".join(lines) + "\n"


def read(path) -> Tokenizer:
    """A ``tokenizer.json`` file, checked (at most 64 MiB)."""
    from pathlib import Path

    path = Path(path)
    try:
        if path.stat().st_size > 64 << 20:
            raise DataError(f"{path}: {path.stat().st_size} bytes, more than a tokenizer may have (64 MiB)")
        data = jsonfile.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file (the model's tokenizer)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: unreadable ({str(exc).splitlines()[0][:160]})") from None
    return Tokenizer.from_dict(data, str(path))


def write(tokenizer: Tokenizer, path) -> None:
    """Write ``tokenizer.json`` (UTF-8, one word per line of the vocabulary's list)."""
    from pathlib import Path

    Path(path).write_text(json.dumps(tokenizer.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
