"""The README's code runs exactly as printed: its plugin and its exporter, installed for real."""
import importlib
import json
import re
import sys

import pytest
from click.testing import CliRunner

from conftest import REPO
from zoo import plugins
from zoo.cli import cli

README = (REPO / "README.md").read_text()


def python_block(heading: str) -> str:
    """The first ```python block after ``heading`` in the README."""
    start = README.index(f"\n{heading}\n")
    match = re.compile(r"```python\n(.*?)```", re.S).search(README, start)
    assert match, f"no python block after {heading}"
    return match.group(1)


def install(site, module: str, source: str, distribution: str) -> None:
    """``source`` as an installed distribution with a `zoo` entry point, as pip would leave it."""
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(source)
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[zoo]\n{module} = {module}\n")


@pytest.fixture
def readme_plugins(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install(site, "zoo_tiny", python_block("## Writing a plugin"), "zoo-tiny")
    install(site, "zoo_npz", python_block("### Adding a format"), "zoo-npz")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "zoo_tiny,zoo_npz")
    importlib.invalidate_caches()
    plugins.load.cache_clear()
    yield site
    plugins.load.cache_clear()
    for module in ("zoo_tiny", "zoo_npz"):
        sys.modules.pop(module, None)


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
