"""`tflite`: LiteRT flatbuffers with builtin ops only, float32 and quantized.

``zoo export --tflite`` writes ``model.tflite`` (float32) and, per
``--quantize``, ``model.float16.tflite``, ``model.dynamic.tflite`` (dynamic-range:
int8 weights, float activations) and ``model.int8.tflite`` (full integer:
int8 weights and activations, calibrated on images from the run's training
set; float32 input and output unless ``--int8-io``).

Each conversion runs in a child process (``zoo_exports._convert``), so a
converter crash becomes a one-line error instead of taking zoo down. Each
file is then checked: its op list must hold builtin ops only (no Flex, no
custom ops), and LiteRT runs it on the full test set against the Keras model.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

import zoo
from zoo.api.registry import Param
from zoo.errors import UsageError, ZooError

FILES = {"float32": "model.tflite", "float16": "model.float16.tflite",
         "dynamic": "model.dynamic.tflite", "int8": "model.int8.tflite", "int16x8": "model.int16x8.tflite"}
DESCRIPTIONS = {
    "float32": "float32 weights and activations",
    "float16": "float16 weights, float32 computation",
    "dynamic": "dynamic-range quantization: int8 weights, float activations",
    "int8": "full-integer quantization: int8 weights and activations",
    "int16x8": "int8 weights (per channel), int16 activations, by ai-edge-quantizer's static_wi8_ai16 "
               "(builtin ops; for models int8 activations hurt, e.g. recurrent)",
}
CONVERT_TIMEOUT = 1800  # seconds per file; a hung converter is an error, not a hang

# --quantize: the variants besides float32, and what else people call them.
QUANTIZATIONS = ("float16", "dynamic", "int8", "int16x8")
QUANTIZATION_ALIASES = {"fp16": "float16", "f16": "float16", "half": "float16",
                        "dynamic-range": "dynamic", "drq": "dynamic", "int8": "int8",
                        "full-int8": "int8", "full-integer": "int8", "16x8": "int16x8",
                        "int16": "int16x8", "a16w8": "int16x8"}
CALIBRATED = ("int8", "int16x8")  # the variants calibrated on training images


def parse_quantize(values) -> tuple:
    """Normalise ``--quantize`` values (order kept, duplicates dropped); did-you-mean for typos."""
    found = []
    for value in values or ():
        for part in str(value).split(","):
            key = part.strip().lower().replace("_", "-")
            if not key:
                continue
            name = QUANTIZATION_ALIASES.get(key, key if key in QUANTIZATIONS else None)
            if name is None:
                close = difflib.get_close_matches(key, [*QUANTIZATIONS, *QUANTIZATION_ALIASES], n=1, cutoff=0.5)
                hint = f"; did you mean '{QUANTIZATION_ALIASES.get(close[0], close[0])}'?" if close else ""
                raise UsageError(f"--quantize {part.strip()}: unknown quantization{hint} "
                                 f"(known: {', '.join(QUANTIZATIONS)})")
            if name not in found:
                found.append(name)
    return tuple(found)



QUANTIZE = Param(
    (), "TFLite quantization: float16, dynamic, int8 or int16x8 (int8 weights, int16 activations) (repeat or "
        "comma-separate).", choices=QUANTIZATIONS, metavar="KIND", multiple=True, parse=parse_quantize,
    meanings={variant: f"writes {FILES[variant]}" for variant in QUANTIZATIONS})
OPTIONS = {
    "quantize": QUANTIZE,
    "int8_io": Param(False, "int8 file takes and gives int8 tensors (scale and zero point in the model card)."),
    "integer_only": Param(False, "int8 file with no float op at all, int8 in and out, for NPUs, Edge TPUs and "
                                 "microcontrollers (refused, naming the ops, where some stay float)."),
    "representative_size": Param(None, "Training images used to calibrate int8 and int16x8 (default 200).",
                                 low=1, metavar="N"),
}


def prepare(options: dict, config: dict) -> None:
    """Rules between the options, before any converting."""
    quantize = options.get("quantize") or ()
    if options.get("int8_io") and "int8" not in quantize:
        raise UsageError("--int8-io: applies to full-integer files; add --quantize int8")
    if options.get("integer_only") and "int8" not in quantize:
        raise UsageError("--integer-only: applies to the int8 file; add --quantize int8")
    if options.get("representative_size") is not None and not any(q in CALIBRATED for q in quantize):
        raise UsageError("--representative-size: sets int8 and int16x8 calibration; add --quantize int8 "
                         "or --quantize int16x8")


class ConversionError(Exception):
    pass


def convert(context, variant: str, filename: str, representative=None, **extra) -> dict:
    """Run the converter child for one variant; return its result or raise ConversionError.

    ``representative``: calibration inputs other than the run's normalised
    training images (the uint8 MediaPipe file calibrates on pixels);
    ``extra``: more fields of the request (``pixel_normalization``).
    """
    directory = context.directory
    request = {
        "model": str(context.model_path.resolve()),
        "architecture": context.run.architecture,
        "params": context.run.params,
        "can_unroll": bool(context.architecture is not None and "unroll" in context.architecture.params),
        "input_shape": list(context.run.input_shape),
        "classes": len(context.run.class_names),
        "class_names": list(context.run.class_names), "task": context.run.task.describe(),
        "input": context.config.get("input"),  # the input spec as written: a rebuilt text model needs its tokenizer's size
        "token_ids": context.dataset.input_spec.form.token_ids,  # int32 ids in, as apps hold them
        "input_name": context.model.inputs[0].name if getattr(context.model, "inputs", None) else "image",
        "variant": variant,
        "int8_io": bool(context.options.get("int8_io") or context.options.get("integer_only")) and variant == "int8",
        "integer_only": bool(context.options.get("integer_only")) and variant == "int8",
        "output": str((directory / filename).resolve()),
        "result": str((directory / f".{Path(filename).name}.result.json").resolve()),
        "representative": None,
        **extra,
    }
    if representative is not None:
        rep = directory / f".{Path(filename).name}.representative.npy"
        np.save(rep, representative)
        request["representative"] = str(rep.resolve())
    elif variant in ("int8", "int16x8"):
        rep = directory / ".representative.npy"
        if not rep.exists():
            np.save(rep, context.representative())
        request["representative"] = str(rep.resolve())
    request_path = directory / f".{Path(filename).name}.request.json"
    request_path.write_text(json.dumps(request))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        # In the export's own temporary directory: `python -m` puts the working
        # directory first on sys.path, and a folder named `zoo` there (a
        # checkout) would be imported instead of the installed package.
        proc = subprocess.run([sys.executable, "-m", "zoo_exports._convert", str(request_path.resolve())],
                              capture_output=True, text=True, env=env, timeout=CONVERT_TIMEOUT,
                              cwd=str(directory))
    except subprocess.TimeoutExpired:
        raise ConversionError(f"the converter did not finish in {CONVERT_TIMEOUT} s") from None
    result_path = directory / f".{Path(filename).name}.result.json"
    try:
        result = json.loads(result_path.read_text()) if result_path.exists() else {}
    except ValueError:
        result = {}
    finally:
        request_path.unlink(missing_ok=True)
        result_path.unlink(missing_ok=True)
        if representative is not None:
            (directory / f".{Path(filename).name}.representative.npy").unlink(missing_ok=True)
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        hint = ""
        if variant in ("int8", "mediapipe-int8") and not request["can_unroll"]:
            hint = (f"; full-integer calibration crashes on looping recurrent layers, and "
                    f"'{request['architecture']}' cannot be rebuilt unrolled here (its plugin is "
                    f"missing or has no 'unroll' parameter): leave out --quantize int8")
        raise ConversionError(f"the TFLite converter crashed ({name}) converting to {variant}{hint}")
    if proc.returncode != 0 or "error" in result:
        message = result.get("error") or _last_line(proc.stderr) or f"exit status {proc.returncode}"
        tool = "the TFLite converter" + (" or ai-edge-quantizer" if variant == "int16x8" else "")
        raise ConversionError(f"{tool} failed converting to {variant}: {message}")
    return result


def export(context) -> list:
    """Write model.tflite and one file per quantization into ``context.directory``; verify each."""
    described = []
    try:
        for variant in ("float32", *context.options.get("quantize", ())):
            described.append(_export_one(context, variant))
    finally:
        (context.directory / ".representative.npy").unlink(missing_ok=True)
    return described


def _export_one(context, variant: str) -> dict:
    """Convert one variant, check its ops, run it with LiteRT on the test set."""
    from zoo.device import litert

    filename = FILES[variant]
    path = context.directory / filename
    context.log(f"{filename}: converting ({DESCRIPTIONS[variant]})")
    try:
        result = convert(context, variant, filename)
        runner = litert.LiteRTModel(path)
    except (ConversionError, ZooError) as exc:
        message = str(exc).replace(f"{path}: ", "")
        context.fail(filename, message)
        return {"file": filename, "variant": variant, "error": message}
    foreign = litert.custom_ops(runner.ops)
    if foreign:
        context.fail(filename, f"uses ops that are not LiteRT builtins: {', '.join(foreign)}")
        return {"file": filename, "variant": variant, "error": "not builtin ops only", "ops": runner.ops}
    float_ops = litert.float_ops(path.read_bytes()) if variant in CALIBRATED else None
    if variant == "int8" and context.options.get("integer_only") and float_ops:
        message = (f"--integer-only: ops still read or write float tensors: {', '.join(float_ops)} (the converter "
                   "has no int8 kernel for them here, or they were kept float to keep accuracy)")
        context.fail(filename, message)
        return {"file": filename, "variant": variant, "error": message}
    x = context.x_test
    with context.progress(f"verifying {filename}", len(x)) as update:
        probabilities = runner.predict(x, progress=update)
    check = context.verify(filename, probabilities, quantized=variant != "float32",
                           hint=INT16X8_HINT if variant == "int8" else None)
    latency = _latency_ms(runner, x[:1])
    advice = _advice(variant, check)
    if advice:
        context.log(f"{filename}: {advice}")
    return {
        "file": filename, "variant": variant, "description": DESCRIPTIONS[variant] + spared(result),
        "size_bytes": runner.size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None,
        **runner.describe(),
        "unrolled": result.get("unrolled", False),
        **({"quantization": quantization_method(context.config), "integer_only": not float_ops,
            **({"float_tensor_ops": float_ops} if float_ops else {})} if variant in CALIBRATED else {}),
        "latency_ms": latency,
        "notes": result.get("notes", []),
        **({"float_ops": result["float_ops"]} if "float_ops" in result else {}),
        **check.to_dict(),
        **({"advice": advice} if advice else {}),
    }


def quantization_method(config) -> str:
    """How a quantized file's weights came to be: ``"QAT"`` where the run was a quantization-aware stage
    (``zoo train --from RUN --qat``), else ``"PTQ"`` (post-training only). The converter calibrates the
    activations' ranges either way."""
    return "QAT" if (config or {}).get("quantization_aware") else "PTQ"


