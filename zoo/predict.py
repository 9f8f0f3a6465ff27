"""Classify image files with an exported .tflite model, on LiteRT alone.

This is the on-device story: nothing here (or in what it imports) imports
TensorFlow or Keras. Images of any size and mode are read as the training data
was: gray or colour as the model's input has channels, resized to its input
size, then scaled as the model
card's ``input.from_image_file`` says (an image file's 0 and 255 are the
dataset's black and white, however the dataset stored them).
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo import runs
from zoo.errors import DataError, UsageError, ZooError
from zoo.images import IMAGE_SUFFIXES, load_image
from zoo.litert import LiteRTModel

EXPORT_DIR = "export"  # as zoo.export.EXPORT_DIR, without importing the export machinery
MODEL_FILE = "model.tflite"
CARD = "model_card.json"
LABELS = "labels.txt"
TOKENIZER_FILE = "tokenizer.json"  # as zoo.tokenizer.TOKENIZER_FILE, imported only for text models
DEFAULT_PIXEL_SCALE = 1.0 / 255.0


@dataclass
class Classifier:
    """A .tflite model with what is needed to feed it and name its outputs."""

    path: Path
    runner: LiteRTModel
    class_names: list
    scale: float  # model input = float32(8-bit pixel) * scale + offset
    offset: float = 0.0
    task: str = "classification"  # or "regression": the outputs are values, named by class_names
    layout: str = "image"  # or "sequence"/"vector": examples come from .npy/.csv files; "text": sentences
    tokenizer: object = None  # text: the zoo.tokenizer.Tokenizer beside the file
    color: str = "gray"  # images: "gray", "rgb" or "rgba", as the model's channels say
    array_scale: float = 1.0  # arrays: model input = stored value * array_scale + array_offset
    array_offset: float = 0.0

    def read(self, path) -> np.ndarray:
        """One image file as the model's input shape: gray or colour, resized, still 8-bit."""
        shape = self.runner.image_shape
        pixels = load_image(path, shape[:2], self.color)
        return pixels[..., None] if len(shape) == 3 and shape[2] == 1 else pixels

    def inputs(self, images: list) -> np.ndarray:
        """8-bit images as the model reads them, as the model card says."""
        return np.stack(images).astype(np.float32) * np.float32(self.scale) + np.float32(self.offset)

    def probabilities(self, images: list) -> np.ndarray:
        return self.runner.predict(self.inputs(images))

    def run(self, examples) -> np.ndarray:
        """The file's outputs for examples as a user holds them: 8-bit images (gray ones given to a
        colour file are replicated into R, G and B), stored arrays, or texts; scaled, tokenized
        and fed as its card says. ``zoo predict`` answers with this; ``zoo export`` checks every
        file through it before publishing."""
        if self.layout == "text":
            ids = self.tokenizer.encode(list(examples)).astype(np.float32)
            return self.runner.predict(ids) if len(ids) else np.zeros((0, 0))
        if self.layout != "image":
            x = np.asarray(examples, np.float32) * np.float32(self.array_scale) + np.float32(self.array_offset)
            return self.runner.predict(x) if len(x) else np.zeros((0, 0))
        pixels = np.asarray(examples)
        shape = self.runner.image_shape
        if len(shape) == 3 and shape[2] == 3 and (pixels.ndim == 3 or pixels.shape[-1] == 1):
            pixels = np.repeat(pixels.reshape(*pixels.shape[:3], 1), 3, axis=3)
        elif len(shape) == 3 and shape[2] == 1 and pixels.ndim == 3:
            pixels = pixels[..., None]
        return self.probabilities(list(pixels)) if len(pixels) else np.zeros((0, 0))


def find_model(model: str) -> Path:
    """The .tflite file MODEL means: a .tflite file, an export directory, or a run.

    A run (a directory or a name under the runs root) means its
    ``export/model.tflite``.
    """
    path = Path(model)
    if path.is_file() or path.suffix == ".tflite":
        return path
    if path.is_dir() and (path / MODEL_FILE).is_file():
        return path / MODEL_FILE  # an export directory
    run_dir = runs.resolve_run(model, need_model=False)
    exported = run_dir / EXPORT_DIR / MODEL_FILE
    if not exported.is_file():
        raise ZooError(f"{run_dir}: has no exported model ({exported} not found); "
                       f"run: zoo export {model} --tflite")
    return exported


def _read_card(path: Path) -> dict:
    card = path.parent / CARD
    return runs.read_json(card) if card.is_file() else {}


