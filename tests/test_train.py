"""Training: every registered architecture on the embedded sample, runs, resume, determinism."""
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import run_zoo, offline_image_architectures
from zoo import plugins, trainer
from zoo.cli import cli

ARCHITECTURES = offline_image_architectures()  # each trained one epoch on fashion-sample
RUN_FILES = {"model.keras", "config.json", "history.csv", "metrics.json",
             "curves.png", "confusion.png", "predictions.png"}
# One epoch of the default (tuned) recipe on fashion-sample, measured here with
# seeds 0 and 1: cnn 0.717/0.719 (dropout 0.2), dense 0.779/0.793, gru 0.666/0.672,
# lstm-bn 0.784/0.797 (bidirectional), simplernn 0.725/0.717 (two layers;
# both without a validation hold-out since 2026-12-02),
# vgg 0.673/0.715 (dropout 0.1, no validation hold-out; chance: 0.10).
# Each floor is about 0.13 below the lower figure: room for other CPUs'
# arithmetic, not for a broken model. Unlisted plugins get three times chance.
ONE_EPOCH_FLOOR = {"cnn": 0.57, "dense": 0.65, "gru": 0.53, "lstm-bn": 0.65, "simplernn": 0.58, "vgg": 0.54}


def _history_epochs(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run per architecture, trained once for the module."""
    root = tmp_path_factory.mktemp("trained")
    cache = {}

    def get(arch):
        if arch not in cache:
            cache[arch] = trainer.train(arch, "fashion-sample", overrides={"epochs": 1},
                                        output=str(root / arch), verbose=0)
        return cache[arch]

    return get


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_one_epoch_on_the_sample(trained, arch):
    result = trained(arch)
    assert RUN_FILES <= {p.name for p in result.run_dir.iterdir()}
    assert not (result.run_dir / "backup").exists()
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= ONE_EPOCH_FLOOR.get(arch, 0.3), metrics["test_accuracy"]
    assert metrics["epochs_run"] == 1 and _history_epochs(result.run_dir) == [0]
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == metrics["test_images"]
    assert abs(np.trace(matrix) / matrix.sum() - metrics["test_accuracy"]) < 1e-6
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["architecture"] == arch and config["dataset"] == "fashion-sample"
    assert config["recipe"] == "tuned" and config["status"] == "complete"
    assert config["recipe_settings"]["epochs"] == 1
    assert {"python", "tensorflow", "keras", "zoo"} <= set(config["versions"])
    assert set(config["params"]) == set(plugins.get("architecture", arch).params)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_model_loads_in_a_fresh_process_with_safe_mode(trained, arch, tmp_path):
    run_dir = trained(arch).run_dir
    images = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
    np.save(tmp_path / "x.npy", images)
    code = textwrap.dedent(f"""
        import keras, numpy as np
        model = keras.saving.load_model({str(run_dir / 'model.keras')!r}, safe_mode=True)
        np.save({str(tmp_path / 'y.npy')!r}, model.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0))
    """)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    model = trainer.load_run_model(run_dir)
    expected = model.predict(images, verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-6)


def test_evaluate_and_runs_agree_with_the_run(trained, cli_runner, monkeypatch):
    run_dir = trained("dense").run_dir
    result = cli_runner.invoke(cli, ["evaluate", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.output)
    stored = json.loads((run_dir / "metrics.json").read_text())
    assert evaluated["test_accuracy"] == pytest.approx(stored["test_accuracy"], abs=1e-6)
    monkeypatch.setenv("ZOO_RUNS_DIR", str(run_dir.parent))
    listed = json.loads(cli_runner.invoke(cli, ["runs", "--json"]).output)
    entry = next(r for r in listed if r["name"] == "dense")
    assert entry["architecture"] == "dense" and entry["test_accuracy"] == stored["test_accuracy"]


def test_tutorial_recipe_and_params_reach_the_model(tmp_path):
    result = trainer.train("cnn", "fashion-sample", recipe="tutorial", overrides={"epochs": 1},
                           params={"filters": (8, 16, 16), "dropout": 0.1},
                           output=str(tmp_path / "run"), verbose=0)
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["recipe"] == "tutorial" and config["recipe_settings"]["validation_split"] == 0.25
    assert config["params"]["filters"] == [8, 16, 16] and config["params"]["dropout"] == 0.1
    model = trainer.load_run_model(result.run_dir)
    convs = [layer.filters for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert convs == [8, 16, 16]
    assert [layer.rate for layer in model.layers if layer.__class__.__name__ == "Dropout"] == [0.1]


def test_same_seed_same_metrics(tmp_path):
    def run(seed, name):
        return trainer.train("dense", "fashion-sample", overrides={"epochs": 2}, seed=seed,
                             output=str(tmp_path / name), verbose=0)

    first, second, other = run(7, "a"), run(7, "b"), run(8, "c")
    assert first.metrics["confusion_matrix"] == second.metrics["confusion_matrix"]
    assert (first.run_dir / "history.csv").read_text() == (second.run_dir / "history.csv").read_text()
    assert (first.run_dir / "history.csv").read_text() != (other.run_dir / "history.csv").read_text()


@pytest.mark.parametrize("monitor, pick", [("val_accuracy", max), ("val_loss", min)])
def test_the_kept_model_is_the_best_epoch_by_the_monitor(tmp_path, monitor, pick):
    from zoo import evaluation, plots

    # A learning rate this high makes validation loss and accuracy peak in
    # different epochs (here 1 and 3), so the test tells the monitors apart.
    result = trainer.train("dense", "fashion-sample", recipe="tutorial", seed=0,
                           overrides={"epochs": 6, "learning_rate": 0.03, "monitor": monitor,
                                      "validation_split": 0.2},
                           output=str(tmp_path / "run"), verbose=0)
    history = plots.read_history(result.run_dir / "history.csv")
    by_accuracy = history["val_accuracy"].index(max(history["val_accuracy"]))
    assert by_accuracy != history["val_loss"].index(min(history["val_loss"]))
    best_epoch = history[monitor].index(pick(history[monitor]))
    assert json.loads((result.run_dir / "config.json").read_text())["recipe_settings"]["monitor"] == monitor
    # The validation images are the last 20% of the training set, as in the run.
    data = plugins.get("dataset", "fashion-sample").load()
    cut = int(len(data.x_train) * 0.8)
    model = trainer.load_run_model(result.run_dir)
    predicted = evaluation.predict(model, data.normalise(data.x_train[cut:])).argmax(axis=1)
    accuracy = float(np.mean(predicted == data.y_train[cut:]))
    assert accuracy == pytest.approx(history["val_accuracy"][best_epoch], abs=1e-4)


def test_kill_then_resume_counts_every_epoch_once(tmp_path):
    run_dir = tmp_path / "run"
    args = ["train", "dense", "fashion-sample", "--recipe", "tutorial", "--epochs", "6",
            "--batch-size", "16", "-o", str(run_dir), "-q"]
    process = subprocess.Popen([sys.executable, "-m", "zoo.cli", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metadata = run_dir / "backup" / "training_metadata.json"
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            if metadata.is_file() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= 2:
                break
            if process.poll() is not None:
                pytest.fail("training ended before it could be killed")
            time.sleep(0.05)
        else:
            pytest.fail("no epoch finished in time")
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (run_dir / "metrics.json").exists()
    finished_before = _history_epochs(run_dir)
    assert len(finished_before) >= 2

    result = run_zoo("train", "--resume", str(run_dir), "-q", timeout=600)
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
    assert _history_epochs(run_dir) == list(range(6))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 6 and metrics["resumed"] is True
    again = run_zoo("train", "--resume", str(run_dir))
    assert again.returncode == 2 and "already finished" in again.stderr


@pytest.mark.parametrize("monitor, sign, recorded, patience, resumed_value", [
    ("val_loss", 1.0, [1.0, 0.8, 0.9, 0.95], 3, 0.97),     # best in epoch 1, two epochs since
    ("val_accuracy", -1.0, [0.5, 0.7, 0.6], 2, 0.65),       # best in epoch 1, one epoch since
])
def test_early_stopping_counts_on_from_the_epochs_a_resumed_run_recorded(
        trained, monitor, sign, recorded, patience, resumed_value):
    # Keras' own EarlyStopping would start counting again at the resume and
    # not stop here; the run left alone stops after this epoch.
    run_dir = trained("dense").run_dir
    kept = trainer.load_run_model(run_dir)
    model = trainer.load_run_model(run_dir)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])  # the resumed weights
    callback = trainer._early_stopping(monitor, sign, patience, recorded, run_dir)
    callback.set_model(model)
    callback.on_train_begin()
    assert callback.best == recorded[1] and callback.wait == len(recorded) - 2
    callback.on_epoch_end(len(recorded), {monitor: resumed_value})
    assert model.stop_training
    callback.on_train_end()  # restores the best epoch's weights: the checkpoint's
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), kept.get_weights()))


def test_nan_loss_is_a_clear_error(tmp_path, cli_runner):
    run_dir = tmp_path / "run"
    result = cli_runner.invoke(cli, ["train", "dense", "fashion-sample", "--recipe", "tutorial",
                                     "--optimizer", "sgd", "--learning-rate", "1e12", "--epochs", "3",
                                     "-o", str(run_dir), "-q"])
    assert result.exit_code == 1, result.output
    assert "loss became NaN" in result.output and "Traceback" not in result.output
    config = json.loads((run_dir / "config.json").read_text())
    assert config["status"].startswith("failed")


@pytest.mark.parametrize("args, fragment", [
    (["train", "cnn", "fashion-sample", "-p", "filters=a,b"], "expects a comma-separated list"),
    (["train", "cnn", "fashion-sample", "-p", "nosuch=1"], "has no parameter 'nosuch'"),
    (["train", "cnn", "fashion-sample", "-p", "filters"], "expected KEY=VALUE"),
    (["train", "dense", "fashion-sample", "-p", "batch_norm=maybe"], "expects true or false"),
    (["train", "dense", "fashion-sample", "--epochs", "0"], "--epochs"),
    (["train", "dense", "fashion-sample", "--batch-size", "-3"], "--batch-size"),
    (["train", "dense", "fashion-sample", "--validation-split", "1.5"], "--validation-split"),
    (["train", "dense", "fashion-sample", "--validation-split", "-0.1"], "--validation-split"),
    (["train", "dense", "fashion-sample", "--learning-rate", "0"], "--learning-rate"),
    (["train", "dense", "fashion-sample", "--recipe", "fast"], "has recipes tuned, tutorial"),
    (["train", "lstm", "fashon"], "did you mean 'fashion'"),
    (["train", "dens", "fashion-sample"], "did you mean 'dense'"),
    (["train", "dense"], "give ARCH and DATASET"),
    (["train", "--resume", "nosuchrun"], "run 'nosuchrun' not found"),
    (["train", "dense", "fashion-sample", "--resume", "x", "--epochs", "3"], "--resume x continues the run with its own settings; --epochs"),
])
def test_bad_flags_are_one_line_usage_errors(cli_runner, args, fragment):
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output
    assert not os.path.exists("runs")


def test_validation_split_0_trains_on_every_training_image(tmp_path, cli_runner):
    from zoo import plots

    run_dir = tmp_path / "all"
    result = cli_runner.invoke(cli, ["train", "dense", "fashion-sample", "--recipe", "tutorial",
                                     "--validation-split", "0", "--epochs", "2", "-q", "-o", str(run_dir)])
    assert result.exit_code == 0, result.output
    config = json.loads((run_dir / "config.json").read_text())
    assert config["recipe_settings"]["validation_split"] == 0
    history = plots.read_history(run_dir / "history.csv")
    # Keras writes NA for the validation columns when there is no validation set.
    assert len(history["loss"]) == 2 and all(np.isfinite(history["loss"]))
    assert all(np.isnan(history.get("val_loss", [np.nan])))
    assert json.loads((run_dir / "metrics.json").read_text())["test_images"] > 0


def test_architecture_that_cannot_read_the_dataset_fails_before_training(tmp_path, cli_runner):
    """10x10 images are too small for the tutorial CNN's three unpadded convolutions."""
    import gzip

    folder = tmp_path / "tiny"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 40), ("t10k", 10)):
        images = rng.integers(0, 255, (count, 10, 10), dtype=np.uint8)
        labels = np.arange(count, dtype=np.uint8) % 10
        header = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in images.shape)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + images.tobytes()))
        header = bytes([0, 0, 8, 1]) + count.to_bytes(4, "big")
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header + labels.tobytes()))
    result = cli_runner.invoke(cli, ["train", "cnn", "idx", "--data-dir", str(folder), "--recipe", "tutorial"])
    assert result.exit_code == 2, result.output
    assert "cnn" in result.output and "at least 18x18" in result.output
    assert not os.path.exists("runs")
    # The same folder trains with an architecture that can read it.
    result = cli_runner.invoke(cli, ["train", "dense", "idx", "--data-dir", str(folder), "--epochs", "1", "-q"])
    assert result.exit_code == 0, result.output


