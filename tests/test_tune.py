"""`zoo tune`: a two-trial Optuna study on fashion-sample, killed mid-trial and resumed, and its recipe file."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from zoo.cli import cli

pytest.importorskip("optuna", reason="the tune extra is not installed")


def test_a_killed_study_resumes_and_writes_a_recipe_zoo_train_accepts(tmp_path):
    study = tmp_path / "study"
    env = {**os.environ, "ZOO_RUNS_DIR": str(tmp_path / "runs")}
    proc = subprocess.Popen([sys.executable, "-m", "zoo.cli", "tune", "dense", "fashion-sample", "--trials", "2",
                             "--epochs", "2", "-o", str(study)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Kill it once the first trial has finished and the second is training.
    deadline = time.monotonic() + 300
    while not ((study / "trial-000" / "metrics.json").is_file() and (study / "trial-001" / "history.csv").is_file()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the study did not reach its second trial"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    settings = json.loads((study / "tune.json").read_text())
    assert settings["monitor"] == "val_accuracy" and "-p dropout" in settings["space"]

    result = CliRunner().invoke(cli, ["tune", "--resume", str(study), "--trials", "2"])
    assert result.exit_code == 0, result.output
    import optuna

    trials = optuna.load_study(study_name="zoo", storage=f"sqlite:///{study / 'study.db'}").trials
    states = [t.state.name for t in trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE"], states  # the killed trial failed, one more ran
    # The resumed sampler proposed new points, not the first run's again.
    assert trials[2].params != trials[0].params and trials[2].params != trials[1].params
    recipe = study / "best-recipe.json"
    assert f"zoo train dense fashion-sample --recipe {recipe}" in result.stdout
    best = max((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    assert f"trial {best.number} of 3" in result.stdout

    # The recipe file trains: its settings are the best trial's.
    data = json.loads(recipe.read_text())
    assert data["architecture"] == "dense" and data["settings"]["learning_rate"] == pytest.approx(
        best.params["learning_rate"])
    run = tmp_path / "again"
    trained = CliRunner().invoke(cli, ["train", "dense", "fashion-sample", "--recipe", str(recipe), "--epochs", "1",
                                       "-o", str(run), "-q"])
    assert trained.exit_code == 0, trained.output
    config = json.loads((run / "config.json").read_text())
    assert config["recipe_settings"]["learning_rate"] == pytest.approx(best.params["learning_rate"])
    assert config["recipe_settings"]["batch_size"] == best.params["batch_size"]
    assert config["recipe_file"] == str(recipe)


def test_without_optuna_tune_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    result = CliRunner().invoke(cli, ["tune", "dense", "fashion-sample", "--trials", "1"])
    assert result.exit_code == 2
    assert "zoo tune needs Optuna: pip install 'zoo[tune]'" in result.output


@pytest.mark.parametrize("args, message", [
    (["--resume", "{tmp}"], "not a zoo tune study (no tune.json)"),
    (["dense", "--resume", "{tmp}"], "ARCH cannot be given"),
    (["dense"], "give ARCH and DATASET (or --resume DIR)"),
])
def test_tune_usage_errors(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["tune", *[a.replace("{tmp}", str(tmp_path)) for a in args]])
    assert result.exit_code == 2 and message in result.output
