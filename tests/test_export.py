"""zoo export: every architecture to SavedModel and four builtin-only TFLite files.

Each architecture in the registry (the built-ins and any installed plugin,
such as zoo-gru) is trained for one epoch on fashion-sample, exported with all
quantizations, and every file is run (LiteRT for .tflite, TensorFlow for the
SavedModel) and compared with the Keras model here, independently of the
exporter's own verification.
"""
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import run_zoo, offline_image_architectures
from zoo import export, plugins
from zoo.tasks import base as thresholds
from zoo.cli import cli
from zoo.errors import UsageError, ZooError
from zoo.images import load_image
from zoo.litert import LiteRTModel, read_ops
from zoo.registry import Exporter

ARCHS = offline_image_architectures()  # the fixture trains each on fashion-sample
TFLITE = {"float32": "model.tflite", "float16": "model.float16.tflite",
          "dynamic": "model.dynamic.tflite", "int8": "model.int8.tflite", "int16x8": "model.int16x8.tflite"}
QUIET = {"log": lambda message: None}


def files_of(arch: str) -> dict:
    """The TFLite variants the ``exported`` fixture writes (every one, for every architecture)."""
    return dict(TFLITE)


def train(arch: str, output: Path) -> Path:
    from zoo import trainer

    trainer.train(arch, "fashion-sample", overrides={"epochs": 1}, output=str(output), verbose=0)
    return output


@pytest.fixture(scope="module")
def dataset():
    return plugins.get("dataset", "fashion-sample").load(seed=0)


@pytest.fixture(scope="module", params=ARCHS)
def exported(request, tmp_path_factory):
    """(arch, run directory, export result) with every TFLite variant."""
    run = train(request.param, tmp_path_factory.mktemp(request.param) / "run")
    started = time.perf_counter()
    # int16x8 for every architecture, the example plugin's GRU too: the
    # converter's 16x8 mode broke it (16.7% against Keras' 67.3%);
    # ai-edge-quantizer's static_wi8_ai16 keeps it within a point.
    quantize = ["float16", "dynamic", "int8", "int16x8"]
    result = export.export(str(run), formats=["tflite"], quantize=quantize, **QUIET)
    print(f"\n{request.param}: export {time.perf_counter() - started:.1f} s")
    return request.param, run, result


@pytest.fixture(scope="module")
def dense_run(tmp_path_factory):
    """A small dense run for the error and atomicity tests."""
    return train("dense", tmp_path_factory.mktemp("dense") / "run")


def keras_probabilities(run: Path, x: np.ndarray) -> np.ndarray:
    import keras

    model = keras.saving.load_model(run / "model.keras")
    return np.asarray(model.predict(x, batch_size=500, verbose=0))


# --------------------------------------------------------------------------
# Every architecture, every variant.

def test_writes_every_file(exported):
    arch, run, result = exported
    assert result.directory == run / "export"
    names = sorted(p.name for p in result.directory.iterdir())
    assert names == sorted(["saved_model", "labels.txt", "model_card.json", *files_of(arch).values()])
    assert not [p for p in run.iterdir() if p.name.startswith(".export")]  # no temp dir left


def test_tflite_files_use_builtin_ops_only(exported):
    arch, run, result = exported
    card = json.loads((result.directory / "model_card.json").read_text())
    described = {f["file"]: f for f in card["files"]}
    for variant, name in files_of(arch).items():
        ops = read_ops((result.directory / name).read_bytes())
        assert ops, name
        custom = [op for op in ops if op.startswith("CUSTOM") or "Flex" in op]
        assert not custom, f"{arch} {name} uses {custom}"
        assert described[name]["ops"] == ops
        # Stock LiteRT (no Flex delegate) prepares it.
        LiteRTModel(result.directory / name)


def test_int16x8_is_int16_activations_with_float_io(exported):
    """ai-edge-quantizer's file: int16 activations, int8 weights, float32 in and out as zoo's other files."""
    from ai_edge_litert.interpreter import Interpreter

    arch, run, result = exported
    interpreter = Interpreter(model_path=str(result.directory / "model.int16x8.tflite"))
    io = interpreter.get_input_details() + interpreter.get_output_details()
    assert [np.dtype(d["dtype"]) for d in io] == [np.float32, np.float32], arch
    kinds = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    assert {"int16", "int8"} <= kinds, (arch, kinds)


