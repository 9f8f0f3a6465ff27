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


# The architectures that read no images, on the data they read (trained one short epoch: building
# and converting is what matters), and the download-weight backbones built without their weights.
OTHER_RUNS = [
    ("textcnn", "nsmc-sample", {}),
    ("dense", "nsmc-sample", {}),
    ("simplernn", "multiply", {}),  # regression on sequences
    ("lstm-bn", "multiply", {}),
    ("dense", "multiply", {}),
    ("mobilenet-v3-small", "images", {"weights": "none"}),  # at least 32 x 32: CIFAR-10 photos
    ("efficientnet-v2-b0", "images", {"weights": "none"}),  # refused: see below
]


@pytest.mark.parametrize("arch, dataset, params", OTHER_RUNS, ids=[f"{a}-{d}" for a, d, _ in OTHER_RUNS])
def test_text_sequence_and_download_backbones_export_to_onnx_verified(tmp_path, cli_runner, arch, dataset, params):
    from conftest import SHARED
    from zoo import trainer

    folder, options = None, None
    if dataset == "images":
        cifar = SHARED / "data" / "cifar10" / "train"
        if not cifar.is_dir():
            pytest.skip("needs ../shared/data/cifar10")
        folder = tmp_path / "photos"
        for name in ("cat", "dog"):
            (folder / name).mkdir(parents=True)
            for photo in sorted((cifar / name).iterdir())[:10]:
                shutil.copy(photo, folder / name / photo.name)
        options = {"image_size": (32, 32), "color": "rgb"}
    run = trainer.train(arch, dataset, recipe="tutorial", params=params, overrides={"epochs": 1, "batch_size": 256},
                        data_dir=str(folder) if folder else None, data_options=options,
                        output=str(tmp_path / "run"), verbose=0).run_dir
    result = cli_runner.invoke(cli, ["export", str(run), "--format", "onnx"])
    if arch == "efficientnet-v2-b0":
        # tf2onnx turns the constants of keras.applications' Normalization layer into graph inputs:
        # the file cannot run, so it is refused in one line (the README's ONNX section says so).
        error = [line for line in result.output.splitlines() if line.startswith("Error")]
        assert result.exit_code == 1 and len(error) == 1, result.output
        assert "tf2onnx left as inputs; ONNX Runtime cannot run it" in error[0] and "normalization" in error[0]
        assert not (run / "export" / "model.onnx").exists()  # refused alone: the SavedModel is written
        return
    assert result.exit_code == 0, result.output
    card = json.loads((run / "export" / "model_card.json").read_text())
    onnx = next(f for f in card["files"] if f["file"] == "model.onnx")
    # A classifier's agreement is the same class; a regression's, outputs within its tolerance of Keras'.
    assert onnx["verified"] and onnx["agreement"] == 1.0 and onnx["max_abs_diff"] <= 1e-4
