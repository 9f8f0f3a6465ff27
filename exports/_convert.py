"""Convert a run's Keras model to one .tflite file, in a child process.

Run as ``python -m zoo_exports._convert REQUEST.json`` by ``zoo_exports.tflite``:
the TFLite converter can crash the whole process (full-integer calibration of
a WHILE-loop LSTM ends in a segmentation fault with TensorFlow 2.21), so it
never runs inside the ``zoo`` process. The request names the model, the
variant and where to write; the result (or a one-line error) is written as
JSON to the request's ``result`` path.

What it does, and why (measured with TensorFlow 2.21 / Keras 3.15):

* Builtin ops only (``TFLITE_BUILTINS``; ``TFLITE_BUILTINS_INT8`` for int8):
  Keras' ``model.export(format="litert")`` enables Select TF ops, which
  stock LiteRT cannot run.
* Recurrent layers that loop (``unroll=False``) are converted from a
  SavedModel whose input signature fixes the batch at 1: with a dynamic
  batch the converter fails (``'tf.TensorListReserve' op requires
  element_shape to be static``, tensorflow/tensorflow#62849, #58668).
* For int8 and int16x8, such models are rebuilt with ``unroll=True`` (same
  weights): the WHILE-loop graph crashes the calibrator
  (tensorflow/tensorflow#41305), and ai-edge-quantizer cannot quantize a loop;
  the unrolled graph has none, so its batch can stay dynamic.
* int16x8 is ai-edge-quantizer's ``static_wi8_ai16`` recipe applied to the
  float32 file, not the converter's 16x8 mode
  (``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8``). Measured
  on the same unrolled lstm-bn and the same calibration images (bench part
  ``int16x8``): equal accuracy, a smaller file and LiteRT latency about a
  third of the converter's (simplernn: about half); the converter's mode
  broke the example GRU. On the tuned cnn ai-edge-quantizer's file is the
  slower one (5.1 against 3.7 ms), but int16x8 is for the models int8
  hurts, and cnn is not one.
* int8 leaves in float32 the few ops whose int8 output TensorFlow's
  quantization debugger finds far off (``_int8_sparing_sensitive_ops``):
  EfficientNet-Lite0's first convolutions, not the recurrent layers or batch
  norms that int16x8 is for.
"""
from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# ai-edge-quantizer keeps a running average of each tensor's range while it
# calibrates: a few large batches, not one image at a time.
CALIBRATION_BATCH = 50


