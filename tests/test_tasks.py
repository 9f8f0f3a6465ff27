"""Tasks: classification and regression through build, train, evaluate, export and predict."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import REPO, install_distribution
from zoo import calls, export, plugins, predict, spec, trainer
from zoo.cli import cli
from zoo.tasks import Classification, Regression

from test_docs import python_block

ARCHITECTURES = plugins.registry().entries("architecture")
SEQUENCE = (100, 2)


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: a.name)
def test_every_architecture_builds_for_each_task_it_can_read(arch):
    """Building only, from input specs: a classifier on 28x28 gray and 32x32x3 RGB images, a regressor on
    100 x 2 sequences, a text classifier and a next-token generator on 30 token ids; a detector (the
    architectures that declare their tasks) on 128 x 128 RGB photos, and nothing else."""
    from zoo.data.anchors import AnchorGrid
    from zoo.data.tasks.detection import Detection
    from zoo.errors import IncompatibleError

    photos = spec.image((128, 128, 3), "uint8", "rgb")
    boxes = Detection(("raccoon",), AnchorGrid(image_size=(128, 128)))
    if arch.tasks:
        assert arch.tasks == ("detection",)
        detector = calls.build_model(arch, photos.shape, boxes, {"weights": "none"}, photos)
        assert tuple(detector.outputs[0].shape[1:]) == boxes.output_shape == (9 * (8 * 8 + 4 * 4 + 2 * 2), 5)
        with pytest.raises(IncompatibleError, match="builds detection models; the dataset is a classification"):
            calls.build_model(arch, photos.shape, Classification(("cat", "dog")), {"weights": "none"}, photos)
        return
    with pytest.raises(IncompatibleError, match="the dataset is a detection task .architectures for it: "):
        calls.build_model(arch, photos.shape, boxes, {}, photos)
    if "text" in arch.accepts:
        from zoo.tasks import Generation
        from zoo.tokenizer import TOKENIZERS

        fitted = TOKENIZERS["syllables"].fit(["좋은 영화", "나쁜 영화"], 100)
        text = spec.text(30, fitted.__class__(**{**fitted._fields(), "length": 30}))
        for task in (Classification(("negative", "positive")), Generation(tuple(f"t{i}" for i in range(fitted.size)))):
            model = calls.build_model(arch, (30,), task, {}, text)
            out = np.asarray(model(np.ones((2, 30), np.int32)))
            assert out.shape == (2, task.units) and np.allclose(out.sum(axis=1), 1, atol=1e-5)
    if "image" not in arch.accepts:
        return
    gray = spec.image((28, 28), "uint8")
    # Weights that only a download gives are left out (building is what is tested here).
    downloaded = {"weights": "none"} if any(w.url and not w.package for w in arch.weights.values()) else {}
    if downloaded:
        gray = spec.image((32, 32), "uint8")
    classifier = calls.build_model(arch, gray.shape, Classification(tuple("abcdefghij")), downloaded, gray)
    assert classifier.outputs[0].shape[-1] == 10
    assert classifier.inputs[0].name == "image"
    from zoo.errors import IncompatibleError

    rgb_spec = spec.image((32, 32, 3), "uint8", "rgb")
    try:  # a colour image: the image architectures and dense read it, the recurrent ones refuse in one line
        rgb = calls.build_model(arch, rgb_spec.shape, Classification(("cat", "dog")), downloaded, rgb_spec)
        assert tuple(rgb.inputs[0].shape[1:]) == (32, 32, 3)
        assert "sequence" not in arch.accepts or arch.name == "dense"
    except IncompatibleError as exc:
        assert "sequence" in arch.accepts and "Received: input_shape=(32, 32, 3)" in str(exc)
    if "sequence" in arch.accepts:
        sequences = spec.sequence(SEQUENCE)
        regressor = calls.build_model(arch, SEQUENCE, Regression(("product",)), {}, sequences)
        out = np.asarray(regressor(np.full((3, *SEQUENCE), 0.5, np.float32)))
        assert out.shape == (3, 1)
        assert regressor.layers[-1].get_config()["activation"] == "linear"
        # The input is named after what it reads (a SavedModel's signature argument).
        assert regressor.inputs[0].name == "sequence"


def test_multiply_is_the_tutorials_generator():
    """The same numbers as the tutorial's own loop on NumPy's global generator, seed by seed."""
    from zoo_plugins.datasets import multiply_arrays

    np.random.seed(3)
    x, y = [], []
    for _ in range(3000):  # the tutorial's code, as printed there
        lst = np.random.rand(100)
        idx = np.random.choice(100, 2, replace=False)
        zeros = np.zeros(100)
        zeros[idx] = 1
        x.append(np.array(list(zip(zeros, lst))))
        y.append(np.prod(lst[idx]))
    x_train, y_train, x_test, y_test = multiply_arrays(3)
    assert x_train.shape == (2560, 100, 2) and x_test.shape == (440, 100, 2)
    np.testing.assert_allclose(np.concatenate([x_train, x_test]), np.array(x), rtol=1e-7)
    np.testing.assert_allclose(np.concatenate([y_train, y_test]), np.array(y), rtol=1e-6)
    assert not np.array_equal(multiply_arrays(4)[1], y_train)


def test_the_multiply_tutorial_recipes_are_the_tutorials_models():
    simplernn, lstm = plugins.get("architecture", "simplernn"), plugins.get("architecture", "lstm-bn")
    entry = plugins.get("dataset", "multiply")
    from zoo import recipes

    for arch, layer in ((simplernn, "SimpleRNN"), (lstm, "LSTM")):
        name, recipe, hyper = recipes.resolve(arch, "tutorial", None, None, entry)
        assert (recipe.epochs, recipe.validation_split, recipe.optimizer) == (100, 0.2, "adam")
        model = calls.build_model(arch, SEQUENCE, entry.task, hyper)
        kinds = [type(layer_).__name__ for layer_ in model.layers[1:]]
        assert kinds == [layer, layer, "Dense"], kinds
        assert model.layers[1].return_sequences and model.layers[1].units == 30


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    """simplernn on multiply, two epochs of the tutorial recipe, exported to every variant."""
    run = tmp_path_factory.mktemp("regression") / "run"
    trainer.train("simplernn", "multiply", recipe="tutorial", overrides={"epochs": 2}, output=str(run), verbose=0)
    export.export(str(run), formats=["tflite"], quantize=["float16", "dynamic", "int8"], log=lambda m: None)
    return run


def test_a_regression_run_is_scored_as_regression(regression_run):
    metrics = json.loads((regression_run / "metrics.json").read_text())
    assert {"test_mse", "test_mae", "test_rmse", "test_correctness"} <= set(metrics)
    assert metrics["tolerance"] == 0.04 and metrics["test_examples"] == 440
    assert metrics["test_rmse"] == pytest.approx(metrics["test_mse"] ** 0.5, rel=1e-5)
    assert 0 <= metrics["test_correctness"] <= 1
    config = json.loads((regression_run / "config.json").read_text())
    assert config["task"] == {"kind": "regression", "outputs": ["product"], "tolerance": 0.04}
    runs = CliRunner().invoke(cli, ["runs", "--json"], env={"ZOO_RUNS_DIR": str(regression_run.parent)})
    assert json.loads(runs.output)[0]["headline"].startswith("test RMSE ")


def test_a_regression_run_exports_every_variant_and_predict_gives_keras_values(regression_run, tmp_path):
    import keras

    card = json.loads((regression_run / "export" / "model_card.json").read_text())
    assert card["task"]["kind"] == "regression" and card["output"]["names"] == ["product"]
    assert {f["file"] for f in card["files"]} == {"saved_model", "model.tflite", "model.float16.tflite",
                                                  "model.dynamic.tflite", "model.int8.tflite"}
    assert all(f["verified"] for f in card["files"])
    float32 = next(f for f in card["files"] if f["file"] == "model.tflite")
    assert float32["max_abs_diff"] <= 1e-4

    from zoo_plugins.datasets import multiply_arrays

    examples = multiply_arrays(0)[2][:5]
    files = []
    for i, example in enumerate(examples):
        files.append(tmp_path / f"{i}.npy")
        np.save(files[-1], example)
    np.savetxt(tmp_path / "csv.csv", examples[0], delimiter=",")
    result = predict.predict(str(regression_run), [str(f) for f in files] + [str(tmp_path / "csv.csv")])
    values = np.array([r["values"]["product"] for r in result["results"]])
    expected = keras.saving.load_model(regression_run / "model.keras").predict(examples, verbose=0)[:, 0]
    np.testing.assert_allclose(values[:5], expected, atol=1e-5)
    assert values[5] == pytest.approx(values[0], abs=1e-5)
    printed = CliRunner().invoke(cli, ["predict", str(regression_run), str(files[0])])
    assert printed.exit_code == 0 and printed.output.startswith(f"{files[0]}: product ")


def test_a_third_party_regression_dataset_trains_with_a_builtin_architecture(tmp_path, plugins_from):
    """The README's regression dataset, as printed: next-value windows of a sine wave."""
    site = tmp_path / "site"
    install_distribution(site, "zoo-sine", {"zoo_sine": python_block("writing-plugins.md", "## A regression dataset")})
    plugins_from(site, "zoo_sine")
    result = CliRunner().invoke(cli, ["train", "dense", "sine", "--epochs", "3", "-q", "-o", str(tmp_path / "r")])
    refused = CliRunner().invoke(cli, ["train", "cnn", "sine", "-q"])
    monitor = CliRunner().invoke(cli, ["train", "dense", "sine", "--monitor", "val_accuracy", "-q",
                                       "--validation-split", "0.2", "-o", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("dense on sine: test RMSE ")
    assert refused.exit_code == 2 and "cnn reads image input; sine gives sequence" in refused.output
    assert monitor.exit_code == 2 and "a regression task is judged by val_loss or val_mae" in monitor.output
    assert not (tmp_path / "m").exists()


def test_sunspots_is_the_shipped_series_windowed_in_time_order():
    import hashlib
    import importlib.util

    from zoo_plugins import datasets

    spec = importlib.util.spec_from_file_location("make_sunspots", REPO / "scripts" / "make_sunspots.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert hashlib.md5(datasets.SUNSPOTS_CSV.read_bytes()).hexdigest() == script.MD5
    years, counts = datasets.read_sunspots()
    assert (years[0], years[-1], len(counts)) == (1700, 2008, 309)
    data = calls.load_dataset(plugins.get("dataset", "sunspots"))
    series = counts / 100
    assert data.x_train.shape == (249, 20, 1) and data.x_test.shape == (40, 20, 1)
    # Every window is 20 consecutive years and its target the year after; test years come last.
    np.testing.assert_allclose(data.x_train[0, :, 0], series[:20], rtol=1e-6)
    np.testing.assert_allclose(data.y_train[-1], series[268], rtol=1e-6)
    np.testing.assert_allclose(data.x_test[-1, :, 0], series[-21:-1], rtol=1e-6)
    np.testing.assert_allclose(data.y_test, series[-40:], rtol=1e-6)
    assert data.task.kind == "regression" and data.input_kind == "sequence"


def test_next_value_is_the_tutorials_exercise_and_its_recipe_trains(tmp_path):
    from zoo_plugins.datasets import next_value_arrays

    x_train, y_train, x_test, y_test = next_value_arrays()
    # The tutorial's loop, as printed there.
    X, Y = [], []
    for i in range(6):
        lst = list(range(i, i + 4))
        X.append(list(map(lambda c: [c / 10], lst)))
        Y.append((i + 4) / 10)
    np.testing.assert_allclose(x_train, np.array(X), rtol=1e-6)
    np.testing.assert_allclose(y_train, np.array(Y), rtol=1e-6)
    assert x_test.shape == (2, 4, 1) and list(y_test) == pytest.approx([1.0, 0.3])

    result = trainer.train("simplernn", "next-value", recipe="tutorial", output=str(tmp_path / "run"), verbose=0)
    assert result.config["params"]["units"] == 10 and result.metrics["epochs_run"] == 100
    assert result.metrics["test_examples"] == 2 and np.isfinite(result.metrics["test_rmse"])
