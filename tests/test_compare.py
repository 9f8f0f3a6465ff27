"""`zoo compare`: two real runs side by side, as JSON, and as a page with their curves overlaid."""
import json
import shutil

import pytest
from click.testing import CliRunner

from zoo import trainer
from zoo.cli import cli


@pytest.fixture
def two_runs(good_run, tmp_path, monkeypatch):
    """The session's dense run and one more with other units, both under the runs root."""
    root = tmp_path / "runs"
    monkeypatch.setenv("ZOO_RUNS_DIR", str(root))
    root.mkdir(exist_ok=True)
    shutil.copytree(good_run, root / "dense-a")
    trainer.train("dense", "fashion-sample", recipe="tutorial", overrides={"epochs": 2, "validation_split": 0.2},
                  params={"units": (32,)}, output=str(root / "dense-b"), verbose=0)
    return root


def test_compare_shows_what_differs(two_runs):
    result = CliRunner().invoke(cli, ["compare", "dense-*"])
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()[:3]
    assert "-P UNITS" in header and "EPOCHS" in header
    assert {row.split()[0] for row in rows} == {"dense-a", "dense-b"}
    by_name = {row.split()[0]: row for row in rows}
    assert " 32 " in by_name["dense-b"] and " 128 " in by_name["dense-a"]


def test_compare_json_and_html(two_runs, tmp_path):
    page = tmp_path / "cmp.html"
    result = CliRunner().invoke(cli, ["compare", str(two_runs / "dense-a"), "dense-b", "--json", "--html", str(page)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "-p units" in data["differing"] and "epochs" in data["differing"]
    assert [r["epochs_run"] for r in data["runs"]] == [1, 2]
    text = page.read_text()
    assert text.count("<tr>") == 3 and "data:image/png;base64," in text
    assert all(r["headline"] in text for r in data["runs"])


@pytest.mark.parametrize("args, message", [
    (["nothing-*"], "run 'nothing-*': no finished run matches it"),
    (["dense-a"], "zoo compare needs at least two finished runs; 1 selected"),
    (["dense-*", "--dataset", "mnist"], "0 selected with --dataset mnist"),
])
def test_compare_refuses_in_one_line(two_runs, args, message):
    result = CliRunner().invoke(cli, ["compare", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