def spared(result: dict) -> str:
    """What an int8 file's description adds when the converter left ops in float32 (none: nothing)."""
    from zoo_exports._convert import FAR_OFF

    ops = result.get("float_ops") or []
    if not ops:
        return ""
    far = ", ".join(dict.fromkeys(op["layer"] for op in ops if op["why"] == FAR_OFF))
    normalisation = any(op["why"] != FAR_OFF for op in ops)
    return (f"; except {len(ops)} op{'s' if len(ops) > 1 else ''} left in float32: {far} (int8 was off there by "
            f"more than 0.7 of a step){' and the input normalisation before them' if normalisation else ''} "
            f"(float_ops)")


# The int8 file's promise: within half a point of the float model. Outside
# it, int16 activations (int16x8) usually close the gap at twice the
# activation memory (issue 19, lstm-bn on an Intel Xeon: -0.90 points int8,
# 0.00 int16x8; the tuned lstm-bn trained on all 60,000 images, AMD EPYC:
# int8 -1.16, refused, int16x8 -0.02). Said when int8 passes but misses the
# half point, and when it fails verification.
INT8_POINTS = 0.5
INT16X8_HINT = "--quantize int16x8 (int8 weights, int16 activations) usually keeps it"


def _advice(variant: str, check) -> str | None:
    """For a classifier's int8 file more than INT8_POINTS below Keras: say so, and what to try."""
    if variant != "int8" or not check.classifies:
        return None
    drop = (check.keras_accuracy - check.test_accuracy) * 100
    if drop <= INT8_POINTS:
        return None
    return f"{drop:.2f} points below the Keras accuracy (more than {INT8_POINTS:g}); {INT16X8_HINT}"


def _latency_ms(runner, one, repeats: int = 30) -> float:
    """Median milliseconds of one example through the file on LiteRT (after a warm-up), this machine."""
    import statistics
    import time

    runner.predict(one)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        runner.predict(one)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 4)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


@zoo.hookimpl
def register_exporters(register):
    register(zoo.Exporter(
        name="tflite", aliases=("litert", "tf-lite"),
        summary="LiteRT .tflite, builtin ops only: float32, float16, dynamic-range and int8 variants",
        export=export, suffixes=(".tflite",), options=OPTIONS, prepare=prepare,
        flag_help="Also write model.tflite (LiteRT, builtin ops only).",
    ))
