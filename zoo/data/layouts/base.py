"""What every layout has; the defaults fit examples that are arrays of numbers (see ``zoo.layouts``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import DataError


@dataclass(frozen=True)
class Layout:
    """One kind of example. Subclasses override what differs; the defaults fit arrays of numbers.

    Attributes:
        name: the registered name, as input specs write it (``"image"``).
        summary: one line for ``zoo list layouts``.
        axes: the meaning of one example's axes, for errors and model cards.
        ranks: the numbers of axes an example may have.
        example: what ``zoo predict`` calls one input in its results
            (``"image"``, ``"example"``, ``"text"``).
        input_name: the name builders give the model's input.
        plural: what ``zoo show`` calls the examples (``"images"``).
        mediapipe: the MediaPipe Tasks family that reads a classifier of this
            layout (``"vision"``, ``"text"``), or None: MediaPipe does not apply.
        page_input: the web page's input widget (``"image"``, ``"text"`` or
            ``"values"``).
        augments: whether image transformations (``--augment``) apply.
        reads_sentences: ``zoo predict`` takes sentences (``--text``,
            ``--word-by-word``) rather than files of examples.
        card_key: the key of the model card's ``input`` section that says how a
            user's file becomes input (``card_input``'s).
        aliases, plugin: as for architectures (plugin filled in by zoo).
    """

    name: str
    summary: str = ""
    axes: str = "features"
    ranks: tuple = (1,)
    example: str = "example"
    input_name: str = "features"
    mediapipe: str | None = None
    page_input: str = "values"
    augments: bool = False
    reads_sentences: bool = False
    card_key: str = "from_array_file"
    counted: str = "examples"  # what a test set is counted in, in model cards
    # Examples made by something fitted to the data (a tokenizer): the model's size is known only
    # once the data is loaded.
    fitted: bool = False
    token_ids: bool = False  # examples are token ids: builders begin with an Embedding
    aliases: tuple = ()
    plugin: str = ""
    kind = "layout"

    @property
    def plural(self) -> str:
        return f"{self.name}s"

    def describe(self) -> dict:
        return {"axes": self.axes, "ranks": list(self.ranks), "mediapipe": self.mediapipe,
                "page_input": self.page_input, "augments": self.augments}

    # -- the input spec --------------------------------------------------------------------
    def shape_problem(self, spec) -> str | None:
        """What is wrong with a declared spec beyond the layout-independent checks, or None."""
        shape = spec.shape
        if shape is not None and len(shape) not in self.ranks:
            article = "an" if self.name[0] in "aeiou" else "a"
            return f"{article} {self.name} example is {self.axes}; shape {list(shape)} has {len(shape)} axes"
        if spec.channels is not None:
            return f"channels describe images; a {self.name} has none"
        return None

    def default_scale(self, dtype) -> float:
        """The scale of stored values nothing declares: 8-bit values are divided by 255."""
        return 1.0 / 255.0 if np.issubdtype(np.dtype(dtype), np.integer) else 1.0

    def channels_of(self, shape) -> str | None:
        """The channels a complete spec of ``shape`` records (images only)."""
        return None

    def words(self, spec) -> str:
        """``sequence 100 x 2 (time steps x features)``: an example in words."""
        shape = " x ".join(map(str, spec.shape)) if spec.shape else "of any shape"
        return f"{self.name} {shape} ({self.axes})"

    # -- loaded data -----------------------------------------------------------------------
    def data_problem(self, dataset) -> str | None:
        """What is wrong with a loaded dataset's examples for this layout, or None (may complete its spec)."""
        return None

    # -- reports ---------------------------------------------------------------------------
    def draw(self, ax, example: np.ndarray) -> None:
        """One example on a matplotlib axis, as it is seen: here, one bar per feature."""
        values = np.asarray(example).reshape(-1)
        ax.bar(range(len(values)), values, color="#555555")
        ax.axhline(0, color="black", lw=0.5)

    # -- the model card and zoo predict ----------------------------------------------------
    def card_input(self, spec) -> dict:
        """What the model card's ``input`` section says about feeding a user's file to the model."""
        return {self.card_key: ".npy or .csv of one example's shape, used as "
                                   f"stored times {spec.scale:g}" + (f" plus {spec.offset:g}" if spec.offset else "")}

    def card_dtype(self, spec) -> str:
        """The dtype of a .tflite file's input (text files take int32 token ids)."""
        return "float32"

    def runner_settings(self, card, runner) -> dict:
        """``zoo.predict.Classifier`` fields this layout needs, read (and checked) from the card (a
        ``zoo.data.card.ModelCard``): here how a stored example becomes input (``input.spec``'s scale
        and offset)."""
        section = card.data.get("input") if isinstance(card.data.get("input"), dict) else {}
        spec = section.get("spec") if isinstance(section.get("spec"), dict) else {}
        scale = card.number(spec.get("scale", section.get("pixel_scale", 1.0)), "input.spec.scale")
        offset = card.number(spec.get("offset", 0.0), "input.spec.offset")
        if scale is None or scale <= 0:
            raise DataError(f"{card.path}: input.spec.scale must be a positive number")
        return {"array_scale": scale, "array_offset": offset or 0.0}

    def gather(self, classifier, items, texts=(), word_by_word=False):
        """``(names, outputs, coverage)`` for what the user gave ``zoo predict``: here ``.npy`` or
        ``.csv`` files, each holding one example or a batch (each of its examples named ``FILE[i]``)."""
        examples, named = [], []
        for f in items:
            held, batched = load_examples(f, classifier.runner.image_shape)
            examples.append(held)
            named += [f"{f}[{i}]" for i in range(len(held))] if batched else [str(f)]
        return named, self.feed(classifier, np.concatenate(examples)) if examples else np.zeros((0, 0)), None

    def place(self, answer: dict, name) -> dict:
        """``answer`` said in the terms of the file ``name`` it is about (an image's boxes in its pixels)."""
        return answer

    def feed(self, classifier, examples) -> np.ndarray:
        """The file's outputs for examples as a user holds them."""
        x = np.asarray(examples, np.float32) * np.float32(classifier.array_scale) + np.float32(classifier.array_offset)
        return classifier.runner.predict(x) if len(x) else np.zeros((0, 0))

    def test_inputs(self, dataset, count: int):
        """The first ``count`` test examples as a user would hand them to ``zoo predict`` (None: the
        dataset keeps nothing in that form), and whether that form loses precision."""
        return np.asarray(dataset.x_test[:count]), False


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
        from zoo.data.arrays import load_npy, npy_header

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
