"""`litert-boxes`: a detector's LiteRT file that answers boxes, not anchor rows: ``--litert-boxes``.

``model.tflite`` of a detector gives one row per anchor (box codes and class
logits), which ``zoo predict`` and MediaPipe decode outside the file. An app
that runs LiteRT on its own wants the boxes: ``model.boxes.tflite`` holds the
decoding (the anchors and box coding of the run's task) and the suppression of
overlapping boxes inside its graph, and answers as TFLite's SSD detectors do:
``boxes`` ``[1, N, 4]`` (ymin, xmin, ymax, xmax, fractions of the photo),
``classes`` ``[1, N]`` (indices into labels.txt), ``scores`` ``[1, N]`` and
``count`` ``[1]`` (rows past it are zero), N = 100, one ``[1, H, W, 3]``
photo in (normalised as the model card says). With ``--quantize int8``,
``model.boxes.int8.tflite`` too: the network in int8 (calibrated on training
photos), the decoding and suppression in float32, as LiteRT's int8 detectors
keep them.

Builtin ops only (``NON_MAX_SUPPRESSION_V4``, ``TOPK_V2``, ``GATHER``: no
custom op), and every file is run by LiteRT on the test photos before it is
written, its boxes judged by the task's rule for a runtime's boxes: every box
one Keras gives (same class and score, IoU at least 0.9) and mAP@0.5 within a
point (int8: mAP@0.5 within a point).
"""
from __future__ import annotations

import hashlib

import numpy as np

import zoo
from zoo.errors import UsageError, ZooError
from zoo_exports.tflite import OPTIONS as TFLITE_OPTIONS, quantization_method

LIMIT = 100  # boxes per photo, as zoo's scores and MediaPipe's verification keep
FILES = {"float32": "model.boxes.tflite", "int8": "model.boxes.int8.tflite"}
DESCRIPTIONS = {"float32": "float32; boxes decoded and suppressed in the graph (TFLite's SSD outputs)",
                "int8": "int8 network (calibrated on training photos), boxes decoded and suppressed in float32 "
                        "in the graph (TFLite's SSD outputs)"}


def prepare(options: dict, config: dict) -> None:
    """Before any converting: a task whose post-processing can go into the graph (a detector's)."""
    from zoo.data import tasks

    task = tasks.from_config(config)
    if task.postprocess_in_graph() is None:
        raise UsageError(f"--litert-boxes: a {task.kind} model has no boxes to decode (it is for detectors; "
                       "--tflite writes this model's LiteRT file)")


def found_boxes(path, photos: np.ndarray, update=None, repeats: int = 0) -> tuple:
    """Per photo, the file's ``[(class, score, ymin, xmin, ymax, xmax)]`` (the first ``count`` rows), run
    one photo at a time by LiteRT; and with ``repeats``, the median milliseconds of the first photo
    (after a warm-up, this machine)."""
    import statistics
    import time

    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    (input_name, _), = runner.get_input_details().items()

    def run(photo):
        return runner(**{input_name: np.ascontiguousarray(photo[None], np.float32)})

    found = []
    for photo in photos:
        out = run(photo)
        count = int(round(float(np.asarray(out["count"]).reshape(-1)[0])))
        boxes, classes, scores = (np.asarray(out[k])[0] for k in ("boxes", "classes", "scores"))
        found.append([(int(classes[i]), float(scores[i]), *map(float, boxes[i])) for i in range(count)])
        if update is not None:
            update(1)
    times = []
    for _ in range(repeats if len(photos) else 0):
        started = time.perf_counter()
        run(photos[0])
        times.append((time.perf_counter() - started) * 1000)
    return found, (round(statistics.median(times), 3) if times else None)


def export(context) -> list:
    variants = ("float32", *(("int8",) if "int8" in (context.options.get("quantize") or ()) else ()))
    return [_export_one(context, variant) for variant in variants]


def _export_one(context, variant: str) -> dict:
    from zoo.device import litert
    from zoo_exports.tflite import ConversionError, convert

    filename = FILES[variant]
    path = context.directory / filename
    task = context.dataset.task
    context.log(f"{filename}: converting ({DESCRIPTIONS[variant]})")
    try:
        result = convert(context, "boxes" if variant == "float32" else "boxes-int8", filename,
                         representative=context.representative() if variant == "int8" else None,
                         boxes={**task.postprocess_in_graph(), "limit": LIMIT})
        ops = litert.read_ops(path.read_bytes())
        if litert.custom_ops(ops):
            raise ZooError(f"uses ops that are not LiteRT builtins: {', '.join(litert.custom_ops(ops))}")
        with context.progress(f"verifying {filename}", len(context.x_test)) as update:
            found, latency = found_boxes(path, context.x_test, update, repeats=20)
        check = task.compare_answers(filename, found, context.reference, context.dataset.y_test,
                                     quantized=variant != "float32")
    except (ConversionError, ZooError, ValueError, RuntimeError) as exc:
        message = str(exc).replace(f"{path}: ", "")
        context.fail(filename, message)
        return {"file": filename, "variant": f"boxes-{variant}", "error": message}
    data = path.read_bytes()
    size, digest, float_tensor_ops = len(data), hashlib.sha256(data).hexdigest(), litert.float_ops(data)
    context.judge(check)  # a file that fails is removed here, with its line
    return {
        "file": filename, "variant": f"boxes-{variant}", "description": DESCRIPTIONS[variant],
        "size_bytes": size, "sha256": digest,
        "input": {"shape": [1, *context.run.input_shape], "dtype": "float32"},
        "outputs": {"boxes": [1, LIMIT, 4], "classes": [1, LIMIT], "scores": [1, LIMIT], "count": [1]},
        "ops": ops, "latency_ms": latency, "notes": result.get("notes", []),
        **({"quantization": quantization_method(context.config), "integer_only": not float_tensor_ops}
           if variant == "int8" else {}),
        # Four outputs, boxes already kept: zoo predict runs model.tflite (the same network).
        "zoo_predict": False,
        **check.to_dict(),
    }


@zoo.hookimpl
def register_exporters(register):
    register(zoo.Exporter(
        name="litert-boxes",
        summary="a detector's LiteRT file with boxes decoded and suppressed in the graph (TFLite's SSD outputs), "
                "float32 and int8: --litert-boxes",
        export=export, suffixes=(".boxes.tflite", ".boxes.int8.tflite"), prepare=prepare,
        # --quantize is tflite's: --litert-boxes --quantize int8 writes model.int8.tflite and the boxes' int8 file
        options={"quantize": TFLITE_OPTIONS["quantize"]},
        flag_help="Also write model.boxes.tflite: a detector's LiteRT file that answers boxes, classes, scores and "
                  "a count (decoding and non-maximum suppression inside), and model.boxes.int8.tflite with "
                  "--quantize int8.",
    ))