def test_each_file_matches_keras(exported, dataset):
    """float32 within 1e-4 and the same class on every image; quantized within 1 point."""
    arch, run, result = exported
    x, y = dataset.normalise(dataset.x_test), dataset.y_test
    reference = keras_probabilities(run, x)
    keras_accuracy = np.mean(reference.argmax(1) == y)
    for variant, name in files_of(arch).items():
        probabilities = LiteRTModel(result.directory / name).predict(x)
        accuracy = np.mean(probabilities.argmax(1) == y)
        if variant == "float32":
            assert np.abs(probabilities - reference).max() <= 1e-4, arch
            assert (probabilities.argmax(1) == reference.argmax(1)).all(), arch
        else:
            assert accuracy >= keras_accuracy - 0.01 - 1e-9, (arch, variant, accuracy, keras_accuracy)

    import tensorflow as tf

    serve = tf.saved_model.load(str(result.directory / "saved_model")).signatures["serve"]
    out = next(iter(serve(image=tf.constant(x[:300])).values())).numpy()
    np.testing.assert_allclose(out, reference[:300], atol=1e-4)


def test_model_card(exported, dataset):
    arch, run, result = exported
    card = json.loads((result.directory / "model_card.json").read_text())
    assert card["architecture"] == arch and card["dataset"] == "fashion-sample"
    assert card["input"]["name"] and card["input"]["shape"] == [None, 28, 28]
    assert card["input"]["dtype"] == "float32" and "255" in card["input"]["normalisation"]
    assert card["class_names"] == list(dataset.class_names)
    assert (result.directory / "labels.txt").read_text().splitlines() == list(dataset.class_names)
    assert card["versions"]["ai-edge-litert"] and card["versions"]["tensorflow"]
    assert card["verification"]["test_set"].endswith(f"all {len(dataset.y_test)} images")
    for f in card["files"]:
        assert f["verified"] is True
        assert 0 <= f["test_accuracy"] <= 1 and 0 <= f["agreement"] <= 1 and f["max_abs_diff"] >= 0
        assert f["size_bytes"] == export.file_size(result.directory / f["file"])
        if f["format"] == "tflite":
            # A fixed batch is stated; a dynamic one is resizable.
            batch = f["input"]["shape"][0]
            assert f["batch"].startswith("dynamic" if batch == -1 else f"fixed at {batch}")


def test_predict_cli_gives_keras_class(exported, dataset, tmp_path):
    """zoo predict on PNGs (of other sizes, RGB too) agrees with Keras on the same pixels."""
    from PIL import Image

    arch, run, result = exported
    paths = []
    for i in range(6):
        image = Image.fromarray(dataset.x_test[i])
        if i % 2:
            image = image.resize((56, 40)).convert("RGB")
        path = tmp_path / f"item{i}.{'png' if i % 3 else 'jpg'}"
        image.save(path)
        paths.append(path)
    pixels = np.stack([load_image(p, (28, 28)) for p in paths])
    expected = keras_probabilities(run, dataset.normalise(pixels)).argmax(1)
    proc = run_zoo("predict", str(run), *map(str, paths), "--json", "--top-k", "2")
    assert proc.returncode == 0, proc.stderr
    got = [item["predictions"][0]["index"] for item in json.loads(proc.stdout)["results"]]
    assert got == expected.tolist()


# --------------------------------------------------------------------------
# Options, errors and atomic writes (one small dense run).

def test_int8_io(dense_run, tmp_path):
    out = tmp_path / "int8io"
    result = export.export(str(dense_run), formats=["tflite"], quantize=["int8"], int8_io=True,
                           representative_size=50, output=str(out), **QUIET)
    int8 = next(f for f in result.card["files"] if f["file"] == "model.int8.tflite")
    assert int8["input"]["dtype"] == "int8" and int8["output"]["dtype"] == "int8"
    assert int8["input"]["quantization"]["scale"] > 0
    assert "zero_point" in int8["output"]["quantization"]
    assert result.card["options"]["representative_size"] == 50
    assert int8["verified"]