def _contain() -> None:
    """No core file if the converter crashes; end with the zoo process that started it (Linux)."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _walk(layer):
    yield layer
    subs = list(getattr(layer, "layers", ()))
    # Wrappers hold their layers as attributes: Bidirectional its two
    # directions, TimeDistributed and the like their ``layer``.
    subs += [getattr(layer, name) for name in ("forward_layer", "backward_layer", "layer")
             if hasattr(getattr(layer, name, None), "get_config")]
    for sub in subs:
        if sub is not layer:
            yield from _walk(sub)


def looping_rnns(model) -> list:
    """The recurrent layers of ``model`` that run as a WHILE loop (not unrolled)."""
    import keras

    return [layer for layer in _walk(model)
            if isinstance(layer, keras.layers.RNN) and not getattr(layer, "unroll", False)]


def _unrolled(model, request):
    """The same model rebuilt with ``unroll=True``, its weights copied."""
    from zoo.api import calls, plugins
    from zoo.data import tasks
    from zoo.data.spec import InputSpec

    arch = plugins.get("architecture", request["architecture"])
    params = {**request["params"], "unroll": True}
    task = tasks.from_config({"task": request.get("task"), "class_names": request.get("class_names")})
    spec = InputSpec.from_dict(request["input"]) if isinstance(request.get("input"), dict) else None
    copy = calls.build_model(arch, tuple(request["input_shape"]), task, params, spec)
    copy.set_weights(model.get_weights())
    return copy


LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2: the weights of Pillow's convert("L")


def _rgb_front_end(model, input_shape):
    """``model`` behind a ``(H, W, 3)`` RGB input: a frozen luma convolution for gray models.

    The weights are ITU-R 601-2's (Pillow's ``convert("L")``); an RGB model
    reads the image as it is.
    """
    import keras
    import numpy as np

    height, width = input_shape[:2]
    inputs = keras.Input((height, width, 3), name="image")
    if len(input_shape) == 3 and input_shape[2] == 3:
        return keras.Model(inputs, model(inputs), name=f"{model.name}_rgb")
    luma = keras.layers.Conv2D(1, 1, use_bias=False, trainable=False, name="luma")
    x = luma(inputs)
    luma.set_weights([np.array(LUMA, np.float32).reshape(1, 1, 3, 1)])
    x = keras.layers.Reshape(tuple(input_shape))(x)  # (H, W) or (H, W, 1), as the model reads
    return keras.Model(inputs, model(x), name=f"{model.name}_rgb")


def _pixel_front_end(model, input_shape, mean: float, std: float):
    """``model`` (RGB, normalised input) behind 0..255 RGB pixels: ``(pixel - mean) / std`` inside.

    For the uint8 MediaPipe file: MediaPipe hands a uint8 model the camera's
    bytes as they are, so the normalisation its metadata gives a float model
    has to be part of the graph.
    """
    import keras

    inputs = keras.Input(tuple(input_shape), name="image")
    x = keras.layers.Rescaling(1.0 / std, offset=-mean / std, name="pixels_to_input")(inputs)
    return keras.Model(inputs, model(x), name=f"{model.name}_pixels")


def _two_detector_outputs(model, input_shape):
    """The detector with its one output (box codes then logits per anchor) given as two tensors."""
    import keras

    inputs = keras.Input(tuple(input_shape), name="image")
    rows = model(inputs)
    return keras.Model(inputs, [rows[..., :4], rows[..., 4:]], name=f"{model.name}_for_mediapipe")


def _boxes_in_graph(model, input_shape, described: dict):
    """The detector with its boxes decoded and kept inside the graph, for one ``[1, H, W, 3]`` photo:
    TFLite's SSD outputs ``boxes`` ``[1, N, 4]`` (ymin, xmin, ymax, xmax, fractions of the photo),
    ``classes`` ``[1, N]``, ``scores`` ``[1, N]`` and ``count`` ``[1]``, N = ``described["limit"]``,
    the rows past ``count`` zero. Decoding and suppression are ``zoo.data.anchors``' (``BoxCoding.decode``,
    ``Postprocess``: a score floor, NMS per class on the boxes as decoded, clipped after), written with
    ops the converter makes builtins of (NON_MAX_SUPPRESSION_V4, TOPK_V2, GATHER)."""
    import keras
    import numpy as np
    import tensorflow as tf

    anchors = np.asarray(described["anchors"], np.float32)  # (A, 4): cy, cx, h, w
    coding = described["coding"]
    scales = np.array([coding["y_scale"], coding["x_scale"], coding["h_scale"], coding["w_scale"]], np.float32)
    limit, classes = int(described["limit"]), int(described["classes"])

    class BoxesInGraph(keras.layers.Layer):
        def call(self, parts):
            codes, logits = (tf.cast(part[0], tf.float32) for part in parts)
            codes = codes / scales
            cy = codes[:, 0] * anchors[:, 2] + anchors[:, 0]
            cx = codes[:, 1] * anchors[:, 3] + anchors[:, 1]
            h = tf.exp(tf.minimum(codes[:, 2], 10.0)) * anchors[:, 2]
            w = tf.exp(tf.minimum(codes[:, 3], 10.0)) * anchors[:, 3]
            boxes = tf.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1)
            probabilities = tf.sigmoid(logits)
            kept_boxes, kept_scores, kept_classes = [], [], []
            for label in range(classes):  # class-wise, as zoo's Postprocess
                scores = probabilities[:, label]
                keep, count = tf.raw_ops.NonMaxSuppressionV4(
                    boxes=boxes, scores=scores, max_output_size=limit, iou_threshold=described["iou_threshold"],
                    score_threshold=described["min_score"] - 1e-7, pad_to_max_output_size=True)
                valid = tf.range(limit) < count
                kept_boxes.append(tf.gather(boxes, keep))
                kept_scores.append(tf.where(valid, tf.gather(scores, keep), -1.0))
                kept_classes.append(tf.fill([limit], float(label)))
            scores = tf.concat(kept_scores, 0)
            best, order = tf.math.top_k(scores, k=limit)
            valid = best >= 0.0
            count = tf.reduce_sum(tf.cast(valid, tf.float32))
            found = tf.clip_by_value(tf.gather(tf.concat(kept_boxes, 0), order), 0.0, 1.0)
            return {"boxes": tf.where(valid[:, None], found, 0.0)[None],
                    "classes": tf.where(valid, tf.gather(tf.concat(kept_classes, 0), order), 0.0)[None],
                    "scores": tf.where(valid, best, 0.0)[None], "count": tf.reshape(count, [1])}

    inputs = keras.Input(tuple(input_shape), name="image")
    return keras.Model(inputs, BoxesInGraph(name="boxes_in_graph")(_codes_and_logits(model)(inputs)),
                       name=f"{model.name}_boxes")


def _codes_and_logits(model):
    """The detector as two outputs, box codes ``(A, 4)`` and class logits ``(A, C)``.

    Where the model joins them in a last Concatenate, the two tensors before
    it: in an int8 file a concatenation shares one scale between its inputs,
    and logits (about -15..10) would leave the box codes (about -3..3) a
    fraction of the 256 steps. Otherwise the one output is sliced.
    """
    import keras

    last = model.layers[-1]
    if isinstance(last, keras.layers.Concatenate) and len(model.outputs) == 1:
        parts = last.input
        if isinstance(parts, (list, tuple)) and len(parts) == 2 and parts[0].shape[-1] == 4:
            return keras.Model(model.inputs, list(parts), name=f"{model.name}_codes_and_logits")
    return _two_detector_outputs(model, model.inputs[0].shape[1:])


def _int32_front_end(model, input_shape):
    """``model`` behind an int32 input of token ids, as MediaPipe's text classifier feeds them."""
    import keras

    ids = keras.Input(tuple(input_shape), dtype="int32", name="token_ids")
    return keras.Model(ids, model(keras.ops.cast(ids, "float32")), name=f"{model.name}_int32")


