"""Run an exported .tflite model on a user's files (images, arrays, sentences), on LiteRT alone.

This is the on-device story: nothing here (or in what it imports) imports
TensorFlow or Keras. The model card beside the file says what the model reads
and answers; its layout (``zoo.layouts``) turns the user's files into inputs
as the training data was (images gray or colour, resized and scaled as the
card's ``input.from_image_file`` says; arrays scaled; sentences tokenized),
and its task (``zoo.tasks``) says how an answer is printed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.api import plugins  # noqa: F401 - lets a task or layout only a plugin registers be found
from zoo.data import card as model_card
from zoo.data import layouts, tasks
from zoo.data.card import CARD, EXPORT_DIR, LABELS, ModelCard  # noqa: F401 - zoo.predict.CARD ..., as before
from zoo.data.layouts.base import load_examples  # noqa: F401 - zoo.predict.load_examples, as before
from zoo.data.layouts.text import (MAX_PREFIXES, MAX_SENTENCE_FILE_BYTES, embedded_vocabulary, growing,  # noqa: F401
                                   path_kind, sentences)
from zoo.device.litert import LiteRTModel
from zoo.errors import DataError, UsageError, ZooError
from zoo.run import runs

MODEL_FILE = "model.tflite"
TOKENIZER_FILE = "tokenizer.json"  # as zoo.tokenizer.TOKENIZER_FILE, imported only for text models


@dataclass
class Classifier:
    """A .tflite model with what is needed to feed it and name its outputs."""

    path: Path
    runner: LiteRTModel
    class_names: list  # one name per output: the classes, or a regression's outputs
    scale: float = 1.0  # images: model input = float32(8-bit pixel) * scale + offset
    offset: float = 0.0
    task: object = None  # the zoo.tasks task the card describes: how an answer is printed
    layout: str = "image"  # the zoo.layouts name: how a user's file becomes input
    tokenizer: object = None  # text: the zoo.tokenizer.Tokenizer beside the file
    color: str = "gray"  # images: "gray", "rgb" or "rgba", as the model's channels say
    array_scale: float = 1.0  # arrays: model input = stored value * array_scale + array_offset
    array_offset: float = 0.0

    @property
    def form(self):
        return layouts.get(self.layout)

    def read(self, path) -> np.ndarray:
        """One image file as the model's input shape: gray or colour, resized, still 8-bit."""
        from zoo.data.layouts.image import read

        return read(self, path)

    def run(self, examples) -> np.ndarray:
        """The file's outputs for examples as a user holds them: 8-bit images (gray ones given to a
        colour file are replicated into R, G and B), stored arrays, or texts; scaled, tokenized
        and fed as its card says. ``zoo predict`` answers with this; ``zoo export`` checks every
        file through it before publishing."""
        return self.form.feed(self, examples)


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


def load(model: str) -> Classifier:
    """Open MODEL with LiteRT, with its output names and how its input is made.

    Names and scaling come from the ``model_card.json`` beside the file, else
    ``labels.txt``; without either, outputs are numbered and pixels scaled by
    1/255. Every field read from the card is checked (type, finite numbers,
    the input shape against the file's), so a damaged card is refused by name
    instead of giving wrong answers.
    """
    path = find_model(model)
    runner = LiteRTModel(path)
    card = ModelCard(path)
    card_path = card.path
    gives = tuple(runner.describe()["output"]["shape"][1:])
    classes = gives[-1] if gives else 0
    if any(d < 1 for d in runner.image_shape):
        raise DataError(f"{path}: its input has sizes that vary ({runner.input_shape}); zoo predict needs "
                        "a model whose example shape is fixed, as zoo export writes them")
    if not card and runner.input_dtype == "int32":
        raise DataError(f"{path}: reads int32 token ids, so it is a text model, and has no model_card.json and "
                        f"{TOKENIZER_FILE} beside it; give its export folder or run (zoo predict RUN TEXT)")
    described = card.field("task", dict, {})
    kind = described.get("kind", tasks.Classification.kind)
    try:
        task_type = tasks.get(str(kind))
    except KeyError:
        raise DataError(f"{card_path}: task.kind {str(kind)[:40]!r} is not a task installed here "
                        f"(known: {', '.join(tasks.NAMES.builtin_names())} and those of plugins)") from None
    names = task_type.names_in_card(card, described)
    labels = path.parent / LABELS
    if not names and labels.is_file():
        names = model_card.read_labels(labels)
    if not names:
        names = [str(i) for i in range(classes)]
    try:
        task = task_type.restore(described, tuple(names))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{card_path}: 'task' is damaged ({str(exc)[:80]})") from None
    if gives != task.output_shape:
        if len(task.output_shape) != 1:
            raise DataError(f"{path}: gives outputs {list(gives)} per example but its card's task needs "
                            f"{list(task.output_shape)}; the card belongs to another model")
        raise DataError(f"{path}: gives {classes} {'classes' if task_type.classifies else 'outputs'} "
                        f"but its labels name {len(names)}")
    section = card.field("input", dict, {})
    card.number(section.get("pixel_scale"), "input.pixel_scale")  # checked even where unused
    entry = card.entry
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
    layout = layouts.get(card.layout_name())
    return Classifier(path, runner, list(names), task=task, layout=layout.name,
                      **layout.runner_settings(card, runner))


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
        ``{"model": path, "task": kind, "results": [{NAME: name, "predictions": [{"class":
        name, "index": i, "probability": p}, ...]}, ...]}``, where NAME says
        what was classified: ``"image"``, ``"example"`` (a row of a .npy or
        .csv file) or ``"text"``; a text's result also has ``"coverage"``, the
        share of its tokens the model knows (0: nothing was recognised, and the
        answer says nothing about the text).

    Raises:
        ZooError: a missing or unreadable model or image (one line each).
    """
    classifier = load(model)
    form = classifier.form
    if classifier.task.generates:
        raise UsageError(f"{classifier.path}: a text generation model; continue a text with: "
                         f"zoo generate {model} --prompt TEXT")
    if word_by_word and not form.reads_sentences:
        raise UsageError(f"--word-by-word scores sentences; {classifier.path.name} reads {form.plural}")
    if texts and not form.reads_sentences:
        raise UsageError(f"--text gives sentences; {classifier.path.name} reads {form.plural}")
    names, outputs, coverage = form.gather(classifier, images, texts, word_by_word)
    results = []
    for n, (name, row) in enumerate(zip(names, outputs)):
        answer = form.place({form.example: str(name), **classifier.task.answer(row, top_k)}, name)
        if coverage is not None:
            answer["coverage"] = coverage[n]
        results.append(answer)
    return {"model": str(classifier.path), "task": classifier.task.kind, "results": results}


def name_of(result: dict) -> str:
    """What one result of ``predict`` is about: its image, example or text."""
    return next(result[key] for key in ("image", "example", "text") if key in result)