def _steep_model(steepness: float, normalised: bool):
    """A convolution whose kernel is ``steepness`` times a small one (as a batch norm folded into a kernel can
    make it) before ReLU6, then a dense head: at 100 its int8 output is off by many quantization steps.
    ``normalised``: the input goes through a multiply and an add first, as a backbone's preprocessing."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="normalise")(inputs) if normalised else inputs
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu6", name="steep")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    kernel, bias = model.get_layer("steep").get_weights()
    rng = np.random.default_rng(0)
    kernel = (rng.normal(0, 0.3, kernel.shape) * steepness).astype(np.float32)
    model.get_layer("steep").set_weights([kernel, np.full_like(bias, 3.0)])
    return model


@pytest.mark.parametrize("steepness, normalised, spared", [
    (100.0, False, ["steep"]),
    (100.0, True, ["normalise", "normalise", "steep"]),  # the multiply and add before it too
    (1.0, False, []),
    (1.0, True, []),
])
def test_int8_leaves_in_float32_only_the_ops_it_gets_badly_wrong(tmp_path, steepness, normalised, spared):
    """int8 keeps in float32 the ops TensorFlow's quantization debugger finds off by more than 0.7 of a step,
    and the input's normalisation before such an op."""
    import tensorflow as tf
    from zoo_exports._convert import BEFORE_SPARED, FAR_OFF, _int8_sparing_sensitive_ops

    saved = tmp_path / "saved_model"
    _steep_model(steepness, normalised).export(str(saved), format="tf_saved_model", verbose=False,
                                   input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32, name="image")])
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = np.random.default_rng(1).uniform(0, 1, (64, 8, 8, 1)).astype(np.float32)
    converter.representative_dataset = lambda: ([samples[i:i + 1]] for i in range(len(samples)))
    data, float_ops = _int8_sparing_sensitive_ops(converter, samples, tf.float32)
    assert [op["layer"] for op in float_ops] == spared
    assert [op["op"] for op in float_ops if op["layer"] == "steep"] == (["CONV_2D"] if spared else [])
    assert all(op["rmse_steps"] > 0.7 and op["why"] == FAR_OFF for op in float_ops if op["layer"] == "steep")
    assert all(op["why"] == BEFORE_SPARED for op in float_ops if op["layer"] == "normalise")
    path = tmp_path / "model.int8.tflite"
    path.write_bytes(data)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    tensors = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    kinds = {op["op_name"]: tensors[op["inputs"][0]].__name__ for op in interpreter._get_ops_details()}
    assert kinds["CONV_2D"] == ("float32" if spared else "int8")
    assert kinds["FULLY_CONNECTED"] == "int8"  # the rest stays int8 either way


def test_failed_verification_writes_nothing(dense_run, tmp_path, monkeypatch):
    # No file can be within a negative tolerance. (0.0 was not enough: on some CPUs the SavedModel is
    # bit-exact, passes, and is written beside the refused model.tflite, as it should be.)
    monkeypatch.setattr(thresholds, "FLOAT_ATOL", -1.0)
    out = tmp_path / "strict"
    with pytest.raises(export.ExportError, match=r"model.tflite: failed verification: max \|difference\|"):
        export.export(str(dense_run), formats=["tflite"], output=str(out), **QUIET)
    assert not out.exists()
    assert not list(tmp_path.iterdir())


def test_quantized_file_below_the_accuracy_limit_is_refused(dense_run, tmp_path, monkeypatch):
    """A quantized file (int16x8 here) is judged on accuracy: outside the limit it is refused and named; the
    files that passed are written (a refused file does not take them with it), and the card says why."""
    monkeypatch.setattr(thresholds, "QUANTIZED_POINTS", -5.0)  # demand 5 points above Keras: no file passes
    monkeypatch.setattr(thresholds, "SIGNIFICANCE", 1.1)  # and let no drop off as chance
    out = tmp_path / "strict"
    with pytest.raises(ZooError, match=r"model\.int16x8\.tflite: failed verification: accuracy .* points; at most --5"
                                      r".*not written; the files that passed were written to .*saved_model, model.tflite"):
        export.export(str(dense_run), formats=["tflite"], quantize=["int16x8"], output=str(out), **QUIET)
    assert sorted(p.name for p in out.iterdir()) == ["labels.txt", "model.tflite", "model_card.json", "saved_model"]
    card = json.loads((out / "model_card.json").read_text())
    assert [f["file"] for f in card["files"]] == ["saved_model", "model.tflite"]
    assert [r["file"] for r in card["refused"]] == ["model.int16x8.tflite"]
    assert "failed verification" in card["refused"][0]["reason"]


