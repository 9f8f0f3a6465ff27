"""`zoo export --mediapipe`: a file MediaPipe Tasks' ImageClassifier runs, with the Keras accuracy."""
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from zoo.cli import cli


def test_mediapipe_classifies_a_fashion_run_with_the_keras_accuracy(good_run, tmp_path):
    pytest.importorskip("mediapipe", reason="the mediapipe extra is not installed")
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    result = CliRunner().invoke(cli, ["export", str(run), "--mediapipe", "--json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    (entry,) = [f for f in card["files"] if f["file"] == "model.mediapipe.tflite"]
    assert entry["verified"] and entry["runtime"].startswith("MediaPipe Tasks ImageClassifier")
    keras_accuracy = card["verification"]["keras_test_accuracy"]
    assert abs(entry["test_accuracy"] - keras_accuracy) <= 0.005
    assert entry["agreement"] == 1.0 and entry["max_abs_diff"] <= 1e-4
    assert entry["input"]["shape"] == [1, 28, 28, 3] and entry["normalization"] == {"mean": [0.0], "std": [255.0]}

    # Read back by MediaPipe itself, as an app would: labels and normalisation come from the file.
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision
    from PIL import Image

    from zoo import plugins

    data = plugins.get("dataset", "fashion-sample").load()
    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=str(run / "export" / "model.mediapipe.tflite")), max_results=1)
    classifier = vision.ImageClassifier.create_from_options(options)
    rgb = np.asarray(Image.fromarray(data.x_test[0]).convert("RGB"))
    top = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)).classifications[0].categories[0]
    assert top.category_name in data.class_names
    classifier.close()