def convert(request: dict) -> dict:
    """Write ``request["output"]``; return what the model card should say about it."""
    import keras
    import numpy as np
    import tensorflow as tf

    variant = request["variant"]
    started = time.perf_counter()
    model = keras.saving.load_model(request["model"], safe_mode=True, compile=False)  # converted, not trained
    notes = []
    unrolled = False
    if variant in ("int8", "mediapipe-int8", "int16x8", "mediapipe-text") and looping_rnns(model):
        if request.get("can_unroll"):
            model = _unrolled(model, request)
            unrolled = True
            notes.append(f"recurrent layers unrolled for {variant} (same weights): "
                         + ("the converter's calibration crashes on the WHILE-loop graph"
                            if variant in ("int8", "mediapipe-int8") else
                            "MediaPipe's TextClassifier runs single-subgraph models only (a WHILE loop is a "
                            "second subgraph)" if variant == "mediapipe-text" else
                            "ai-edge-quantizer cannot quantize a WHILE loop"))
        elif variant == "int16x8":
            raise ValueError(f"ai-edge-quantizer cannot quantize looping recurrent layers, and "
                             f"'{request['architecture']}' cannot be rebuilt unrolled here (its plugin is "
                             f"missing or has no 'unroll' parameter): leave out --quantize int16x8")
        else:
            notes.append("recurrent layers loop (the architecture has no 'unroll' parameter)")
    batch = None
    input_shape = list(request["input_shape"])
    input_dtype = tf.float32
    token_ids = bool(request.get("token_ids")) or variant == "mediapipe-text"
    if token_ids:
        # Text: apps (and MediaPipe's TextClassifier) feed int32 token ids.
        model = _int32_front_end(model, input_shape)
        input_dtype = tf.int32
        notes.append("int32 token ids in (cast to float32 for the Embedding)")
    if variant == "mediapipe-text":
        batch = 1  # MediaPipe feeds one [1, length] tensor
        notes.append("batch fixed at 1")
    if variant == "float32-batch1":
        batch = 1  # LiteRT.js (the web page) cannot resize a tensor
        notes.append("batch fixed at 1")
    if variant in ("mediapipe", "mediapipe-int8"):
        # MediaPipe's ImageClassifier feeds one [1, H, W, 3] image.
        model = _rgb_front_end(model, input_shape)
        input_shape, batch = [*input_shape[:2], 3], 1
        notes.append("RGB front end: " + ("frozen luma convolution (0.299 R + 0.587 G + 0.114 B)"
                                          if len(request["input_shape"]) != 3 or request["input_shape"][2] != 3
                                          else "none (an RGB model)") + "; batch fixed at 1")
    if variant == "mediapipe-detector":
        # MediaPipe's ObjectDetector (anchors in the metadata) reads two tensors: box codes [1, A, 4]
        # and class scores [1, A, C], in that order, for one [1, H, W, 3] photo.
        model = _two_detector_outputs(model, input_shape)
        batch = 1
        notes.append("outputs split into box codes [1, A, 4] and class logits [1, A, C]; batch fixed at 1")
    if variant in ("boxes", "boxes-int8"):
        model = _boxes_in_graph(model, input_shape, request["boxes"])
        batch = 1
        notes.append("boxes decoded and suppressed in the graph (TFLite's SSD outputs: boxes, classes, scores, "
                     "count); batch fixed at 1")
    if variant == "mediapipe-int8":
        norm = request["pixel_normalization"]
        model = _pixel_front_end(model, input_shape, float(norm["mean"][0]), float(norm["std"][0]))
        notes.append("uint8 RGB pixels in, (pixel - mean) / std inside; uint8 scores out (MediaPipe's quantized "
                     "image classifier)")
    if looping_rnns(model):
        batch = 1
        notes.append("batch fixed at 1: a WHILE-loop recurrent layer needs a static batch to "
                     "convert to builtin ops ('tf.TensorListReserve' op requires element_shape "
                     "to be static)")
    spec = tf.TensorSpec([batch, *input_shape], input_dtype,
                         name=request.get("input_name") or "image")

    with tempfile.TemporaryDirectory(dir=Path(request["output"]).parent,
                                     prefix=".savedmodel-") as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), format="tf_saved_model", input_signature=[spec], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if variant in ("float16", "dynamic", "int8", "mediapipe-int8", "boxes-int8"):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if variant == "float16":
            converter.target_spec.supported_types = [tf.float16]
        float_ops = None
        if variant in ("int8", "mediapipe-int8", "boxes-int8"):
            samples = np.load(request["representative"]).astype(np.int32 if token_ids else np.float32)

            def representative():
                for i in range(len(samples)):
                    yield [samples[i:i + 1]]

            converter.representative_dataset = representative
            io_type = tf.float32
            if request.get("int8_io"):
                io_type = tf.int8
            if variant == "mediapipe-int8":
                io_type = tf.uint8
            if request.get("integer_only"):
                # Every op int8, int8 in and out: what an NPU or a microcontroller runs. No op is spared; one
                # the converter cannot quantize fails the conversion, and the exporter names any float op left.
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                converter.inference_input_type = converter.inference_output_type = tf.int8
                data, float_ops = converter.convert(), []
                notes.append("integer only: int8 in and out, no op spared in float32")
            elif variant == "boxes-int8":
                # The network in int8; the decoding and the suppression after it stay float32 (TFLite's
                # NON_MAX_SUPPRESSION_V4 has no int8 kernel), so builtins of any type are allowed.
                data, float_ops = converter.convert(), None
            else:
                data, float_ops = _int8_sparing_sensitive_ops(converter, samples, io_type)
            if float_ops:
                notes.append("left in float32 (TensorFlow's quantization debugger on calibration examples): "
                             + ", ".join(f"{op['op']} {op['layer']} ({op['rmse_steps']:.2f} steps off"
                                         + ("" if op["why"] == FAR_OFF else f"; {op['why']}") + ")"
                                         for op in float_ops))
        else:
            data = converter.convert()
    if variant == "int16x8":
        data = ai_edge_quantize(data, np.load(request["representative"]).astype(np.int32 if token_ids else np.float32),
                                batch)
    Path(request["output"]).write_bytes(data)
    return {"batch": batch, "unrolled": unrolled, "notes": notes,
            **({"float_ops": float_ops} if float_ops is not None else {}),
            "convert_seconds": round(time.perf_counter() - started, 2)}