def _field(card: dict, key: str, kind, path: Path, default=None):
    """``card[key]`` checked to be a ``kind`` (a damaged or hand-edited card is named, never trusted)."""
    value = card.get(key, default)
    if value is default:
        return value
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataError(f"{path.parent / CARD}: '{key}' must be a {names}, found {type(value).__name__}")
    return value


def _names(values, what: str, where: Path) -> list:
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise DataError(f"{where}: {what} must be a list of non-empty names")
    return values


def _read_labels(labels: Path) -> list:
    try:
        text = labels.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{labels}: not UTF-8 text (byte {exc.start})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def load(model: str) -> Classifier:
    """Open MODEL with LiteRT, with its class names and normalisation.

    Class names and the pixel scale come from the ``model_card.json`` beside
    the file, else ``labels.txt``; without either, classes are numbered and
    pixels scaled by 1/255. Every field read from the card is checked (type,
    finite numbers, the input shape against the file's), so a damaged card is
    refused by name instead of giving wrong answers.
    """
    path = find_model(model)
    runner = LiteRTModel(path)
    card = _read_card(path)
    card_path = path.parent / CARD
    classes = runner.describe()["output"]["shape"][-1]
    if any(d < 1 for d in runner.image_shape):
        raise DataError(f"{path}: its input has sizes that vary ({runner.input_shape}); zoo predict needs "
                        "a model whose example shape is fixed, as zoo export writes them")
    if not card and runner.input_dtype == "int32":
        raise DataError(f"{path}: reads int32 token ids, so it is a text model, and has no model_card.json and "
                        f"{TOKENIZER_FILE} beside it; give its export folder or run (zoo predict RUN TEXT)")
    described = _field(card, "task", dict, path, {})
    task = described.get("kind", "classification")
    if task not in ("classification", "regression", "generation"):
        raise DataError(f"{card_path}: task.kind {str(task)[:40]!r} is not classification, regression "
                        "or generation")
    if task != "regression":  # a generation model's "classes" are its tokens, named printably
        names = _field(card, "class_names", list, path)
        names = _names(names, "'class_names'", card_path) if names is not None else None
    else:
        names = _names(described.get("outputs"), "task.outputs", card_path) if "outputs" in described else None
    labels = path.parent / LABELS
    if not names and labels.is_file():
        names = _read_labels(labels)
    if not names:
        names = [str(i) for i in range(classes)]
    if len(names) != classes:
        raise DataError(f"{path}: gives {classes} {'classes' if task == 'classification' else 'outputs'} "
                        f"but its labels name {len(names)}")
    section = _field(card, "input", dict, path, {})
    _number(section.get("pixel_scale"), "input.pixel_scale", card_path)  # checked even where unused
    entry = _file_entry(card, path)
    shape = section.get("shape")
    fits = [list(shape[1:])] if isinstance(shape, list) else []
    if str(entry.get("variant", "")).startswith("mediapipe") and fits and len(fits[0]) in (2, 3):
        fits.append(fits[0][:2] + [3])  # MediaPipe's files of a gray model read RGB (a luma front end inside)
    if shape is not None and list(runner.image_shape) not in fits:
        raise DataError(f"{card_path}: input.shape {str(shape)[:80]} does not fit {path.name}, which reads "
                        f"{[None, *runner.image_shape]}; the card belongs to another model")
    spec = section.get("spec", {})
    if not isinstance(spec, dict):
        raise DataError(f"{card_path}: input.spec must be an object, found {type(spec).__name__}")
    if spec.get("layout") == "text":
        return Classifier(path, runner, list(names), 1.0, 0.0, task, "text",
                          tokenizer=_text_tokenizer(path, spec, runner))
    if "from_array_file" not in section:
        layout = "image"
    elif spec.get("layout") in ("sequence", "vector"):
        layout = spec["layout"]
    else:  # cards written before the input spec: "sequence: 100 x 2 ..."
        layout = str(section.get("layout", "sequence")).split(":")[0]
        if layout not in ("sequence", "vector"):
            raise DataError(f"{card_path}: input.layout {layout[:40]!r} is not sequence or vector")
    if layout == "image":
        scale, offset = image_scaling(card, path, entry)
        shape = runner.image_shape
        channels = {1: "gray", 3: "rgb", 4: "rgba"}.get(shape[2]) if len(shape) == 3 else "gray"
        if len(shape) not in (2, 3) or channels is None:
            raise DataError(f"{path}: expects input of shape {runner.input_shape}; zoo predict reads "
                            "images (batch, height, width) or (batch, height, width, 1, 3 or 4 channels)")
        return Classifier(path, runner, list(names), scale, offset, task, color=channels)
    array_scale = _number(spec.get("scale", section.get("pixel_scale", 1.0)), "input.spec.scale", card_path)
    array_offset = _number(spec.get("offset", 0.0), "input.spec.offset", card_path)
    if array_scale is None or array_scale <= 0:
        raise DataError(f"{card_path}: input.spec.scale must be a positive number")
    return Classifier(path, runner, list(names), 1.0, 0.0, task, layout, array_scale=array_scale,
                      array_offset=array_offset or 0.0)


