"""`zoo export --format onnx`: Keras' ONNX export, published only when ONNX Runtime agrees with Keras."""
import json
import shutil

import pytest

from conftest import offline_image_architectures
from zoo import calls, plugins
from zoo.cli import cli

pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

ARCHITECTURES = offline_image_architectures(built_in_only=True)  # building is what matters here


def untrained_run(good_run, tmp_path, arch: str):
    """good_run's directory (fashion-sample) holding an untrained ``arch`` model: its weights do not matter."""
    run = tmp_path / arch
    shutil.copytree(good_run, run)
    shutil.rmtree(run / "export", ignore_errors=True)
    config = json.loads((run / "config.json").read_text())
    entry = plugins.get("architecture", arch)
    data = calls.load_dataset(plugins.get("dataset", "fashion-sample"))
    params = {k: p.default for k, p in entry.params.items()}
    model = calls.build_model(entry, data.input_shape, data.task, params, data.input_spec)
    model.save(run / "model.keras")
    config.update({"architecture": arch, "params": {k: list(v) if isinstance(v, tuple) else v
                                                    for k, v in params.items()}})
    (run / "config.json").write_text(json.dumps(config))
    return run


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_built_in_architecture_exports_to_onnx_verified(good_run, tmp_path, cli_runner, arch):
    run = untrained_run(good_run, tmp_path, arch)
    result = cli_runner.invoke(cli, ["export", str(run), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    card = json.loads((run / "export" / "model_card.json").read_text())
    onnx = next(f for f in card["files"] if f["file"] == "model.onnx")
    assert onnx["verified"] and onnx["agreement"] == 1.0 and onnx["max_abs_diff"] <= 1e-4
    assert onnx["runtime"].startswith("onnxruntime") and onnx["size_bytes"] == (run / "export" / "model.onnx").stat().st_size


def test_without_onnx_the_export_says_what_to_install(good_run, tmp_path, cli_runner, monkeypatch):
    import zoo_exports.onnx as exporter

    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    monkeypatch.setattr(exporter, "NEEDED", ("onnx", "no_such_onnx_runtime"))
    result = cli_runner.invoke(cli, ["export", str(run), "--format", "onnx"])
    assert result.exit_code == 1 and "needs no_such_onnx_runtime: pip install 'zoo[onnx]'" in result.output
    assert not (run / "export").exists()