# TensorFlow's quantization-debugger guide leaves in float32 the ops whose int8 output is off by more than
# 0.7 of a quantization step (root mean square; rounding alone gives 1/sqrt(12) = 0.29 of a step).
SENSITIVE_STEPS = 0.7
# Calibration examples the debugger runs (each op twice, in float32 and int8): enough to rank the ops.
DEBUG_EXAMPLES = 16
# The elementwise ops a model may begin with (its input's normalisation, gray repeated into RGB).
NORMALISATION_OPS = {"MUL", "ADD", "SUB", "RESHAPE", "CONCATENATION"}
# Why an op was left in float32 (a spared op's ``why``).
FAR_OFF = "int8 output off by more than 0.7 of a step"
BEFORE_SPARED = "normalises the input of a spared op"


def _int8_sparing_sensitive_ops(converter, samples, io_type):
    """Full-integer conversion that keeps in float32 only the ops int8 gets badly wrong.

    Calibrates once, measures every op's int8 error with TensorFlow's
    ``QuantizationDebugger`` (each op fed the same input in float32 and int8)
    and quantizes with those ops denylisted, as TensorFlow's guide to selective
    quantization does. The ops most such models need spared are the first
    ones: EfficientNet-Lite0's stem and first depthwise convolution, whose
    batch norm (folded into the kernel) makes a few channels very steep, are
    off by 2.7 and 3.1 steps and cost it 1.1 points of CIFAR-10 accuracy as
    int8 (0.8505 against Keras' 0.8611). When the first op is spared, the
    input's normalisation before it is too.

    Returns:
        The file, and the spared ops (``op``, ``layer``, ``rmse_steps``: the
        int8 error in steps, ``why``), an empty list where none is.
    """
    import io
    import math
    import warnings

    import tensorflow as tf
    from tensorflow.lite.python import convert as tflite_convert

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    step = max(1, len(samples) // DEBUG_EXAMPLES)
    with warnings.catch_warnings():
        # The debugger runs TensorFlow's own interpreter, which warns that it is deprecated.
        warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated", category=UserWarning)
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=lambda: ([samples[i:i + 1]] for i in range(0, len(samples), step)))
        debugger.run()
    table = io.StringIO()
    debugger.layer_statistics_dump(table)
    table.seek(0)
    rows = list(csv.DictReader(table))
    steps = [math.sqrt(float(r["mean_squared_error"])) / float(r["scale"]) if float(r["scale"]) > 0 else 0.0
             for r in rows]
    spared = {i: FAR_OFF for i, s in enumerate(steps) if s > SENSITIVE_STEPS}
    lead = 0
    while lead < len(rows) and rows[lead]["op_name"] in NORMALISATION_OPS:
        lead += 1
    if lead in spared:
        # Requantized after each multiply and add, the pixels reach the spared op inexact: EfficientNet-Lite0's
        # uint8 MediaPipe file lost 2.0 points with its normalisation in int8, 0.3 with it in float32 (2,000
        # CIFAR-10 test photos).
        spared.update({i: BEFORE_SPARED for i in range(lead)})
    spared = [{"op": rows[i]["op_name"], "layer": _layer_of(rows[i]["tensor_name"]), "tensor": rows[i]["tensor_name"],
               "rmse_steps": round(steps[i], 3), "why": why} for i, why in sorted(spared.items())]
    if not spared:
        # The converter's own file, as before the debugger looked (quantizing the calibrated model directly
        # gives a slightly different one: the tutorial lstm-bn's was 8 KiB smaller, 0.06 point apart).
        converter._experimental_calibrate_only = False
        converter.inference_input_type = converter.inference_output_type = io_type
        return converter.convert(), []
    data = tflite_convert.mlir_quantize(
        debugger.calibrated_model, input_data_type=io_type, output_data_type=io_type,
        denylisted_nodes=[op["tensor"] for op in spared])
    return bytes(data), [{k: op[k] for k in ("op", "layer", "rmse_steps", "why")} for op in spared]