def test_refused_int8_points_to_int16x8(dense_run, tmp_path, monkeypatch, cli_runner):
    """An int8 file outside the limit is refused with what to try instead (the tuned lstm-bn's loses 1.16 points)."""
    monkeypatch.setattr(thresholds, "QUANTIZED_POINTS", -5.0)  # demand 5 points above Keras: no file passes
    monkeypatch.setattr(thresholds, "SIGNIFICANCE", 1.1)  # and let no drop off as chance
    out = tmp_path / "strict"
    result = cli_runner.invoke(cli, ["export", str(dense_run), "--tflite", "--quantize", "int8", "-o", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "model.int8.tflite: failed verification" in error[0], result.output
    assert "--quantize int16x8" in error[0]
    assert not (out / "model.int8.tflite").exists() and (out / "model.tflite").is_file()


def test_converter_crash_is_one_line_error(exported, tmp_path):
    """A converter that crashes (int8 of a WHILE-loop LSTM) is reported, never a core dump."""
    arch, run, result = exported
    if arch != "lstm-bn":
        pytest.skip("one architecture is enough")
    copy = tmp_path / "copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("export"))
    config = json.loads((copy / "config.json").read_text())
    config["architecture"] = "lstm-not-installed"  # so it cannot be rebuilt unrolled
    (copy / "config.json").write_text(json.dumps(config))
    proc = run_zoo("export", str(copy), "--tflite", "--quantize", "int8", cwd=str(tmp_path))
    assert "Traceback" not in proc.stderr and "core dumped" not in proc.stderr
    if proc.returncode:  # TensorFlow 2.21 crashes here; a fixed converter may not
        assert proc.returncode == 1
        error = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
        assert len(error) == 1 and "model.int8.tflite" in error[0], proc.stderr
        # The crashed file is not written; the files that passed are, and the card says which was refused.
        assert not (copy / "export" / "model.int8.tflite").exists()
        card = json.loads((copy / "export" / "model_card.json").read_text())
        assert [r["file"] for r in card["refused"]] == ["model.int8.tflite"]
    assert not list(tmp_path.glob("core*"))


@pytest.mark.parametrize("args, code, message", [
    (["nope"], 2, "run 'nope' not found"),
    (["RUN", "--tflite", "--quantize", "int9"], 2, "did you mean 'int8'"),
    (["RUN", "--quantize", "float16"], 2, "--quantize: not supported by the selected exporter(s) (savedmodel)"),
    (["RUN", "--tflite", "--int8-io"], 2, "--int8-io"),
    (["RUN", "--tflite", "--representative-size", "10"], 2, "--representative-size"),
    (["RUN", "--format", "coreml"], 2, "unknown exporter 'coreml'"),
])
def test_usage_errors(cli_runner, dense_run, args, code, message):
    args = [str(dense_run) if a == "RUN" else a for a in args]
    result = cli_runner.invoke(cli, ["export", *args])
    assert result.exit_code == code, result.output
    assert "Error: " in result.output and message in result.output
    assert "Traceback" not in result.output


def test_run_faults_are_one_line(cli_runner, dense_run, tmp_path):
    no_model = tmp_path / "no-model"
    no_model.mkdir()
    shutil.copy(dense_run / "config.json", no_model)
    result = cli_runner.invoke(cli, ["export", str(no_model)])
    assert result.exit_code == 1 and "has no model.keras" in result.output

    broken = tmp_path / "broken"
    shutil.copytree(dense_run, broken, ignore=shutil.ignore_patterns("export"))
    (broken / "model.keras").write_bytes(b"not a zip")
    result = cli_runner.invoke(cli, ["export", str(broken)])
    assert result.exit_code == 1 and f"{broken / 'model.keras'}: not a Keras model file" in result.output

    (broken / "model.keras").write_bytes((dense_run / "model.keras").read_bytes()[:5000])
    result = cli_runner.invoke(cli, ["export", str(broken)])
    assert result.exit_code == 1 and "model.keras" in result.output
    assert "Traceback" not in result.output and not (broken / "export").exists()


def test_existing_export_needs_force(cli_runner, dense_run, tmp_path):
    out = tmp_path / "out"
    first = export.export(str(dense_run), output=str(out), **QUIET)
    result = cli_runner.invoke(cli, ["export", str(dense_run), "-o", str(out)])
    assert result.exit_code == 2 and "--force" in result.output
    result = cli_runner.invoke(cli, ["export", str(dense_run), "-o", str(out), "--force", "--tflite"])
    assert result.exit_code == 0, result.output
    assert (out / "model.tflite").is_file()
    assert json.loads((out / "model_card.json").read_text())["created"] >= first.card["created"]
    # A directory that is not an export is never replaced.
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    result = cli_runner.invoke(cli, ["export", str(dense_run), "-o", str(other), "--force"])
    assert result.exit_code == 2 and (other / "notes.txt").read_text() == "keep"


def _kill_midway(args, parent: Path) -> None:
    """Start `zoo export`, SIGKILL it once it has written into its temporary directory."""
    proc = subprocess.Popen([sys.executable, "-m", "zoo.cli", "export", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            temps = list(parent.glob(".export.tmp-*"))
            if temps and any((t / "saved_model").exists() for t in temps):
                time.sleep(0.5)  # midway through the SavedModel or the first conversion
                break
            assert proc.poll() is None, "export finished before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("export never started writing")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_killed_export_leaves_no_partial_files(dense_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(dense_run, run, ignore=shutil.ignore_patterns("export"))
    before = sorted(p.name for p in run.iterdir())

    # No export yet: a kill leaves none, and nothing visible.
    _kill_midway([str(run), "--tflite"], run)
    assert not (run / "export").exists()
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == before

    # A previous export survives a killed --force untouched.
    export.export(str(run), **QUIET)
    snapshot = {p.relative_to(run): p.read_bytes() for p in (run / "export").rglob("*") if p.is_file()}
    _kill_midway([str(run), "--tflite", "--force"], run)
    after = {p.relative_to(run): p.read_bytes() for p in (run / "export").rglob("*") if p.is_file()}
    assert after == snapshot

    # The next export cleans what the killed ones left.
    export.export(str(run), formats=["tflite"], force=True, **QUIET)
    assert (run / "export" / "model.tflite").is_file()
    assert not [p for p in run.iterdir() if p.name.startswith(".export")]


# --------------------------------------------------------------------------
# The exporter table.

def test_builtin_exporters_declare_suffixes_and_options(cli_runner):
    tflite = plugins.get("exporter", "tflite")
    assert tflite.suffixes == (".tflite",) and "quantize" in tflite.options
    assert plugins.get("exporter", "savedmodel").options == ()
    result = cli_runner.invoke(cli, ["list", "exporters", "--json"])
    names = {e["name"]: e for e in json.loads(result.output)}
    assert {"savedmodel", "tflite"} <= set(names)
    assert names["tflite"]["suffixes"] == [".tflite"]


def test_plugin_exporter(dense_run, tmp_path, monkeypatch):
    """A registered exporter is selected with --format and its files land in the export."""
    calls = []

    def write_npz(context):
        import keras

        calls.append(sorted(context.options))
        path = context.directory / "weights.npz"
        np.savez(path, *context.model.get_weights())
        with np.load(path) as saved:  # the file's own model, rebuilt from it
            model = keras.models.clone_model(context.model)
            model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])
        context.verify("weights.npz", model.predict(context.x_test, verbose=0), quantized=False)
        return [{"file": "weights.npz"}]

    registry = plugins.registry()
    monkeypatch.setitem(registry._entries, "exporter", [
        *registry._entries["exporter"],
        Exporter(name="npz", summary="weights as .npz", export=write_npz, suffixes=(".npz",),
                 plugin="test")])
    out = tmp_path / "npz"
    result = export.export(str(dense_run), formats=["npz"], output=str(out), **QUIET)
    assert (out / "weights.npz").is_file() and calls
    assert [f["format"] for f in result.card["files"]] == ["savedmodel", "npz"]
    assert result.card["files"][1]["size_bytes"] == (out / "weights.npz").stat().st_size
    with pytest.raises(UsageError, match="--quantize: not supported"):
        export.export(str(dense_run), formats=["npz"], quantize=["int8"], output=str(out), **QUIET)


def test_the_model_card_records_the_calibration_images_really_used(tmp_path):
    """Asked for 200 from a training set of 12, int8 calibration uses 12, and the card says 12."""
    import numpy as np

    from zoo import calls, plugins
    from zoo.dataset import Dataset
    from zoo.export import ExportContext, model_card

    x = np.zeros((12, 28, 28), np.uint8)
    y = np.arange(12) % 10
    data = Dataset("tiny", tuple(str(i) for i in range(10)), x, y, x[:4], y[:4])
    model = calls.build_model(plugins.get("architecture", "dense"), (28, 28), 10, {"units": (4,)})
    config = {"architecture": "dense", "dataset": "tiny", "input_shape": [28, 28],
              "class_names": list(data.class_names), "seed": 0}
    reference = np.full((4, 10), 0.1, np.float32)
    context = ExportContext(run_dir=tmp_path, config=config, model=model, model_path=tmp_path / "m.keras",
                            dataset=data, architecture=None, directory=tmp_path, x_test=data.normalise(x[:4]),
                            options={"quantize": ("int8",), "int8_io": False, "representative_size": 200},
                            reference=reference, progress=None)
    assert len(context.representative()) == 12
    assert model_card(context, [], reference)["options"]["representative_size"] == 12


@pytest.mark.parametrize("examples, lost, gained, passed", [
    (40, 2, 0, True),  # 4 CIFAR classes x 10 test photos: two flips are 5 points, and chance (p = 0.25)
    (48, 1, 0, True),  # the manual's 4 x 60 folder: one flip is 2.08 points
    (40, 6, 0, False),  # six of six against the file: p = 1/64
    (10_000, 100, 0, True),  # exactly 1 point: allowed whatever the test says
    (10_000, 180, 50, False),  # 1.3 points on 10,000: chance cannot explain it (p < 1e-15)
    (10_000, 130, 100, True),  # 0.3 points
])
def test_a_quantized_file_is_refused_for_a_drop_chance_cannot_explain(examples, lost, gained, passed):
    """Keras' and the file's classes on a test set with the given examples lost and gained (the rest agree)."""
    labels = np.zeros(examples, np.int64)
    keras = np.zeros((examples, 2), np.float32)
    keras[:, 0] = 1  # Keras right everywhere ...
    keras[:gained] = [0, 1]  # ... but on the first `gained`, where the file is right instead
    quantized = keras.copy()
    quantized[:gained] = [1, 0]
    quantized[gained:gained + lost] = [0, 1]
    check = export.compare("model.int8.tflite", quantized, keras, labels, quantized=True)
    assert (check.lost, check.gained) == (lost, gained)
    assert check.passed is passed, check.describe()
    assert ("McNemar" in check.describe()) and check.to_dict()["examples_lost"] == lost


def test_a_large_test_set_is_mapped_from_disk_not_held(dense_run, tmp_path, monkeypatch):
    """Past the threshold, exporters read the normalised test set from a memory map (same numbers, same
    files), and the mapped file goes with the temporary folder."""
    seen = {}
    real = export.ExportContext.verify

    def spy(self, name, *args, **kwargs):
        seen[name] = isinstance(self.x_test, np.memmap)
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(export, "IN_MEMORY_TEST_SET_BYTES", 0)
    monkeypatch.setattr(export.ExportContext, "verify", spy)
    out = tmp_path / "out"
    result = export.export(str(dense_run), formats=["tflite"], output=str(out), **QUIET)
    assert seen and all(seen.values()) and all(f.get("verified") for f in result.card["files"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no mapped file left beside it
