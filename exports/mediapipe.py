"""`mediapipe`: an image classifier that MediaPipe Tasks' ``ImageClassifier`` runs as it is.

``zoo export --mediapipe`` writes ``model.mediapipe.tflite``: the run's model
behind a ``[1, H, W, 3]`` float32 RGB input (MediaPipe refuses a ``(28, 28)``
or ``(28, 28, 1)`` input), with the normalisation and the class labels inside
the file as TFLite metadata, which MediaPipe reads.

* Grayscale models get a fixed RGB front end: a frozen 1x1 convolution with
  the ITU-R 601-2 luma weights (0.299, 0.587, 0.114), the conversion Pillow's
  ``convert("L")`` applies, so a photo reaches the model as ``zoo predict``
  hands it over. RGB models read the image as it is.
* The metadata is written by MediaPipe's own writer
  (``mediapipe.tasks.python.metadata.metadata_writers.image_classifier``):
  normalisation ``(pixel - mean) / std`` with ``std = 1 / scale`` and
  ``mean = -offset / scale`` from the run's ``from_image_file`` scaling, and
  ``labels.txt`` packed into the file.
* The file is verified by running it through MediaPipe's ``ImageClassifier``
  on the whole test set, each image handed over as 8-bit RGB: its class
  scores must match Keras' as any float32 file's do. Where MediaPipe's native
  library cannot start, LiteRT runs the file instead, fed as the metadata
  read back from the file says (labels and normalisation), by the same rule.

MediaPipe is an extra (``pip install 'zoo[mediapipe]'``); without it the
export stops with that line and writes nothing.
"""
from __future__ import annotations

import dataclasses
import gc
import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
from zoo_exports.tflite import QUANTIZE

import zoo
from zoo.errors import ZooError

FILE = "model.mediapipe.tflite"
INT8_FILE = "model.mediapipe.int8.tflite"  # with --quantize int8: uint8 pixels in, uint8 scores out
INSTALL = "pip install 'zoo[mediapipe]'"


def export(context) -> list:
    """Convert with an RGB front end, write MediaPipe's metadata, classify the test set with MediaPipe."""
    if context.dataset.input_spec.form.mediapipe == "text":  # MediaPipe's TextClassifier reads it
        return export_text(context)
    if context.dataset.task.mediapipe == "detector":  # MediaPipe's ObjectDetector reads it
        from zoo_exports import mediapipe_detector

        return mediapipe_detector.export(context)
    problem = _problem(context)
    if problem:
        context.fail(FILE, problem)
        return [{"file": FILE, "error": problem}]
    path = context.directory / FILE
    context.log(f"{FILE}: converting for MediaPipe ImageClassifier ([1, H, W, 3] RGB, metadata inside)")
    from zoo_exports.tflite import ConversionError, convert

    try:
        result = convert(context, "mediapipe", FILE)
        _write_metadata(context, path)
    except (ConversionError, ZooError, RuntimeError, ValueError) as exc:
        message = str(exc).replace(f"{path}: ", "")
        context.fail(FILE, message)
        return [{"file": FILE, "error": message}]
    images = _rgb_test_images(context)
    try:
        classifier = _classifier(path)
        runtime = f"MediaPipe Tasks ImageClassifier {_version('mediapipe')}"
    except (RuntimeError, OSError) as exc:
        # MediaPipe's native library may not start on this machine: LiteRT
        # runs the file instead, fed as the metadata read back from it says.
        classifier, runtime = None, f"LiteRT with the metadata read back ({exc})"
    try:
        with context.progress(f"verifying {FILE} with {runtime.split(' (')[0]}", len(images)) as update:
            if classifier is not None:
                scores = _classify(classifier, images, len(context.run.class_names), update)
            else:
                scores = _classify_with_litert(context, path, images, update)
    except ZooError as exc:
        message = str(exc).replace(f"{path}: ", "")
        context.fail(FILE, message)
        return [{"file": FILE, "error": message}]
    finally:
        if classifier is not None:
            classifier.close()  # left to interpreter shutdown, its __del__ fails with a traceback
    # 8-bit images are what MediaPipe is given; a dataset stored as floats
    # loses its fractions on the way, so it is judged by accuracy instead.
    check = context.verify(FILE, scores, quantized=context.dataset.input_spec.dtype != "uint8")
    quantized = [_export_int8(context, images)] if "int8" in context.options.get("quantize", ()) else []
    return quantized + [{
        "file": FILE, "variant": "mediapipe",
        "description": "float32 with an RGB front end and MediaPipe metadata (normalisation, labels)",
        "input": {"shape": [1, *_image_size(context), 3], "dtype": "float32",
                  "front_end": "luma (0.299 R + 0.587 G + 0.114 B), frozen" if _gray(context) else "none (RGB)",
                  "from_image_file": {**{k: v for k, v in context.dataset.input_spec.image_input().items()
                                         if k in ("scale", "offset", "formula")}, "color": "RGB"}},
        "normalization": _normalization(context),
        "runtime": runtime,
        "notes": result.get("notes", []),
        **check.to_dict(),
    }]