def test_show_architecture_lists_recipes(cli_runner):
    result = cli_runner.invoke(cli, ["show", "lstm-bn"])
    assert result.exit_code == 0
    assert "recipe tutorial:" in result.output and "recipe tuned (default):" in result.output
    assert "units = 64" in result.output
    info = json.loads(cli_runner.invoke(cli, ["show", "lstm-bn", "--json"]).output)
    assert info["recipes"]["tutorial"]["batch_size"] == 64
    assert info["recipes"]["tutorial"]["patience"] == 10


def test_tensorboard_logs_are_written(tmp_path, cli_runner):
    run_dir = tmp_path / "run"
    result = cli_runner.invoke(cli, ["train", "dense", "fashion-sample", "--recipe", "tutorial", "--epochs", "1",
                                     "--tensorboard", "-o", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    events = list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)


def test_a_killed_and_resumed_run_ends_on_the_weights_of_the_uninterrupted_run(tmp_path):
    """The shuffle (and augmentation) seed of each epoch comes from (seed, epoch), not a process' counter."""
    args = ["dense", "fashion-sample", "--recipe", "tutorial", "--epochs", "4", "--seed", "5", "-q"]
    whole = run_zoo("train", *args, "-o", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr

    run_dir = tmp_path / "killed"
    killed = subprocess.Popen([sys.executable, "-m", "zoo.cli", "train", *args, "-o", str(run_dir)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metadata = run_dir / "backup" / "training_metadata.json"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and killed.poll() is None:
            if metadata.is_file() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= 1:
                killed.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    resumed = run_zoo("train", "--resume", str(run_dir), "-q")
    assert resumed.returncode == 0, resumed.stderr
    # Every epoch's figures and the kept model's every weight are the same.
    # (Not the runs' final_weights_sha256: it hashes variable paths too, and
    # Keras numbers layers per process, so a resumed process names them apart.)
    assert (tmp_path / "whole" / "history.csv").read_text() == (run_dir / "history.csv").read_text()
    whole_model, resumed_model = (trainer.load_run_model(tmp_path / run) for run in ("whole", "killed"))
    assert all(np.array_equal(a, b) for a, b in zip(whole_model.get_weights(), resumed_model.get_weights()))
    metrics = [json.loads((tmp_path / run / "metrics.json").read_text()) for run in ("whole", "killed")]
    assert metrics[0]["test_loss"] == metrics[1]["test_loss"] and metrics[1]["resumed"] is True


def test_two_runs_given_the_same_new_output_train_once(tmp_path):
    """Started together with one new -o: one creates the folder and trains, the other is refused, whatever the
    timing (the folder is made in one exclusive step, then locked)."""
    same = tmp_path / "same"
    command = [sys.executable, "-m", "zoo.cli", "train", "dense", "fashion-sample", "--epochs", "1", "-q",
               "-o", str(same)]
    started = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    finished = [(p.wait(timeout=300), p.stderr.read()) for p in started]
    codes = sorted(code for code, _ in finished)
    assert codes == [0, 2], finished
    refusal = next(err for code, err in finished if code == 2)
    assert refusal.count("\n") == 1 and ("--output" in refusal or "another zoo process" in refusal), refusal
    assert json.loads((same / "config.json").read_text())["status"] == "complete"
