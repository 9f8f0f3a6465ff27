"""zoo predict: LiteRT alone, images of any size, one-line errors.

Agreement with Keras for every architecture is checked in test_export.py
(test_predict_cli_gives_keras_class); here one small exported run is enough.
"""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from pathlib import Path

from conftest import SHARED, run_zoo
from zoo import export, plugins, predict
from zoo.cli import cli


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory):
    from zoo import trainer

    run = tmp_path_factory.mktemp("predict") / "run"
    trainer.train("dense", "fashion-sample", overrides={"epochs": 1}, params={"units": (32,)},
                  output=str(run), verbose=0)
    export.export(str(run), formats=["tflite"], quantize=["int8"], log=lambda m: None)
    return run


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A sneaker-ish and a trouser-ish test image, as a small PNG and a large RGB JPEG."""
    data = plugins.get("dataset", "fashion-sample").load()
    folder = tmp_path_factory.mktemp("images")
    small = folder / "small.png"
    Image.fromarray(data.x_test[0]).save(small)
    large = folder / "large.jpg"
    Image.fromarray(data.x_test[1]).resize((300, 200)).convert("RGB").save(large, quality=95)
    return [small, large]


def test_predict_prints_top_classes(cli_runner, exported_run, images):
    result = cli_runner.invoke(cli, ["predict", str(exported_run), *map(str, images), "--top-k", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{images[0]}: ")
    names = plugins.get("dataset", "fashion-sample").class_names
    for line in lines:
        ranked = line.split(": ", 1)[1].split(", ")
        assert len(ranked) == 2
        assert all(item.rsplit(" ", 1)[0] in names for item in ranked)


def test_predict_json_and_files(cli_runner, exported_run, images):
    for model in (exported_run, exported_run / "export", exported_run / "export" / "model.tflite",
                  exported_run / "export" / "model.int8.tflite"):
        result = cli_runner.invoke(cli, ["predict", str(model), str(images[0]), "--json", "-k", "10"])
        assert result.exit_code == 0, result.output
        out = json.loads(result.output)
        probabilities = [p["probability"] for p in out["results"][0]["predictions"]]
        assert len(probabilities) == 10 and probabilities == sorted(probabilities, reverse=True)
        assert abs(sum(probabilities) - 1) < 0.02


def test_predict_same_as_litert_on_normalised_pixels(exported_run, images):
    from zoo import predict
    from zoo.images import load_image
    from zoo.litert import LiteRTModel

    got = predict.predict(str(exported_run), images, top_k=1)
    x = np.stack([load_image(p, (28, 28)) for p in images]).astype(np.float32) / 255
    expected = LiteRTModel(exported_run / "export" / "model.tflite").predict(x).argmax(1)
    assert [r["predictions"][0]["index"] for r in got["results"]] == expected.tolist()


def test_predict_does_not_import_tensorflow(exported_run, images):
    code = textwrap.dedent(f"""
        import sys
        from zoo.cli import cli
        try:
            cli.main(["predict", {str(exported_run)!r}, {str(images[0])!r}], prog_name="zoo",
                     standalone_mode=False)
        finally:
            print("LOADED", sorted(m for m in ("tensorflow", "keras", "tf_keras") if m in sys.modules))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout


def test_predict_errors_are_one_line(exported_run, images, tmp_path):
    not_image = tmp_path / "notes.png"
    not_image.write_text("not an image")
    not_model = tmp_path / "model.tflite"
    not_model.write_bytes(b"\x00" * 64)
    no_export = tmp_path / "no-export"
    no_export.mkdir()
    (no_export / "config.json").write_text((exported_run / "config.json").read_text())
    cases = [
        (["predict", str(exported_run), str(not_image)], 1, f"{not_image}: not an image"),
        (["predict", str(exported_run), str(tmp_path / "missing.png")], 1, "missing.png: no such file"),
        (["predict", str(not_model), str(images[0])], 1, f"{not_model}: not a TFLite model"),
        (["predict", str(tmp_path / "gone.tflite"), str(images[0])], 1, "gone.tflite: no such file"),
        (["predict", "no-such-run", str(images[0])], 2, "run 'no-such-run' not found"),
        (["predict", str(no_export), str(images[0])], 1, "has no exported model"),
        (["predict", str(exported_run)], 2, "Missing argument"),
        (["predict", str(exported_run), str(images[0]), "--top-k", "0"], 2, "--top-k"),
    ]
    for args, code, message in cases:
        proc = run_zoo(*args)
        assert proc.returncode == code, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
        assert len(errors) == 1, proc.stderr


# ---------------------------------------------------------------------------
# Image files reach the model as the training data did, for every built-in
# dataset, however it stores its examples (uint8 0..255, or float 0..1 for the
# noisy variants): an image file's 0..255 is the dataset's black..white.

MNIST_10K = SHARED / "data" / "mnist-10k"
FASHION_DEBIAN = "/usr/share/datasets/fashion-mnist"


def _images_folder(root):
    """An `images` dataset: three classes of real MNIST digits as PNG files."""
    data = plugins.get("dataset", "mnist").load(data_dir=str(MNIST_10K))
    for digit in (0, 1, 2):
        (root / str(digit)).mkdir(parents=True)
        for i, index in enumerate(np.flatnonzero(data.y_train == digit)[:20]):
            Image.fromarray(data.x_train[index]).save(root / str(digit) / f"{i:02d}.png")
    return root


