"""Every kind of data the README promises, end to end: vectors, batches of examples, small data, ranges.

The README's vector classification plugin is installed for real and run as
printed: trained, exported to int8, and `zoo predict` answers for `.npy` and
`.csv` files of several rows exactly as Keras does.
"""
import dataclasses
import json

import numpy as np
import pytest

from conftest import REPO, install_distribution
from test_docs import python_block
from zoo import calls, plugins, predict, recipes, runs, trainer
from zoo.cli import cli
from zoo.errors import DataError
from zoo.registry import DatasetEntry, Recipe
from zoo.tasks import Classification, Regression

WINE_BLOCK = python_block("writing-plugins.md", "## A vector classification dataset")


@pytest.fixture(scope="module")
def wine_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("wine-site")
    install_distribution(site, "zoo-wine", {"zoo_wine": WINE_BLOCK})
    return site


@pytest.fixture
def wine(wine_site, plugins_from):
    plugins_from(wine_site, "zoo_wine")
    return wine_site


@pytest.fixture(scope="module")
def wine_run(wine_site, tmp_path_factory):
    """dense trained with its default (tuned) recipe on the README's wine plugin, exported with int8."""
    import importlib
    import os
    import sys

    from zoo import export

    saved = os.environ.get("ZOO_LOAD_PLUGINS")
    sys.path.insert(0, str(wine_site))
    os.environ["ZOO_LOAD_PLUGINS"] = "zoo_wine"
    importlib.invalidate_caches()
    plugins.load.cache_clear()
    try:
        run = tmp_path_factory.mktemp("wine") / "run"
        trainer.train("dense", "wine", output=str(run), verbose=0)
        export.export(str(run), formats=["tflite"], quantize=["int8"], log=lambda m: None)
        data = plugins.get("dataset", "wine").load()
    finally:
        sys.path.remove(str(wine_site))
        if saved is None:
            os.environ.pop("ZOO_LOAD_PLUGINS", None)
        else:
            os.environ["ZOO_LOAD_PLUGINS"] = saved
        plugins.load.cache_clear()
        sys.modules.pop("zoo_wine", None)
    return run, data


def test_vector_classification_trains_with_figures_by_layout(wine_run):
    run, _ = wine_run
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert config["status"] == "complete" and not (run / "backup").exists()
    assert config["input"]["layout"] == "vector"
    assert metrics["test_accuracy"] >= 0.85  # 3 classes: chance is about 0.4
    for figure in ("curves.png", "confusion.png", "predictions.png"):
        assert (run / figure).stat().st_size > 1000
    # The tuned recipe fitted to 126 training rows, and said so.
    assert config["recipe_settings"]["batch_size"] == 8
    assert "batch size 256 -> 8 and learning rate 0.002 -> 0.000354" in config["recipe_adapted"]


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_predict_answers_every_row_as_keras_does(wine_run, tmp_path, cli_runner, suffix):
    run, data = wine_run
    rows = data.x_test[:5]
    path = tmp_path / f"rows{suffix}"
    if suffix == ".npy":
        np.save(path, rows)
    else:
        np.savetxt(path, rows, delimiter=",", fmt="%.9g")
    keras_model = trainer.load_run_model(run)
    expected = keras_model.predict(rows, verbose=0)
    for model in ("model.tflite", "model.int8.tflite"):
        result = cli_runner.invoke(cli, ["predict", str(run / "export" / model), str(path), "--json", "-k", "3"])
        assert result.exit_code == 0, result.output
        answers = json.loads(result.output)["results"]
        assert [a["example"] for a in answers] == [f"{path}[{i}]" for i in range(5)]
        for answer, probabilities in zip(answers, expected):
            assert answer["predictions"][0]["index"] == int(np.argmax(probabilities))
            if model == "model.tflite":
                for p in answer["predictions"]:
                    assert p["probability"] == pytest.approx(float(probabilities[p["index"]]), abs=1e-4)


def test_one_example_with_or_without_a_batch_axis(wine_run, tmp_path):
    run, data = wine_run
    np.save(tmp_path / "one.npy", data.x_test[0])
    np.save(tmp_path / "batch1.npy", data.x_test[:1])
    np.savetxt(tmp_path / "column.csv", data.x_test[0][:, None], delimiter=",", fmt="%.9g")
    result = predict.predict(str(run), [tmp_path / "one.npy", tmp_path / "batch1.npy", tmp_path / "column.csv"])
    names = [r["example"] for r in result["results"]]
    assert names == [str(tmp_path / "one.npy"), f"{tmp_path / 'batch1.npy'}[0]", str(tmp_path / "column.csv")]
    assert len({json.dumps(r["predictions"]) for r in result["results"]}) == 1  # the same row three ways


@pytest.mark.parametrize("shape, count, batched", [
    ((100, 2), 1, False), ((1, 100, 2), 1, True), ((3, 100, 2), 3, True)])
def test_sequence_files_hold_one_example_or_a_batch(tmp_path, shape, count, batched):
    np.save(tmp_path / "x.npy", np.zeros(shape, np.float32))
    examples, was_batched = predict.load_examples(tmp_path / "x.npy", (100, 2))
    assert examples.shape == (count, 100, 2) and was_batched == batched


def test_a_csv_sequence_is_its_time_steps(tmp_path):
    np.savetxt(tmp_path / "x.csv", np.arange(200).reshape(100, 2), delimiter=",")
    examples, batched = predict.load_examples(tmp_path / "x.csv", (100, 2))
    assert examples.shape == (1, 100, 2) and not batched and examples[0, 99, 1] == 199


