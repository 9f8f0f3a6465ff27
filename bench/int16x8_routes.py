"""int16x8 two ways, on one trained run: the TFLite converter's 16x8 mode (what zoo ships) and ai-edge-quantizer.

    python -m bench.int16x8_routes RUN_DIR OUT_DIR        # prints one JSON line

Both start from the same Keras model (recurrent layers unrolled, as zoo's
int8 and int16x8 exports do) and the same calibration images (zoo's: 200
training images drawn with the run's seed). Each file is scored on the full
test set with stock LiteRT: size, accuracy, agreement with Keras, and the
median latency of one image. Needs ``ai-edge-quantizer`` importable (it pins
ai-edge-litert to the version zoo uses).

ai-edge-quantizer calibrates with a moving average of each tensor's range,
so it is fed a few large batches rather than single images; it cannot
quantize a WHILE loop, so it gets the unrolled float32 file.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CALIBRATION_BATCH = 50  # 200 images in 4 batches


def _latency_ms(runner, one, repeats: int = 200) -> float:
    runner.predict(one)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        runner.predict(one)
        times.append(time.perf_counter() - started)
    return round(1e3 * sorted(times)[len(times) // 2], 3)


def _score(path: Path, x_test, y_test, keras_classes) -> dict:
    from zoo.litert import LiteRTModel

    runner = LiteRTModel(path)
    predicted = np.argmax(runner.predict(x_test), axis=1)
    return {"bytes": path.stat().st_size, "test_accuracy": round(float(np.mean(predicted == y_test)), 6),
            "agreement": round(float(np.mean(predicted == keras_classes)), 6),
            "latency_ms": _latency_ms(runner, x_test[:1])}


def main(argv=None) -> int:
    run_dir, out = (Path(a) for a in (argv or sys.argv[1:]))
    out.mkdir(parents=True, exist_ok=True)
    import keras
    import tensorflow as tf
    from ai_edge_quantizer import quantizer, recipe

    from zoo import calls, evaluation, plugins, runs, trainer
    from zoo_exports import _convert

    config = json.loads((run_dir / runs.CONFIG).read_text())
    data = calls.load_dataset(plugins.get("dataset", config["dataset"]), config.get("data_dir"),
                              options=config.get("data_options"))
    x_test = data.normalise(data.x_test)
    rng = np.random.default_rng(config.get("seed", 0))  # zoo's calibration draw (zoo.export)
    calibration = data.normalise(data.x_train[np.sort(rng.choice(len(data.x_train), 200, replace=False))])
    model = trainer.load_run_model(run_dir)
    keras_classes = np.argmax(evaluation.predict(model, x_test), axis=1)
    request = {"architecture": config["architecture"], "params": config["params"],
               "input_shape": list(x_test.shape[1:]), "task": config.get("task"),
               "class_names": config.get("class_names")}
    if _convert.looping_rnns(model):
        model = _convert._unrolled(model, request)
    result = {"keras_test_accuracy": round(float(np.mean(keras_classes == data.y_test)), 6)}

    spec = tf.TensorSpec([None, *x_test.shape[1:]], tf.float32, name="image")
    with tempfile.TemporaryDirectory() as tmp:
        model.export(str(Path(tmp) / "saved"), format="tf_saved_model", input_signature=[spec], verbose=False)

        def converter():
            c = tf.lite.TFLiteConverter.from_saved_model(str(Path(tmp) / "saved"))
            c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            return c

        float_path = out / "unrolled.float32.tflite"
        float_path.write_bytes(converter().convert())

        started = time.perf_counter()
        c = converter()
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
        c.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        converter_path = out / "converter.int16x8.tflite"
        converter_path.write_bytes(c.convert())
        converter_seconds = time.perf_counter() - started

    signatures = tf.lite.Interpreter(model_path=str(float_path)).get_signature_list()
    signature = next(iter(signatures))
    name = signatures[signature]["inputs"][0]
    batches = [{name: calibration[i:i + CALIBRATION_BATCH]} for i in range(0, len(calibration), CALIBRATION_BATCH)]
    # Float32 input and output, as zoo's converter files have: an app feeds the image as it is.
    float_io = [{"regex": ".*", "operation": op, "algorithm_key": "no_quantize"} for op in ("INPUT", "OUTPUT")]
    result["float32 (unrolled)"] = _score(float_path, x_test, data.y_test, keras_classes)
    result["converter 16x8"] = {**_score(converter_path, x_test, data.y_test, keras_classes),
                                "quantize_seconds": round(converter_seconds, 1)}
    zoo_int8 = run_dir / "export" / "model.int8.tflite"
    if zoo_int8.is_file():
        result["converter int8 (zoo's model.int8.tflite)"] = _score(zoo_int8, x_test, data.y_test, keras_classes)
    for recipe_name in ("static_wi8_ai16", "static_wi8_ai8"):
        started = time.perf_counter()
        qt = quantizer.Quantizer(str(float_path), getattr(recipe, recipe_name)() + float_io)
        calibrated = qt.calibrate({signature: batches})
        path = out / f"ai-edge-quantizer.{recipe_name}.tflite"
        qt.quantize(calibrated, enable_progress_report=False).export_model(str(path), overwrite=True)
        seconds = time.perf_counter() - started
        result[f"ai-edge-quantizer {recipe_name}"] = {**_score(path, x_test, data.y_test, keras_classes),
                                                      "quantize_seconds": round(seconds, 1)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