def test_the_int8_mediapipe_file_takes_the_cameras_bytes(good_run, tmp_path):
    """--mediapipe --quantize int8: uint8 pixels in (scale 1, zero point 0: the bytes are the pixels), uint8
    scores out, classified by MediaPipe within a point of Keras, and MediaPipe's class for a photo is Keras'."""
    pytest.importorskip("mediapipe", reason="the mediapipe extra is not installed")
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    result = CliRunner().invoke(cli, ["export", str(run), "--tflite", "--mediapipe", "--quantize", "int8", "--json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    (entry,) = [f for f in card["files"] if f["file"] == "model.mediapipe.int8.tflite"]
    assert entry["verified"] and entry["runtime"].startswith("MediaPipe Tasks ImageClassifier")
    assert abs(entry["test_accuracy"] - card["verification"]["keras_test_accuracy"]) <= 0.01
    from zoo import litert

    described = litert.LiteRTModel(run / "export" / "model.mediapipe.int8.tflite").describe()
    assert described["input"]["dtype"] == "uint8" and described["input"]["quantization"] == {"scale": 1.0,
                                                                                             "zero_point": 0}
    assert described["output"]["dtype"] == "uint8" and described["input"]["shape"] == [1, 28, 28, 3]
    assert entry["agreement"] >= 0.95

    # zoo predict feeds it the pixels as they are (its card says so): Keras' class on 100 test photos.
    from PIL import Image

    from zoo import plugins, predict, trainer

    data = plugins.get("dataset", "fashion-sample").load()
    photos = []
    for i in range(100):
        photos.append(tmp_path / f"{i}.png")
        Image.fromarray(data.x_test[i]).save(photos[-1])
    keras = trainer.load_run_model(run).predict(data.normalise(data.x_test[:100]), verbose=0).argmax(axis=1)
    for card_kind in ("as written", "written before files recorded their input"):
        if card_kind != "as written":
            card_path = run / "export" / "model_card.json"
            old = json.loads(card_path.read_text())
            for f in old["files"]:
                f.get("input", {}).pop("from_image_file", None)
            card_path.write_text(json.dumps(old))
        answers = predict.predict(str(run / "export" / "model.mediapipe.int8.tflite"), photos, top_k=1)["results"]
        agree = np.mean([a["predictions"][0]["index"] == k for a, k in zip(answers, keras)])
        assert agree >= 0.95, (card_kind, agree)


def test_export_runs_every_file_as_zoo_predict_does(good_run, tmp_path, monkeypatch):
    """A card that tells zoo predict the wrong input for one file (the uint8 MediaPipe file fed pixels / 255,
    as zoo predict once did) passes MediaPipe's check and must still be refused, by name; the others are written."""
    pytest.importorskip("mediapipe", reason="the mediapipe extra is not installed")
    from zoo.data.card import ModelCard  # where zoo predict reads an image file's scaling

    monkeypatch.setattr(ModelCard, "image_scaling", lambda card: (1 / 255, 0.0))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["export", str(good_run), "--tflite", "--mediapipe", "--quantize", "int8",
                                      "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "model.mediapipe.int8.tflite: answers otherwise when run as zoo predict runs it" in result.output
    assert "Error: model.tflite" not in result.output
    assert not (out / "model.mediapipe.int8.tflite").exists() and (out / "model.mediapipe.tflite").is_file()


def test_the_int8_mediapipe_file_of_a_recurrent_model_is_unrolled(tmp_path):
    """lstm-bn (make demo's model) loops over rows: the uint8 MediaPipe file is converted from the model
    rebuilt unrolled, as model.int8.tflite is (the converter's calibration crashed on the loop), and then
    MediaPipe itself runs it (one subgraph; the float file's loop is a second one MediaPipe refuses)."""
    pytest.importorskip("mediapipe", reason="the mediapipe extra is not installed")
    from zoo import trainer

    run = trainer.train("lstm-bn", "fashion-sample", recipe="tutorial", overrides={"epochs": 1},
                        output=str(tmp_path / "run"), verbose=0).run_dir
    result = CliRunner().invoke(cli, ["export", str(run), "--tflite", "--mediapipe", "--quantize", "int8", "--json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    (entry,) = [f for f in card["files"] if f["file"] == "model.mediapipe.int8.tflite"]
    assert entry["verified"] and entry["runtime"].startswith("MediaPipe Tasks ImageClassifier")
    assert any("unrolled" in note for note in entry["notes"])


def test_without_mediapipe_the_export_says_how_to_install_it(good_run, tmp_path, monkeypatch):
    import zoo_exports.mediapipe as exporter

    monkeypatch.setattr(exporter, "installed", lambda: False)
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    result = CliRunner().invoke(cli, ["export", str(run), "--mediapipe"])
    assert result.exit_code == 1
    assert "model.mediapipe.tflite: needs the mediapipe package: pip install 'zoo[mediapipe]'" in result.output
    assert not (run / "export").exists()


def test_the_minimum_parser_version_follows_mediapipes_rules():
    pytest.importorskip("mediapipe", reason="the mediapipe extra is not installed")
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    from zoo_exports.mediapipe import minimum_parser_version

    def packed(metadata):
        builder = flatbuffers.Builder(0)
        builder.Finish(metadata.Pack(builder), b"M001")
        return bytes(builder.Output())

    labels = fb.AssociatedFileT()
    labels.name, labels.type = "labels.txt", fb.AssociatedFileType.TENSOR_AXIS_LABELS
    output = fb.TensorMetadataT()
    output.associatedFiles = [labels]
    graph = fb.SubGraphMetadataT()
    graph.inputTensorMetadata, graph.outputTensorMetadata = [fb.TensorMetadataT()], [output]
    metadata = fb.ModelMetadataT()
    metadata.subgraphMetadata = [graph]
    assert minimum_parser_version(packed(metadata)) == "1.0.0"  # what an image classifier needs
    labels.type = fb.AssociatedFileType.VOCABULARY
    assert minimum_parser_version(packed(metadata)) == "1.0.1"
    graph.inputProcessUnits = []
    assert minimum_parser_version(packed(metadata)) == "1.1.0"
    labels.version = "2"
    assert minimum_parser_version(packed(metadata)) == "1.4.1"


def test_where_mediapipe_cannot_start_litert_verifies_with_the_metadata_read_back(good_run, tmp_path, monkeypatch):
    """The same file, verified by LiteRT fed as the file's own metadata says (labels, normalisation)."""
    pytest.importorskip("mediapipe", reason="the mediapipe extra is not installed")
    import zoo_exports.mediapipe as exporter

    def refuse(path, kind="image"):
        raise RuntimeError("MediaPipe's native library did not load")

    monkeypatch.setattr(exporter, "_classifier", refuse)
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    result = CliRunner().invoke(cli, ["export", str(run), "--mediapipe", "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = [f for f in json.loads(result.stdout)["files"] if f["file"] == "model.mediapipe.tflite"]
    assert entry["runtime"].startswith("LiteRT with the metadata read back (MediaPipe's native library")
    assert entry["verified"] and entry["agreement"] == 1.0
    found = exporter.read_back(run / "export" / "model.mediapipe.tflite")
    assert found["labels"] == json.loads((run / "config.json").read_text())["class_names"]
    assert found["mean"] == [0.0] and found["std"] == [255.0]