def _text_tokenizer(path: Path, spec: dict, runner):
    """The tokenizer beside a text model: present, the card's (by SHA-256), giving the file's input length."""
    from zoo import tokenizer

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


def _number(value, key: str, where: Path) -> float | None:
    """A finite number from a card (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise DataError(f"{where}: {key} must be a finite number, found {str(value)[:40]!r}")
    return float(value)


# A .csv given to zoo predict is read whole: at most this many bytes.
MAX_CSV_BYTES = 256 * 1024**2


def load_examples(path, shape: tuple) -> tuple[np.ndarray, bool]:
    """The examples in a ``.npy`` (no pickle) or ``.csv`` file, as ``(N, *shape)``, and whether it held a batch.

    A file holds one example of the model's ``shape``, or N of them behind a
    leading batch axis (a batch of one too). A CSV holds rows: N rows of a
    vector model's features (one column of them is one example too), or one
    sequence's time steps. A ``.npy`` header is checked against ``shape``
    before its data is read.
    """
    path = Path(path)
    shape = tuple(shape)
    if not path.is_file():
        raise DataError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        from zoo.arrays import load_npy, npy_header

        header = npy_header(path)
        if header.shape != shape and header.shape[1:] != shape:
            raise DataError(f"{path}: holds an array of shape {list(header.shape)}; the model reads "
                            f"{list(shape)} (one example, or N of them as {['N', *shape]})")
        array = load_npy(path)
    elif suffix == ".csv":
        if path.stat().st_size > MAX_CSV_BYTES:
            raise DataError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_CSV_BYTES} a .csv "
                            "given to zoo predict may have")
        try:
            array = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64, encoding="utf-8")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not a CSV of numbers ({str(exc).splitlines()[0][:160]})") from None
        if len(shape) == 1 and array.shape == (shape[0], 1) and shape[0] > 1:
            array = array.reshape(shape)  # one column: one example's features
    else:
        raise DataError(f"{path}: expected a .npy or .csv file of examples")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise DataError(f"{path}: holds {array.dtype}, not numbers")
    if array.shape == shape:
        examples, batched = array[None], False
    elif array.shape[1:] == shape and array.ndim == len(shape) + 1:
        examples, batched = array, True
    else:
        raise DataError(f"{path}: holds {list(array.shape)}; the model reads {list(shape)} "
                        f"(one example, or N of them as {['N', *shape]})")
    if not len(examples):
        raise DataError(f"{path}: holds no examples")
    if not np.isfinite(examples).all():
        bad = int(np.argmax(~np.isfinite(examples).reshape(len(examples), -1).all(axis=1)))
        raise DataError(f"{path}: example {bad} holds NaN or infinity")
    return examples, batched


def _file_entry(card: dict, path: Path) -> dict:
    """The card's ``files`` entry of this file, or ``{}`` (a file the card does not list)."""
    files = card.get("files")
    if files is not None and not isinstance(files, list):
        raise DataError(f"{path.parent / CARD}: 'files' must be a list, found {type(files).__name__}")
    for entry in files or ():
        if isinstance(entry, dict) and entry.get("file") == path.name:
            return entry
    return {}