def _layer_of(tensor_name: str) -> str:
    """The Keras layer a converted tensor comes from, by its scope (Keras' export names them ``layer_1``):
    'model_1/front_1/block0_project_bn_1/batchnorm/add_1;...' -> 'block0_project_bn'."""
    scopes = tensor_name.split(";")[0].split("/")[:-1]
    layers = [scope[:-2] for scope in scopes if scope.endswith("_1")]
    return layers[-1] if layers else (scopes[-1] if scopes else tensor_name)


def ai_edge_quantize(float_model: bytes, samples, batch: int | None, recipe_name: str = "static_wi8_ai16") -> bytes:
    """The float32 file quantized by ai-edge-quantizer: int8 weights (per channel), int16 activations.

    ``recipe_name`` is one of ai-edge-quantizer's recipes (the benchmark
    also measures ``static_wi8_ai8`` this way).

    int16 activations keep what int8 loses in recurrent state and batch norm;
    every op stays a builtin. Input and output stay float32, as in zoo's
    other files (the recipe would make them int16): an app feeds the image
    as it is.
    """
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    signatures = Interpreter(model_content=bytes(float_model)).get_signature_list()
    key = next(iter(signatures))
    name = signatures[key]["inputs"][0]
    step = batch or CALIBRATION_BATCH
    float_io = [{"regex": ".*", "operation": op, "algorithm_key": "no_quantize"} for op in ("INPUT", "OUTPUT")]
    qt = quantizer.Quantizer(bytearray(float_model), getattr(recipe, recipe_name)() + float_io)
    calibrated = qt.calibrate({key: [{name: samples[i:i + step]} for i in range(0, len(samples), step)]},
                              num_threads=os.cpu_count() or 1)
    return bytes(qt.quantize(calibrated, enable_progress_bar=False, enable_progress_report=False).quantized_model)


def _one_line(exc: BaseException) -> str:
    """The telling line of a converter error (they run to pages of MLIR locations)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "error:" in line:
            return f"{type(exc).__name__}: {line[line.index('error:') + 6:].strip()[:300]}"
    if not lines:
        return type(exc).__name__
    first = lines[0]
    if first.startswith("loc(") and "): " in first:
        first = first.rsplit("): ", 1)[1]  # drop the MLIR location, keep the message
    return f"{type(exc).__name__}: {first[:300]}"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _contain()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    request = json.loads(Path(argv[0]).read_text())
    result_path = Path(request["result"])
    try:
        result = convert(request)
        code = 0
    except Exception as exc:  # the converter raises many types; report one line
        result, code = {"error": _one_line(exc)}, 1
    result_path.write_text(json.dumps(result))
    return code


if __name__ == "__main__":
    sys.exit(main())
