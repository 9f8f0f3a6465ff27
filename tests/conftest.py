"""Shared fixtures: an isolated runs directory, the CLI runner, plugin installs."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def offline_image_architectures(built_in_only: bool = False) -> list:
    """Architectures that read images and build offline: those whose weights only a download gives are left
    out (the tests that train or export every architecture run on fashion-sample, without a network)."""
    from zoo import plugins

    return [e.name for e in plugins.registry().entries("architecture")
            if "image" in e.accepts and not e.tasks  # classifiers: a detector has tests of its own
            and not any(w.url and not w.package for w in e.weights.values())
            and (e.plugin == "zoo" or not built_in_only)]


def pytest_configure(config):
    """Converted pretrained weights are cached for the session in a temporary folder, never in ~/.cache."""
    if "ZOO_CACHE" not in os.environ:
        import tempfile

        os.environ["ZOO_CACHE"] = tempfile.mkdtemp(prefix="zoo-test-cache-")


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    """Every test gets its own runs directory and working directory."""
    monkeypatch.setenv("ZOO_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "runs"


@pytest.fixture(scope="session")
def good_run(tmp_path_factory):
    """A finished one-epoch run of the tutorial dense model on the embedded sample (copy before changing it)."""
    from zoo import trainer

    root = tmp_path_factory.mktemp("good")
    return trainer.train("dense", "fashion-sample", recipe="tutorial", overrides={"epochs": 1},
                         output=str(root / "good"), verbose=0).run_dir


@pytest.fixture
def cli_runner():
    return CliRunner()


def run_zoo(*args, env=None, timeout=600, cwd=None):
    """Run the installed `zoo` in a real subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd)


def pip_install_to(target: Path, *packages: str) -> None:
    """pip-install packages (no dependencies) into ``target``, a folder for PYTHONPATH."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), *packages], check=True, capture_output=True, timeout=300)


def install_distribution(site: Path, distribution: str, modules: dict, entry_points: dict | None = None) -> None:
    """Write ``modules`` (name -> source) into ``site`` as one installed distribution, as pip leaves it.

    ``entry_points`` maps entry-point names to modules in the group `zoo`
    (default: one per module, named after it).
    """
    for module, source in modules.items():
        (site / module).mkdir(parents=True)
        (site / module / "__init__.py").write_text(source)
    info = site / f"{distribution.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    points = entry_points or {module: module for module in modules}
    (info / "entry_points.txt").write_text("[zoo]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))


@pytest.fixture
def plugins_from(monkeypatch):
    """``plugins_from(site, "a,b")``: load the plugins installed in ``site`` (and only those); undone after."""
    import importlib

    from zoo import plugins

    loaded = []

    def load(site: Path, allowed: str):
        monkeypatch.syspath_prepend(str(site))
        monkeypatch.setenv("ZOO_LOAD_PLUGINS", allowed)
        importlib.invalidate_caches()
        plugins.load.cache_clear()
        loaded.extend(p.name for p in site.iterdir() if p.is_dir() and not p.name.endswith(".dist-info"))
        return plugins.load()

    yield load
    plugins.load.cache_clear()
    for module in loaded:
        sys.modules.pop(module, None)


@pytest.fixture
def write_idx():
    """``write_idx(path, array, header=None)``: write an IDX file (gzipped if path ends .gz).

    The header is the real one for a uint8 array unless ``header`` replaces it.
    """
    import gzip

    def write(path, array, header=None):
        path = Path(path)
        if header is None:
            header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
        data = header + array.astype("uint8").tobytes()
        path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
        return path

    return write