def _representative_pixels(context) -> np.ndarray:
    """Calibration for the uint8 file: the training images int8 calibrates on, as 8-bit RGB pixels (float32),
    and a black and a white image, so that the input's range is 0..255 exactly (scale 1, zero point 0: the
    bytes MediaPipe hands over are the pixels)."""
    x = context.dataset.x_train
    from zoo.exporting.export import DEFAULT_REPRESENTATIVE_SIZE

    size = min(int(context.options.get("representative_size") or DEFAULT_REPRESENTATIVE_SIZE), len(x))
    rng = np.random.default_rng(context.run.seed)  # the picks of ExportContext.representative
    picked = np.sort(rng.choice(len(x), size=size, replace=False))
    pixels = _rgb_pixels(context, x[picked]).astype(np.float32)
    ends = np.stack([np.zeros(pixels.shape[1:], np.float32), np.full(pixels.shape[1:], 255.0, np.float32)])
    return np.concatenate([pixels, ends])


def _export_int8(context, images: np.ndarray) -> dict:
    """``model.mediapipe.int8.tflite``: full-integer, uint8 RGB pixels in and uint8 scores out, the
    normalisation inside the graph; labels in its metadata; verified by MediaPipe on the test set (within
    1 point of Keras' accuracy, as every quantized file)."""
    from zoo_exports.tflite import ConversionError, convert, spared

    path = context.directory / INT8_FILE
    context.log(f"{INT8_FILE}: converting for MediaPipe (full-integer: uint8 pixels in, uint8 scores out)")
    try:
        result = convert(context, "mediapipe-int8", INT8_FILE, representative=_representative_pixels(context),
                         pixel_normalization=_normalization(context))
        # The pixels reach the graph as they are: the metadata's normalisation is the identity.
        _write_metadata(context, path, {"mean": [0.0], "std": [1.0]})
        classifier = _classifier(path)
    except (ConversionError, ZooError, RuntimeError, ValueError, OSError) as exc:
        message = str(exc).replace(f"{path}: ", "")
        context.fail(INT8_FILE, message)
        return {"file": INT8_FILE, "error": message}
    scores = _classified(context, classifier, images, f"verifying {INT8_FILE} with MediaPipe")
    check = context.verify(INT8_FILE, scores, quantized=True)
    return {"file": INT8_FILE, "variant": "mediapipe-int8",
            "description": "full-integer (int8 weights and activations), uint8 RGB pixels in and uint8 scores out, "
                           "MediaPipe metadata (labels)" + spared(result),
            "input": {"shape": [1, *_image_size(context), 3], "dtype": "uint8",
                      # What zoo predict and an app feed it: the pixels as they are (its scale is 1, its
                      # zero point 0, the normalisation inside), not the run's scaled input.
                      "from_image_file": {"scale": 1.0, "offset": 0.0,
                                          "formula": "uint8 RGB pixel as it is (normalised inside the file)"}},
            "runtime": f"MediaPipe Tasks ImageClassifier {_version('mediapipe')}",
            "notes": result.get("notes", []),
            **({"float_ops": result["float_ops"]} if "float_ops" in result else {}), **check.to_dict()}