def _npz_file(root):
    """An `npz` dataset: real MNIST digits saved as keras.datasets keeps them."""
    data = plugins.get("dataset", "mnist").load(data_dir=str(MNIST_10K))
    root.mkdir(parents=True)
    np.savez(root / "digits.npz", x_train=data.x_train[:2000], y_train=data.y_train[:2000],
             x_test=data.x_test[:500], y_test=data.y_test[:500])
    return root / "digits.npz"


BUILTIN_DATA = {  # dataset -> the --data-dir it needs here (a callable makes one)
    "fashion": None, "fashion-noisy": None, "fashion-sample": None,
    "mnist": MNIST_10K, "mnist-noisy": MNIST_10K, "idx": MNIST_10K, "images": _images_folder,
    "npz": _npz_file,
}


# Photos with boxes: zoo predict's answers on them (boxes in the photo's pixels) are tested in
# test_detection, and every detector export runs model.tflite through zoo predict against Keras.
DETECTION_DATA = ("coco", "raccoon-sample", "voc")


def test_every_builtin_image_dataset_is_covered():
    builtins = {e.name for e in plugins.registry().entries("dataset") if e.plugin == "zoo" and e.input_kind == "image"}
    assert builtins == set(BUILTIN_DATA) | set(DETECTION_DATA)


@pytest.mark.parametrize("name", sorted(BUILTIN_DATA))
def test_predict_on_image_files_matches_keras_on_the_same_pictures(name, tmp_path):
    import keras

    from zoo import calls, trainer

    if name.startswith("fashion") and name != "fashion-sample" and not Path(FASHION_DEBIAN).is_dir():
        pytest.skip("needs Debian's dataset-fashion-mnist")
    if BUILTIN_DATA[name] is not None and not MNIST_10K.is_dir():
        pytest.skip("needs ../shared/data/mnist-10k")
    data_dir = BUILTIN_DATA[name]
    if callable(data_dir):
        data_dir = data_dir(tmp_path / "folder")
    data_dir = str(data_dir) if data_dir else None
    run = tmp_path / "run"
    trainer.train("dense", name, recipe="tutorial", overrides={"epochs": 1, "batch_size": 256},
                  data_dir=data_dir, output=str(run), verbose=0)
    export.export(str(run), formats=["tflite"], log=lambda m: None)

    # Real pictures: the dataset's own test examples as 8-bit PNG files.
    data = calls.load_dataset(plugins.get("dataset", name), data_dir=data_dir)
    low, high = data.black_white
    pictures = np.round((data.x_test[:16].astype(np.float64) - low) / (high - low) * 255).astype(np.uint8)
    files = []
    for i, picture in enumerate(pictures):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(picture).save(files[-1])
    result = predict.predict(str(run), [str(f) for f in files], top_k=len(data.class_names))
    from_files = np.array([[p["probability"] for p in sorted(r["predictions"], key=lambda p: p["index"])]
                           for r in result["results"]])
    # Keras on the same pictures, read as every built-in dataset's model reads them: pixel / 255.
    model = keras.saving.load_model(run / "model.keras")
    expected = model.predict(pictures.astype(np.float32) / 255, verbose=0)
    assert np.max(np.abs(from_files - expected)) < 1e-4
    card = json.loads((run / "export" / "model_card.json").read_text())
    assert card["input"]["from_image_file"]["scale"] == pytest.approx(1 / 255)


def test_a_dataset_stored_0_to_16_maps_image_files_onto_its_range():
    from zoo.dataset import Dataset

    x = np.zeros((4, 8, 8), np.uint8)
    y = np.array([0, 1, 0, 1])
    # Stored 0..16 and fed to the model as stored: white in a file (255) must become 16.
    as_stored = Dataset("digits", ("a", "b"), x, y, x, y, pixel_scale=1.0, stored_range=(0, 16))
    assert as_stored.image_input()["scale"] * 255 == pytest.approx(16)
    # Stored 0..16 and normalised by 1/16: white becomes 1.
    normalised = Dataset("digits", ("a", "b"), x, y, x, y, pixel_scale=1 / 16, stored_range=(0, 16))
    assert normalised.image_input()["scale"] * 255 == pytest.approx(1)


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    from zoo.images import load_image

    eight = np.linspace(0, 255, 28 * 28).round().astype(np.uint8).reshape(28, 28)
    Image.fromarray(eight.astype(np.uint16) * 257).save(tmp_path / "wide.png")
    assert Image.open(tmp_path / "wide.png").mode.startswith("I")
    assert np.array_equal(load_image(tmp_path / "wide.png"), eight)


def test_an_image_name_holding_a_newline_is_printed_escaped(cli_runner, exported_run, images, tmp_path):
    import shutil

    hostile = tmp_path / "hostile\nline.jpg: Sneaker 1.0000"
    shutil.copy(images[0], hostile)
    result = cli_runner.invoke(cli, ["predict", str(exported_run), str(hostile)])
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1 and result.output.startswith(repr(str(hostile)) + ": ")
