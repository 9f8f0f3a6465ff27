"""Run directories: damaged runs in listings, locks against two writers, strict JSON, resume refusals."""
import json
import shutil

import pytest
from click.testing import CliRunner

from zoo import runs, trainer
from zoo.cli import cli


@pytest.fixture
def finished(good_run):
    """conftest's finished one-epoch dense run (shared by the session; copied before any change)."""
    return good_run


def _copy(finished, runs_root, name, **config_changes):
    path = runs_root / name
    shutil.copytree(finished, path)
    config = json.loads((path / "config.json").read_text())
    config.update(config_changes)
    (path / "config.json").write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("damage, shown", [
    ({"created": 5}, "config.json: 'created' is not a string"),
    ({"architecture": ["dense"]}, "config.json: 'architecture' is not a str"),
    ("metrics", "metrics.json: 'test_accuracy' is of the wrong type"),
    ("not-json", "config.json: unreadable"),
])
def test_one_damaged_run_is_shown_and_the_others_keep_working(finished, isolated_runs, damage, shown):
    good = _copy(finished, isolated_runs, "good", created="2026-01-01T00:00:00")
    bad = _copy(finished, isolated_runs, "bad", created="2026-12-31T00:00:00")  # the newer one
    if damage == "metrics":
        (bad / "metrics.json").write_text(json.dumps({"test_accuracy": "high", "epochs_run": 1}))
    elif damage == "not-json":
        (bad / "config.json").write_text("{not json")
    else:
        config = json.loads((bad / "config.json").read_text())
        config.update(damage)
        (bad / "config.json").write_text(json.dumps(config))
    runner = CliRunner()

    listing = runner.invoke(cli, ["runs"])
    assert listing.exit_code == 0, listing.output
    rows = {line.split()[0]: line for line in listing.output.splitlines()[1:]}
    assert f"damaged: {shown}" in rows["bad"]
    assert "0." in rows["good"] and "complete" in rows["good"]
    as_json = {r["name"]: r for r in json.loads(runner.invoke(cli, ["runs", "--json"]).output)}
    assert as_json["bad"]["status"] == "damaged" and as_json["good"]["damage"] is None

    # Without RUN, evaluate takes the newest *usable* run.
    evaluated = runner.invoke(cli, ["evaluate", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["run"] == str(good)


def test_a_run_being_written_is_locked_against_a_second_writer(finished, tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    out.mkdir()
    with runs.lock(out):  # as another `zoo train -o out` holds it
        result = runner.invoke(cli, ["train", "dense", "fashion-sample", "--epochs", "1", "-q", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "another zoo process is writing this run" in result.output
    assert list(out.iterdir()) == []

    running = tmp_path / "running"
    shutil.copytree(finished, running)
    config = json.loads((running / "config.json").read_text())
    config["status"] = "running"
    (running / "config.json").write_text(json.dumps(config))
    before = (running / "config.json").read_bytes()
    with runs.lock(running):
        result = runner.invoke(cli, ["train", "--resume", str(running), "-q"])
    assert result.exit_code == 2 and "another zoo process is writing this run" in result.output
    assert (running / "config.json").read_bytes() == before


def test_the_lock_dies_with_its_process(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "locked"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               f"fd = os.open({str(out)!r}, os.O_RDONLY)\nfcntl.flock(fd, fcntl.LOCK_EX)\n"
                               "print('held', flush=True)\ntime.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Exception, match="another zoo process"):
            with runs.lock(out):
                pass
    finally:
        holder.kill()
        holder.wait()
    with runs.lock(out):  # a killed holder keeps nothing
        pass


def test_json_files_are_strict_json(tmp_path):
    path = tmp_path / "m.json"
    runs.write_json(path, {"loss": float("nan"), "history": [1.0, float("inf")]})
    assert json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}")) == {
        "loss": None, "history": [1.0, None]}
    path.write_text('{"loss": NaN}')
    with pytest.raises(Exception, match="NaN is not JSON"):
        runs.read_json(path)


@pytest.mark.parametrize("given, flag", [
    ({"seed": 3}, "--seed"), ({"data_dir": "/data"}, "--data-dir"), ({"recipe": "tutorial"}, "--recipe"),
    ({"overrides": {"epochs": 3}}, "--epochs"), ({"params": {"units": (8,)}}, "-p"),
])
def test_resume_refuses_settings_in_the_library(finished, tmp_path, given, flag):
    from zoo.errors import UsageError

    with pytest.raises(UsageError, match=f"{flag} cannot be changed"):
        trainer.train(resume=str(finished), **given)


@pytest.mark.parametrize("raised, line", [
    (PermissionError(13, "Permission denied", "/srv/runs"), "Error: /srv/runs: Permission denied"),
    (OSError(36, "File name too long", "/srv/" + "n" * 20), "Error: /srv/nnnnnnnnnnnnnnnnnnnn: File name too long"),
    (RuntimeError("unforeseen\nsecond line"), "Error: internal error: RuntimeError: unforeseen "
                                              "(set ZOO_DEBUG=1 for the traceback)"),
])
def test_the_cli_turns_any_exception_into_one_line(monkeypatch, raised, line):
    def fail(*args, **kwargs):
        raise raised

    monkeypatch.setattr(runs, "list_runs", fail)
    result = CliRunner().invoke(cli, ["runs"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.strip() == line

    # ZOO_DEBUG=1: the exception itself, with its traceback, for a bug report.
    result = CliRunner().invoke(cli, ["runs"], env={"ZOO_DEBUG": "1"})
    assert result.exception is raised
