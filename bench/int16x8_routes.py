"""int16x8 two ways, on one trained run: the TFLite converter's 16x8 mode (what zoo ships) and ai-edge-quantizer.

    python -m bench.int16x8_routes RUN_DIR OUT_DIR        # prints one JSON line

Both start from the same Keras model (recurrent layers unrolled, as zoo's
int8 and int16x8 exports do) and the same calibration images (zoo's: 200
training images drawn with the run's seed). Each file is scored on the full
test set with stock LiteRT: size, accuracy, agreement with Keras, and the
median latency of one image. Needs ``ai-edge-quantizer`` importable (it pins
ai-edge-litert to the version zoo uses).

ai-edge-quantizer is called as zoo's export calls it
(``zoo_exports._convert.ai_edge_quantize``); it cannot quantize a WHILE loop,
so it gets the unrolled float32 file.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

def _score(path: Path, x_test, y_test, keras_classes) -> dict:
    from zoo.device.litert import LiteRTModel
    from zoo_exports.tflite import _latency_ms  # the model card's own measure

    runner = LiteRTModel(path)
    predicted = np.argmax(runner.predict(x_test), axis=1)
    return {"bytes": path.stat().st_size, "test_accuracy": round(float(np.mean(predicted == y_test)), 6),
            "agreement": round(float(np.mean(predicted == keras_classes)), 6),
            "latency_ms": _latency_ms(runner, x_test[:1], repeats=200)}


def main(argv=None) -> int:
    run_dir, out = (Path(a) for a in (argv or sys.argv[1:]))
    out.mkdir(parents=True, exist_ok=True)
    import tensorflow as tf

    from zoo.api import calls, plugins
    from zoo.data import evaluation
    from zoo.run import runs
    from zoo.train import trainer
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

    result["float32 (unrolled)"] = _score(float_path, x_test, data.y_test, keras_classes)
    result["converter 16x8"] = {**_score(converter_path, x_test, data.y_test, keras_classes),
                                "quantize_seconds": round(converter_seconds, 1)}
    zoo_int8 = run_dir / "export" / "model.int8.tflite"
    if zoo_int8.is_file():
        result["converter int8 (zoo's model.int8.tflite)"] = _score(zoo_int8, x_test, data.y_test, keras_classes)
    for recipe_name in ("static_wi8_ai16", "static_wi8_ai8"):
        started = time.perf_counter()
        path = out / f"ai-edge-quantizer.{recipe_name}.tflite"
        # zoo's own int16x8 route (float32 input and output, batches of 50), with this recipe.
        path.write_bytes(_convert.ai_edge_quantize(float_path.read_bytes(), calibration, None, recipe_name))
        seconds = time.perf_counter() - started
        result[f"ai-edge-quantizer {recipe_name}"] = {**_score(path, x_test, data.y_test, keras_classes),
                                                      "quantize_seconds": round(seconds, 1)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
