"""Quantization-aware fine-tuning (zoo train --from RUN --qat) and integer-only int8 files (--integer-only)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_zoo


def _small_model():
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="norm")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs)
    norm = model.get_layer("norm")
    rng = np.random.default_rng(0)
    norm.set_weights([rng.uniform(0.5, 2, 4), rng.normal(0, 0.1, 4), rng.normal(0, 0.1, 4), rng.uniform(0.01, 3, 4)])
    return model


def test_the_qat_graph_shares_the_model_and_rounds_the_folded_kernel_to_int8_levels():
    from keras import ops

    from zoo.train import qat

    model = _small_model()
    before = [w.copy() for w in model.get_weights()]
    x = np.random.default_rng(1).random((64, 8, 8, 1)).astype("float32")
    graph, wrappers = qat.quantization_aware(model, x)
    by_layer = {w.inner.name: w for w in wrappers}
    conv = by_layer["conv"]
    assert conv.norm is model.get_layer("norm")  # the batch norm folded into the convolution
    assert by_layer["head"].norm is None
    # Shared: the same variables, the float model unchanged by building and calibrating.
    assert {id(v) for v in model.trainable_weights} == {id(v) for v in graph.trainable_weights}
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    # The kernel the convolution runs, folded as the converter folds it, sits on 255 symmetric levels a channel.
    fold = ops.convert_to_numpy(conv._fold())
    kernel = ops.convert_to_numpy(conv._rounded_kernel(model.get_layer("conv").kernel, conv._fold(), (0, 1, 2)))
    folded = kernel * fold
    for channel in range(4):
        values = folded[..., channel]
        step = np.abs(model.get_layer("conv").get_weights()[0][..., channel] * fold[channel]).max() / 127
        levels = values / step
        assert np.allclose(levels, np.round(levels), atol=1e-3) and np.abs(levels).max() <= 127 + 1e-3
    # The rounding changes the answers a little, not their meaning.
    float_out, rounded_out = model.predict(x, verbose=0), graph.predict(x, verbose=0)
    assert not np.array_equal(float_out, rounded_out)
    assert np.abs(float_out - rounded_out).max() < 0.1
    assert np.mean(float_out.argmax(1) == rounded_out.argmax(1)) > 0.9
    # Every activation range was calibrated on the examples (the relu's starts at zero).
    relu = by_layer["relu"]
    assert float(relu.low) == 0.0 and float(relu.high) > 0.0


def test_recurrent_layers_step_as_the_layer_does_and_round_inside(monkeypatch):
    import keras

    from zoo.train import qat

    keras.utils.set_random_seed(5)
    inputs = keras.Input((6, 5))
    x = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True), name="both")(inputs)
    x = keras.layers.SimpleRNN(3, name="simple")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="head")(x))
    x = np.random.default_rng(2).normal(size=(32, 6, 5)).astype("float32")
    graph, wrappers = qat.quantization_aware(model, x)
    kinds = {w.inner.name: type(w).__name__ for w in wrappers}
    assert kinds["both"] == "BidirectionalRounded" and kinds["simple"] == "RecurrentRounded"
    # Every step's tensors have ranges of their own, each calibrated (the first step's state products are
    # zero: the state starts at zero); the gate sums' all span something.
    ranges = [r for w in wrappers for r in w.ranges()]
    assert all(float(r.seen) == 1.0 and float(r.high) >= float(r.low) for r in ranges)
    lstm = next(w for w in wrappers if w.inner.name == "both").forward
    assert len(lstm.sums) == 6 and all(float(r.high) > float(r.low) for r in lstm.sums)
    rounded = graph.predict(x, verbose=0)
    assert 0 < np.abs(rounded - model.predict(x, verbose=0)).max() < 0.1
    # With the rounding taken out, the step-by-step graph is the model itself (gate order, directions, merge).
    monkeypatch.setattr(keras.quantizers, "fake_quant_with_min_max_vars", lambda x, *args, **kwargs: x)
    unrounded = keras.ops.convert_to_numpy(graph(x, training=False))  # eager: predict's graph was traced rounded
    np.testing.assert_allclose(unrounded, model.predict(x, verbose=0), atol=1e-5)


def test_a_qat_stage_trains_from_a_run_and_its_int8_file_is_integer_only(good_run, tmp_path):
    qat_dir = tmp_path / "qat"
    result = run_zoo("train", "--from", str(good_run), "--qat", "--epochs", "1", "-o", str(qat_dir), "-q")
    assert result.returncode == 0, result.stderr
    config = json.loads((qat_dir / "config.json").read_text())
    assert config["architecture"] == "dense" and config["dataset"] == "fashion-sample"
    assert config["started_from"]["run"] == str(good_run.resolve())
    assert config["quantization_aware"]["epochs"] == 1
    assert config["recipe_settings"]["learning_rate"] == pytest.approx(1e-4)  # a tenth of adam's default
    assert "quantization-aware" in (qat_dir / "report.html").read_text()
    # The kept model is the architecture's own float model: nothing of the QAT graph in it.
    from zoo import trainer

    model = trainer.load_run_model(qat_dir)
    assert not any("qat" in layer.name for layer in model.layers)

    out = tmp_path / "export"
    exported = run_zoo("export", str(qat_dir), "--tflite", "--quantize", "int8", "--integer-only", "-o", str(out),
                       "--json")
    assert exported.returncode == 0, exported.stderr
    card = json.loads((out / "model_card.json").read_text())
    int8 = next(f for f in card["files"] if f["file"] == "model.int8.tflite")
    assert int8["quantization"] == "QAT" and int8["integer_only"] is True
    assert int8["input"]["dtype"] == "int8" and int8["output"]["dtype"] == "int8"
    from zoo.device import litert

    assert litert.float_ops((out / "model.int8.tflite").read_bytes()) == []
    assert card["quantization_aware"]["weights"].startswith("int8 per output channel")


def test_a_post_training_int8_file_says_so_and_is_not_integer_only(good_run, tmp_path):
    out = tmp_path / "export"
    exported = run_zoo("export", str(good_run), "--tflite", "--quantize", "int8", "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    card = json.loads((out / "model_card.json").read_text())
    int8 = next(f for f in card["files"] if f["file"] == "model.int8.tflite")
    # Float in and out: the QUANTIZE and DEQUANTIZE at its ends read and write float32.
    assert int8["quantization"] == "PTQ" and int8["integer_only"] is False
    assert int8["float_tensor_ops"] == ["DEQUANTIZE", "QUANTIZE"]


def test_a_qat_stage_resumes_as_it_began(good_run, tmp_path):
    import keras

    from zoo import trainer

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    run_dir = tmp_path / "qat"
    with pytest.raises(KeyboardInterrupt):
        trainer.train(start_from=str(good_run), quantization_aware=True, overrides={"epochs": 2},
                      output=str(run_dir), verbose=0, callbacks=[Interrupt()])
    assert not (run_dir / "metrics.json").exists()
    result = trainer.train(resume=str(run_dir), verbose=0)
    assert result.metrics["epochs_run"] == 2 and result.metrics["resumed"] is True
    assert json.loads((run_dir / "config.json").read_text())["quantization_aware"]["epochs"] == 2


@pytest.mark.parametrize("args, words", [
    (["train", "dense", "fashion-sample", "--qat"], "--qat fine-tunes a finished run"),
    (["train", "--resume", "RUN", "--qat"], "--qat with --resume"),
    (["export", "RUN", "--tflite", "--integer-only"], "--integer-only: applies to the int8 file"),
])
def test_qat_and_integer_only_refuse_what_they_cannot_do_in_one_line(good_run, args, words):
    args = [str(good_run) if a == "RUN" else a for a in args]
    result = run_zoo(*args)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