def export_text(context) -> list:
    """A text classifier for MediaPipe's TextClassifier: int32 ids in, regex tokenizer, vocabulary and labels inside.

    Verified by MediaPipe's own TextClassifier on the test texts as read, so
    its tokenizer, not zoo's, turns them into ids: the file passes only if
    the phone tokenizes as training did.
    """
    from zoo.data import tokenizer as tokenizers

    tokenizer = context.dataset.tokenizer
    problem = (f"MediaPipe's TextClassifier classifies; this run is {context.dataset.task.kind}"
               if not context.dataset.task.mediapipe else
               tokenizers.mediapipe_problem(tokenizer) or
               ("the dataset keeps no test texts to verify the file on" if not context.dataset.test_texts else None)
               or (None if installed() else f"needs the mediapipe package: {INSTALL}"))
    if problem:
        context.fail(FILE, problem)
        return [{"file": FILE, "error": problem}]
    if "int8" in context.options.get("quantize", ()):
        context.log(f"{INT8_FILE}: not written: MediaPipe's int8 file takes uint8 pixels, for image classifiers; "
                    f"a text model's MediaPipe file is float32 ({FILE}), its int8 file model.int8.tflite (--tflite)")
    path = context.directory / FILE
    context.log(f"{FILE}: converting for MediaPipe TextClassifier ([1, {tokenizer.length}] int32 token ids, "
                "regex tokenizer and vocabulary inside)")
    from zoo_exports.tflite import ConversionError, convert

    try:
        result = convert(context, "mediapipe-text", FILE)
        _write_text_metadata(context, path, tokenizer)
    except (ConversionError, ZooError, RuntimeError, ValueError) as exc:
        message = str(exc).replace(f"{path}: ", "")
        context.fail(FILE, message)
        return [{"file": FILE, "error": message}]
    texts = list(context.dataset.test_texts)
    try:
        classifier = _classifier(path, "text")  # the MediaPipe Tasks family
    except RuntimeError as exc:
        context.fail(FILE, str(exc))
        return [{"file": FILE, "error": str(exc)}]
    runtime = f"MediaPipe Tasks TextClassifier {_version('mediapipe')}"
    scores = _classified(context, classifier, texts, f"verifying {FILE} with {runtime}")
    check = context.verify(FILE, scores, quantized=False)
    return [{
        "file": FILE, "variant": "mediapipe",
        "description": "float32 weights, int32 token ids in, MediaPipe metadata (regex tokenizer, vocabulary, labels)",
        "input": {"shape": [1, tokenizer.length], "dtype": "int32"},
        "tokenizer": {"delimiter": tokenizer.delimiter, "vocabulary": len(tokenizer.vocabulary) + 2,
                      "case_sensitive": True},
        "runtime": runtime,
        "notes": result.get("notes", []),
        **check.to_dict(),
    }]


def _write_text_metadata(context, path, tokenizer) -> None:
    """The regex tokenizer, its vocabulary and the labels into the file, by MediaPipe's text classifier writer."""
    import tempfile

    from zoo.data import tokenizer as tokenizers

    _, metadata_writer = _metadata_writers()
    from mediapipe.tasks.python.metadata.metadata_writers import text_classifier

    with tempfile.TemporaryDirectory(dir=context.directory, prefix=".vocab-") as tmp:
        vocab = Path(tmp) / "vocab.txt"
        vocab.write_text(tokenizers.mediapipe_vocabulary(tokenizer), encoding="utf-8")
        labels = metadata_writer.Labels()
        labels.add(list(context.run.class_names))
        regex = metadata_writer.RegexTokenizer(delim_regex_pattern=tokenizer.delimiter, vocab_file_path=str(vocab))
        writer = text_classifier.MetadataWriter.create_for_regex_model(bytearray(path.read_bytes()), regex, labels)
        model, _ = writer.populate()
        path.write_bytes(model)
        del writer, labels  # as for images: its __del__ must not run at interpreter shutdown
        gc.collect()