def test_a_failed_finish_is_recorded_and_resume_only_finishes(wine, tmp_path, monkeypatch, cli_runner):
    from zoo import plots

    def broken(*args, **kwargs):
        raise RuntimeError("the figure could not be drawn")

    run = tmp_path / "run"
    monkeypatch.setattr(plots, "for_task", broken)
    with pytest.raises(trainer.TrainingError, match="finishing the run failed .*zoo train --resume"):
        trainer.train("dense", "wine", recipe="tutorial", overrides={"epochs": 2}, output=str(run), verbose=0)
    config = json.loads((run / "config.json").read_text())
    assert config["status"] == "failed while finishing: RuntimeError: the figure could not be drawn"
    # Every command sees the same unfinished run.
    assert runs.list_runs(tmp_path)[0]["metrics"] is None
    exported = cli_runner.invoke(cli, ["export", str(run)])
    assert exported.exit_code == 1 and "not finished" in exported.output
    monkeypatch.undo()
    plugins.load.cache_clear()
    monkeypatch.syspath_prepend(str(wine))
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "zoo_wine")
    history = (run / "history.csv").read_text()
    result = trainer.train(resume=str(run), verbose=0)
    assert result.metrics["epochs_run"] == 2 and (run / "history.csv").read_text() == history
    assert json.loads((run / "config.json").read_text())["status"] == "complete"
    assert (run / "predictions.png").is_file() and not (run / "backup").exists()


def test_recipes_shrink_their_batch_on_small_data_only():
    tuned = Recipe(optimizer="adamw", learning_rate=2e-3, batch_size=128, min_steps=25)
    task = Classification(("a", "b"))
    large, why = recipes.for_data(tuned, task, 54000)
    assert (large.batch_size, large.learning_rate, why) == (128, 2e-3, None)
    small, why = recipes.for_data(tuned, task, 216)
    # A batch 16 times smaller: a learning rate 4 times smaller.
    assert (small.batch_size, small.learning_rate) == (8, 5e-4) and "128 -> 8" in why and "0.002 -> 0.0005" in why
    assert recipes.for_data(small, task, 216) == (small, None)  # a resumed run: unchanged
    assert recipes.for_data(tuned, task, 1000)[0].batch_size == 40


def test_a_batch_size_asked_for_is_kept(tmp_path):
    arch = plugins.get("architecture", "cnn")
    _, recipe, _ = recipes.resolve(arch, None, {"batch_size": 128})
    assert recipe.min_steps is None
    assert recipes.for_data(recipe, Classification(("a", "b")), 200)[0].batch_size == 128


def test_regression_records_no_label_smoothing():
    recipe = Recipe(label_smoothing=0.1)
    adapted, why = recipes.for_data(recipe, Regression(("y",)), 1000)
    assert adapted.label_smoothing == 0.0 and "regression has no classes" in why
    assert recipes.for_data(recipe, Classification(("a", "b")), 1000)[0].label_smoothing == 0.1


def test_show_calls_sequences_what_they_are(cli_runner):
    result = cli_runner.invoke(cli, ["show", "multiply", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert "sequences" in shown["train"] and "images" not in shown["train"]


def _digits_entry(stored_range=None):
    """Images stored 0..16 (as scikit-learn's digits are), declared with or without their range."""
    import zoo.spec
    from zoo.dataset import Dataset

    spec = zoo.spec.image((8, 8), "uint8", stored_range=stored_range)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 17, (40, 8, 8), dtype=np.uint8)
    y = np.arange(40) % 2

    def load(data_dir=None, seed=0):
        return Dataset("digits16", ("even", "odd"), x[:30], y[:30], x[30:], y[30:], spec=spec)

    return DatasetEntry(name="digits16", summary="0..16", load=load, spec=spec, class_names=("even", "odd"),
                        plugin="zoo-digits16")


def test_images_stored_0_to_16_without_saying_so_are_refused_at_load():
    with pytest.raises(DataError, match=r"dataset 'digits16' \(zoo-digits16\): images hold values 0..16, a small "
                                        r"corner of the default stored range 0..255.*stored_range=\(0, 16\)"):
        calls.load_dataset(_digits_entry())
    data = calls.load_dataset(_digits_entry(stored_range=(0, 16)))
    assert data.input_spec.image_input()["scale"] == pytest.approx(16 / 255 / 255)


def test_images_outside_their_declared_range_are_refused():
    with pytest.raises(DataError, match="outside their declared stored range 0..10"):
        calls.load_dataset(_digits_entry(stored_range=(0, 10)))


def test_a_plugin_that_declares_only_pixel_scale_has_its_stored_range_inferred():
    """The documented short form, pixel_scale=1/16 for digits stored 0..16: the scale says where white is."""
    from zoo.dataset import Dataset

    rng = np.random.default_rng(0)
    x = rng.integers(0, 17, (40, 8, 8), dtype=np.uint8)
    y = np.arange(40) % 2

    def load(data_dir=None, seed=0):
        return Dataset("digits16", ("even", "odd"), x[:30], y[:30], x[30:], y[30:], pixel_scale=1 / 16)

    data = calls.load_dataset(DatasetEntry(name="digits16", summary="0..16", load=load, plugin="zoo-digits16"))
    assert data.input_spec.black_white == (0.0, 16.0)
    assert data.input_spec.image_input()["scale"] == pytest.approx(1 / 255)  # a file's white is 16 / 16 = 1
    with pytest.raises(DataError, match="a small corner of the default stored range"):  # no scale: still refused
        calls.load_dataset(_digits_entry())
