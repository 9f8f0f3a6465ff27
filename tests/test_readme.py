"""The README's code runs exactly as printed: its plugin and its exporter, installed for real."""
import json
import re

import pytest
from click.testing import CliRunner

from conftest import REPO, install_distribution
from zoo.cli import cli

README = (REPO / "README.md").read_text()


def python_block(heading: str) -> str:
    """The first ```python block after ``heading`` in the README."""
    start = README.index(f"\n{heading}\n")
    match = re.compile(r"```python\n(.*?)```", re.S).search(README, start)
    assert match, f"no python block after {heading}"
    return match.group(1)


@pytest.fixture
def readme_plugins(tmp_path, plugins_from):
    site = tmp_path / "site"
    install_distribution(site, "zoo-tiny", {"zoo_tiny": python_block("## Writing a plugin")})
    install_distribution(site, "zoo-npz", {"zoo_npz": python_block("### Adding a format")})
    plugins_from(site, "zoo_tiny,zoo_npz")
    return site


def test_the_readme_plugin_and_exporter_work_as_printed(readme_plugins, tmp_path):
    runner = CliRunner()
    listing = runner.invoke(cli, ["list", "--json"])
    assert listing.exit_code == 0, listing.output
    entries = {(e["kind"], e["name"]): e for e in json.loads(listing.output)}
    assert entries[("architecture", "tiny-gru")]["plugin"] == "zoo-tiny"
    assert entries[("exporter", "npz")]["plugin"] == "zoo-npz"

    run = tmp_path / "run"
    trained = runner.invoke(cli, ["train", "tiny-gru", "fashion-sample", "--epochs", "1", "-q", "-o", str(run)])
    assert trained.exit_code == 0, trained.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.3  # ten classes: chance is 0.1

    exported = runner.invoke(cli, ["export", str(run), "--format", "npz"])
    assert exported.exit_code == 0, exported.output
    assert "Traceback" not in exported.output
    card = json.loads((run / "export" / "model_card.json").read_text())
    npz = next(f for f in card["files"] if f["file"] == "weights.npz")
    # zoo filled in what the exporter did not write itself.
    assert npz["format"] == "npz" and npz["verified"] is True
    assert npz["size_bytes"] == (run / "export" / "weights.npz").stat().st_size
    assert npz["max_abs_diff"] == 0.0 and npz["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert len(npz["sha256"]) == 64
    row = next(line for line in exported.output.splitlines() if line.startswith("weights.npz"))
    assert "100.00%" in row