def _problem(context) -> str | None:
    """Why this run cannot become a MediaPipe image classifier, or None."""
    spec = context.dataset.input_spec
    if not context.dataset.task.mediapipe or spec.form.mediapipe != "vision":
        return (f"MediaPipe's ImageClassifier classifies images; this run is {context.dataset.task.kind} "
                f"of {spec.layout} input")
    if spec.channels not in ("gray", "rgb"):
        return f"MediaPipe's ImageClassifier reads RGB; this model reads {spec.channels} images"
    if not installed():
        return f"needs the mediapipe package: {INSTALL}"
    return None


def installed() -> bool:
    """Whether the mediapipe package can be imported here."""
    return importlib.util.find_spec("mediapipe") is not None


def _gray(context) -> bool:
    return context.dataset.input_spec.channels == "gray"


def _image_size(context) -> tuple:
    return tuple(context.run.input_shape[:2])


def _normalization(context) -> dict:
    """MediaPipe's ``(pixel - mean) / std`` for the run's ``pixel * scale + offset``."""
    spec = context.dataset.input_spec
    low, high = spec.black_white
    # input = pixel * (high - low) / 255 * scale + (low * scale + offset)
    std = 255.0 / ((high - low) * spec.scale)
    mean = -(low * spec.scale + spec.offset) * std
    return {"mean": [float(f"{mean:.12g}") + 0.0], "std": [float(f"{std:.12g}")]}