def image_scaling(card: dict, path: Path, entry: dict | None = None) -> tuple[float, float]:
    """``(scale, offset)`` from 8-bit image pixels to this file's input, as the model card records it.

    A file may want its own: the uint8 MediaPipe file takes the pixels as
    they are (its normalisation is inside the graph), so its ``files`` entry
    records ``input.from_image_file`` and that wins over the run's. Cards
    written before zoo recorded it per file are read by the file's variant;
    cards written before ``input.from_image_file`` held only the dataset's
    ``pixel_scale``, which is right for 0..255 datasets; without a card,
    pixels are scaled by 1/255.
    """
    section = card.get("input") if isinstance(card.get("input"), dict) else {}
    own = (entry or {}).get("input")
    image = section.get("from_image_file")
    if isinstance(own, dict) and "from_image_file" in own:
        image = own["from_image_file"]
        if not isinstance(image, dict):
            raise DataError(f"{path.parent / CARD}: files[{path.name}].input.from_image_file is damaged")
    elif (entry or {}).get("variant") == "mediapipe-int8":  # cards of before: uint8 pixels, as they are
        image = {"scale": 1.0, "offset": 0.0}
    try:
        if isinstance(image, dict):
            raw = (image["scale"], image.get("offset", 0.0))
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in raw):
                raise TypeError("not a number")  # "1/255" is a string a person meant, not a scale
            scale, offset = float(raw[0]), float(raw[1])
        else:
            scale, offset = float(section.get("pixel_scale") or DEFAULT_PIXEL_SCALE), 0.0
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path.parent / CARD}: input.from_image_file is damaged") from None
    if not (np.isfinite(scale) and np.isfinite(offset)) or scale <= 0:
        raise DataError(f"{path.parent / CARD}: input scale {scale} / offset {offset} cannot be used")
    return scale, offset


def predict(model: str, images=(), top_k: int = 3, word_by_word: bool = False, texts=()) -> dict:
    """Top classes of each image (or example file, or sentence).

    Args:
        model: a .tflite file, an export directory or a run.
        images: image file paths (PNG, JPEG, any size); for sequence and
            vector models ``.npy``/``.csv`` files; for text models sentences
            or ``.txt`` files of them (an argument naming a path is that file).
        top_k: how many classes to list per image.
        word_by_word: text models: score each sentence as it grows, one
            space-separated word at a time (the book's 7.31), each prefix a result.
        texts: text models: sentences taken as they are, even one that names a file.

    Returns:
        ``{"model": path, "results": [{NAME: name, "predictions": [{"class":
        name, "index": i, "probability": p}, ...]}, ...]}``, where NAME says
        what was classified: ``"image"``, ``"example"`` (a row of a .npy or
        .csv file) or ``"text"``; a text's result also has ``"coverage"``, the
        share of its tokens the model knows (0: nothing was recognised, and the
        answer says nothing about the text).

    Raises:
        ZooError: a missing or unreadable model or image (one line each).
    """
    classifier = load(model)
    if classifier.task == "generation":
        raise UsageError(f"{classifier.path}: a text generation model; continue a text with: "
                         f"zoo generate {model} --prompt TEXT")
    if word_by_word and classifier.layout != "text":
        raise UsageError(f"--word-by-word scores sentences; {classifier.path.name} reads {classifier.layout}s")
    if texts and classifier.layout != "text":
        raise UsageError(f"--text gives sentences; {classifier.path.name} reads {classifier.layout}s")
    coverage = None
    if classifier.layout == "text":
        key, tokenizer = "text", classifier.tokenizer
        named = sentences(images, texts)
        if word_by_word:
            named = growing(named, tokenizer)
        images = [name for name, _ in named]
        coverage = [round(tokenizer.coverage([text]), 6) for _, text in named]
        outputs = classifier.run([text for _, text in named])
    elif classifier.layout != "image":
        # A file may hold a batch: each of its examples gets a line, named FILE[i].
        key, examples, named = "example", [], []
        for f in images:
            held, batched = load_examples(f, classifier.runner.image_shape)
            examples.append(held)
            named += [f"{f}[{i}]" for i in range(len(held))] if batched else [str(f)]
        images = named
        outputs = classifier.run(np.concatenate(examples)) if examples else np.zeros((0, 0))
    else:
        key = "image"
        outputs = classifier.run([classifier.read(image) for image in images])
    results = []
    k = max(1, min(int(top_k), len(classifier.class_names)))
    for n, (name, row) in enumerate(zip(images, outputs)):
        if classifier.task == "regression":
            answer = {key: str(name), "values": {c: round(float(v), 6) for c, v in zip(classifier.class_names, row)}}
        else:
            order = np.argsort(-row, kind="stable")[:k]
            answer = {key: str(name), "predictions": [
                {"class": classifier.class_names[i], "index": int(i), "probability": round(float(row[i]), 6)}
                for i in order]}
        if coverage is not None:
            answer["coverage"] = coverage[n]
        results.append(answer)
    return {"model": str(classifier.path), "results": results}


def name_of(result: dict) -> str:
    """What one result of ``predict`` is about: its image, example or text."""
    return next(result[key] for key in ("image", "example", "text") if key in result)