def _version(name: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _metadata_writers():
    """MediaPipe's metadata writer modules.

    mediapipe 1.x wheels ship the writers but not the native helper they
    import to stamp the metadata's minimum parser version
    (``mediapipe.tasks.cc.metadata.python._pywrap_metadata_version``: "No
    module named 'mediapipe.tasks.cc'"). Where it is missing, the same rules
    as MediaPipe's ``metadata_version.cc`` stand in for it, on the Python
    object API of the schema the wheel does ship.
    """
    name = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"
    try:
        importlib.import_module(name)
    except ImportError:
        helper = types.ModuleType(name)
        helper.GetMinimumMetadataParserVersion = minimum_parser_version
        for parent in ("mediapipe.tasks.cc", "mediapipe.tasks.cc.metadata", "mediapipe.tasks.cc.metadata.python"):
            sys.modules.setdefault(parent, types.ModuleType(parent))
        sys.modules[name] = helper
    from mediapipe.tasks.python.metadata.metadata_writers import image_classifier, metadata_writer

    return image_classifier, metadata_writer


def minimum_parser_version(buffer: bytes) -> str:
    """The oldest metadata parser that reads every field in ``buffer`` (MediaPipe's rules, schema 1.0-1.5)."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    metadata = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAsModelMetadata(bytearray(buffer), 0))
    found = [(1, 0, 0)]

    def files(items):
        for item in items or ():
            if item.type == fb.AssociatedFileType.VOCABULARY:
                found.append((1, 0, 1))
            if item.type == fb.AssociatedFileType.SCANN_INDEX_FILE:
                found.append((1, 4, 0))
            if item.version is not None:
                found.append((1, 4, 1))

    def units(items):
        for item in items or ():
            if item.optionsType in (fb.ProcessUnitOptions.BertTokenizerOptions,
                                    fb.ProcessUnitOptions.SentencePieceTokenizerOptions):
                found.append((1, 1, 0))
            if item.optionsType == fb.ProcessUnitOptions.RegexTokenizerOptions:
                found.append((1, 2, 1))

    def tensors(items):
        for item in items or ():
            files(item.associatedFiles)
            units(item.processUnits)
            if item.content is not None and item.content.contentPropertiesType == fb.ContentProperties.AudioProperties:
                found.append((1, 3, 0))

    for graph in metadata.subgraphMetadata or ():
        tensors(graph.inputTensorMetadata)
        tensors(graph.outputTensorMetadata)
        files(graph.associatedFiles)
        for present, version in ((graph.inputProcessUnits, (1, 1, 0)), (graph.outputProcessUnits, (1, 1, 0)),
                                 (graph.inputTensorGroups, (1, 2, 0)), (graph.outputTensorGroups, (1, 2, 0)),
                                 (graph.customMetadata, (1, 5, 0))):
            if present is not None:
                found.append(version)
        units(graph.inputProcessUnits)
        units(graph.outputProcessUnits)
    files(metadata.associatedFiles)
    return ".".join(map(str, max(found)))


def _write_metadata(context, path, norm=None) -> None:
    """Normalisation (the run's, unless ``norm``) and labels into the file, by MediaPipe's image classifier writer."""
    image_classifier, metadata_writer = _metadata_writers()
    labels = metadata_writer.Labels()
    labels.add(list(context.run.class_names))
    norm = norm or _normalization(context)
    writer = image_classifier.MetadataWriter.create(bytearray(path.read_bytes()), norm["mean"], norm["std"], labels)
    model, _ = writer.populate()
    path.write_bytes(model)
    # The writer cleans its temporary folder in __del__, which fails with a
    # traceback when it is left to interpreter shutdown: collect it now.
    del writer, labels
    gc.collect()


def _classifier(path, family: str = "vision"):
    """MediaPipe's ImageClassifier (``family="vision"``) or TextClassifier (``"text"``) on the file, every
    class scored.

    Raises:
        RuntimeError: MediaPipe refused the file or could not start (its status text, one line).
    """
    from mediapipe.tasks.python import BaseOptions, text, vision

    module, name = {"vision": (vision, "ImageClassifier"), "text": (text, "TextClassifier")}[family]
    options = getattr(module, f"{name}Options")(base_options=BaseOptions(model_asset_path=str(path)))
    try:
        return getattr(module, name).create_from_options(options)
    except Exception as exc:  # MediaPipe raises RuntimeError or ValueError with its status text
        raise RuntimeError(f"MediaPipe's {name} refused the file: {str(exc).splitlines()[0][:300]}") from None


def read_back(path) -> dict:
    """The labels and normalisation a MediaPipe app will find in the file, read from its bytes.

    The metadata flatbuffer (the model's ``TFLITE_METADATA`` buffer) is
    parsed with the schema mediapipe ships (pure Python); the labels file is
    a member of the zip appended to the model.
    """
    import zipfile

    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta_fb
    from mediapipe.tasks.metadata import schema_py_generated as model_fb

    data = bytearray(Path(path).read_bytes())
    model = model_fb.Model.GetRootAs(data, 0)
    buffers = [model.Metadata(i).Buffer() for i in range(model.MetadataLength())
               if model.Metadata(i).Name() == b"TFLITE_METADATA"]
    if not buffers:
        raise ZooError(f"{path}: holds no TFLITE_METADATA")
    metadata = meta_fb.ModelMetadataT.InitFromObj(
        meta_fb.ModelMetadata.GetRootAs(bytearray(model.Buffers(buffers[0]).DataAsNumpy().tobytes()), 0))
    tensor = metadata.subgraphMetadata[0].inputTensorMetadata[0]
    norm = next((unit.options for unit in tensor.processUnits or ()
                 if unit.optionsType == meta_fb.ProcessUnitOptions.NormalizationOptions), None)
    output = metadata.subgraphMetadata[0].outputTensorMetadata[0]
    label_files = [f.name for f in output.associatedFiles or ()
                   if f.type == meta_fb.AssociatedFileType.TENSOR_AXIS_LABELS]
    if norm is None or not label_files:
        raise ZooError(f"{path}: its metadata lacks the normalisation or the labels file")
    with zipfile.ZipFile(path) as archive:
        labels = archive.read(label_files[0].decode() if isinstance(label_files[0], bytes)
                              else label_files[0]).decode("utf-8").splitlines()
    return {"mean": [float(v) for v in norm.mean], "std": [float(v) for v in norm.std],
            "labels": [line for line in labels if line]}


def _classify_with_litert(context, path, images: np.ndarray, update) -> np.ndarray:
    """The file on LiteRT, each 8-bit RGB image normalised as its own metadata says."""
    from zoo.device import litert

    found = read_back(path)
    if found["labels"] != list(context.run.class_names):
        raise ZooError(f"{path}: its metadata's labels are not the run's classes")
    runner = litert.LiteRTModel(path)
    mean, std = np.float32(found["mean"][0]), np.float32(found["std"][0])
    scores = runner.predict((images.astype(np.float32) - mean) / std)
    update(len(images))
    return scores


def _rgb_test_images(context) -> np.ndarray:
    """The test set as the 8-bit RGB images a camera would give (gray replicated into R, G and B)."""
    return _rgb_pixels(context, context.dataset.x_test)


def _rgb_pixels(context, stored) -> np.ndarray:
    """Stored images as 8-bit RGB (gray replicated into R, G and B)."""
    from zoo.data.images import eight_bit

    pixels = eight_bit(stored, context.dataset.input_spec.black_white)
    if pixels.ndim == 3 or pixels.shape[-1] == 1:
        pixels = np.repeat(pixels.reshape(*pixels.shape[:3], 1), 3, axis=3)
    return pixels


def _classified(context, classifier, examples, label: str) -> np.ndarray:
    """MediaPipe's scores for every example, with a progress bar; the classifier is closed after."""
    try:
        with context.progress(label, len(examples)) as update:
            return _classify(classifier, examples, len(context.run.class_names), update)
    finally:
        classifier.close()  # left to interpreter shutdown, its __del__ fails with a traceback


def _classify(classifier, examples, classes: int, update) -> np.ndarray:
    """MediaPipe's score for every class of every example (8-bit RGB images, or texts), as an (examples, classes) array."""
    import mediapipe as mp

    scores = np.zeros((len(examples), classes), np.float32)
    for i, example in enumerate(examples):
        given = example if isinstance(example, str) else mp.Image(image_format=mp.ImageFormat.SRGB,
                                                                   data=np.ascontiguousarray(example))
        result = classifier.classify(given)
        for category in result.classifications[0].categories:
            scores[i, category.index] = category.score
        update(1)
    return scores


def prepare(options: dict, config: dict) -> None:
    """Before any converting: a run MediaPipe's classifiers can take, with a tokenizer its regex tokenizer
    can reproduce (the refusal came after the SavedModel was exported and verified)."""
    from zoo.data import tasks
    from zoo.data import tokenizer as tokenizers

    if not installed():  # refused before anything is converted, not after the SavedModel was written
        raise ZooError(f"{FILE}: needs the mediapipe package: {INSTALL}")
    task = tasks.from_config(config)
    described = (config.get("input") or {}).get("tokenizer") if isinstance(config.get("input"), dict) else None
    if not task.mediapipe:
        reader = "TextClassifier" if isinstance(described, dict) else "ImageClassifier"
        raise ZooError(f"--mediapipe: MediaPipe's {reader} classifies; this run is {task.kind}")
    if isinstance(described, dict):
        fields = {k: v for k, v in described.items() if k not in ("ids", "file", "sha256")}
        problem = tokenizers.mediapipe_problem(tokenizers.Tokenizer.from_dict({**fields, "vocabulary": []},
                                                                            "config.json: input.tokenizer"))
        if problem:
            raise ZooError(f"--mediapipe: {problem}")


@zoo.hookimpl
def register_exporters(register):
    register(zoo.Exporter(
        name="mediapipe", aliases=("mediapipe-tasks",),
        summary="model.mediapipe.tflite for MediaPipe Tasks' ImageClassifier (RGB input, labels and "
                "normalisation inside) or TextClassifier (regex tokenizer, vocabulary and labels inside)",
        export=export, suffixes=(".tflite",), prepare=prepare,
        # --quantize int8 adds model.mediapipe.int8.tflite (uint8 pixels in); the other variants are tflite's.
        options={"quantize": dataclasses.replace(QUANTIZE, choices=("int8",))},
        flag_help="Also write model.mediapipe.tflite for MediaPipe Tasks' ImageClassifier (RGB input, labels and "
                  "normalisation inside; needs zoo[mediapipe]).",
    ))
