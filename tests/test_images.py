"""Images of any size and colour: a folder of real colour pictures trains, exports and predicts in RGB and gray.

The folder is made from real Fashion-MNIST test images (the embedded sample),
tinted and resized to 64x64, a quarter of them saved as JPEG; matplotlib's
sample photograph (a real 512x600 JPEG) is the picture `zoo predict` reads.
"""
import importlib.util
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from zoo import calls, plugins, trainer
from zoo.cli import cli
from zoo.images import image_header, load_image

CLASSES = {1: "trouser", 7: "sneaker", 8: "bag"}  # distinct shapes: a short run learns them
PER_CLASS = 80
SIZE = 64
MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None


def make_colour_folder(root):
    """``root/<class>/NNN.png|jpg``: real sample images, each tinted its own colour, 64x64 RGB."""
    data = plugins.get("dataset", "fashion-sample").load()
    rng = np.random.default_rng(0)
    for label, name in CLASSES.items():
        (root / name).mkdir(parents=True)
        picked = np.flatnonzero(data.y_test == label)[:PER_CLASS]
        for i, index in enumerate(picked):
            gray = Image.fromarray(data.x_test[index]).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
            tint = rng.uniform(0.3, 1.0, 3)
            rgb = (np.asarray(gray, np.float32)[..., None] * tint).round().astype(np.uint8)
            suffix = ".jpg" if i % 4 == 0 else ".png"
            Image.fromarray(rgb, "RGB").save(root / name / f"{i:03d}{suffix}", quality=92)
    return root


def photograph():
    import matplotlib.cbook

    return matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_colour_folder(tmp_path_factory.mktemp("colour") / "clothes")


def train_and_export(folder, out, *extra):
    runner = CliRunner()
    result = runner.invoke(cli, ["train", "cnn", "images", "--data-dir", str(folder), "--epochs", "4",
                                 "-o", str(out), "-q", *extra])
    assert result.exit_code == 0, result.output
    mediapipe = ["--mediapipe"] if MEDIAPIPE else []  # the extra: every variant there is
    result = runner.invoke(cli, ["export", str(out), "--tflite", "--quantize", "float16,dynamic,int8,int16x8",
                                 *mediapipe])
    assert result.exit_code == 0, result.output
    return json.loads((out / "config.json").read_text())


@pytest.fixture(scope="module")
def rgb_run(folder, tmp_path_factory):
    run = tmp_path_factory.mktemp("rgb") / "run"
    return run, train_and_export(folder, run)


@pytest.fixture(scope="module")
def gray_run(folder, tmp_path_factory):
    run = tmp_path_factory.mktemp("gray") / "run"
    return run, train_and_export(folder, run, "--color", "gray")


def keras_class(run, pixels, config):
    """The run's Keras model on one 8-bit picture, scaled as training scaled it."""
    model = trainer.load_run_model(run)
    x = pixels[None].astype(np.float32) * np.float32(config["input"]["scale"])
    return config["class_names"][int(np.argmax(model.predict(x, verbose=0)))]


def predicted_class(run, picture):
    result = CliRunner().invoke(cli, ["predict", str(run / "export"), str(picture), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["results"][0]["predictions"][0]["class"]


def test_a_colour_folder_trains_in_rgb_at_its_own_size(rgb_run):
    run, config = rgb_run
    assert config["input_shape"] == [SIZE, SIZE, 3]
    assert config["input"]["channels"] == "rgb" and config["input"]["layout"] == "image"
    assert config["data_source"]["color_from"] == "an image has colour"
    assert config["data_source"]["image_size_from"] == "the folder's most common size"
    # The tuned cnn averages the 16x16 map at this size instead of flattening it.
    assert config["params"]["pooling"] == "auto"
    assert json.loads((run / "metrics.json").read_text())["params"] < 200_000
    card = json.loads((run / "export" / "model_card.json").read_text())
    assert card["input"]["layout"] == "image 64 x 64, rgb"
    assert card["input"]["from_image_file"]["color"].startswith("RGB")
    formats = {f["file"] for f in card["files"]}
    assert {"model.tflite", "model.float16.tflite", "model.dynamic.tflite", "model.int8.tflite",
            "model.int16x8.tflite"} <= formats
    assert all(f["verified"] for f in card["files"])
    if MEDIAPIPE:  # an RGB model reads MediaPipe's [1, 64, 64, 3] as it is, with no front end
        (mediapipe,) = [f for f in card["files"] if f["file"] == "model.mediapipe.tflite"]
        read = {k: v for k, v in mediapipe["input"].items() if k != "from_image_file"}
        assert read == {"shape": [1, SIZE, SIZE, 3], "dtype": "float32", "front_end": "none (RGB)"}
        # ... fed 8-bit RGB pixels scaled as the run's input (zoo predict reads this).
        assert mediapipe["input"]["from_image_file"]["scale"] == card["input"]["from_image_file"]["scale"]
        assert mediapipe["agreement"] == 1.0


@pytest.mark.parametrize("which", ["rgb", "gray"])
def test_zoo_predict_gives_the_keras_class_for_real_files(which, rgb_run, gray_run, folder):
    run, config = rgb_run if which == "rgb" else gray_run
    color = config["input"]["channels"]
    assert color == which
    for picture in (next((folder / "bag").glob("*.jpg")), next((folder / "sneaker").glob("*.png")), photograph()):
        pixels = load_image(picture, (SIZE, SIZE), color)
        assert pixels.shape == ((SIZE, SIZE, 3) if which == "rgb" else (SIZE, SIZE))
        assert predicted_class(run, picture) == keras_class(run, pixels, config), picture


def test_color_gray_trains_without_a_channel_axis(gray_run):
    run, config = gray_run
    assert config["input_shape"] == [SIZE, SIZE]
    assert config["data_options"] == {"color": "gray"}
    assert config["data_source"]["color_from"] == "--color"
    card = json.loads((run / "export" / "model_card.json").read_text())
    assert card["input"]["layout"] == "image 64 x 64, gray"


def test_the_image_size_is_asked_for_or_the_most_common_capped(folder, tmp_path):
    entry = plugins.get("dataset", "images")
    small = calls.load_dataset(entry, data_dir=str(folder), options={"image_size": (32, 24)})
    assert small.input_shape == (32, 24, 3)
    assert small.source["image_size_from"] == "--image-size"
    # Mostly 64x64, one 512x600 photograph (600 high): the common size wins.
    mixed = tmp_path / "mixed"
    shutil.copytree(folder, mixed)
    shutil.copy(photograph(), mixed / "bag" / "photo.jpg")
    assert image_header(mixed / "bag" / "photo.jpg") == (600, 512, True)  # height, width, colour
    assert calls.load_dataset(entry, data_dir=str(mixed)).input_shape == (SIZE, SIZE, 3)
    from zoo_plugins.datasets import default_image_size

    assert default_image_size([(600, 512), (600, 512), (64, 64)]) == (128, 109)  # capped, aspect kept
    assert default_image_size([(20, 30), (30, 20)]) == (30, 20)


@pytest.mark.parametrize("channels", [1, 3])
def test_idx_files_with_a_channel_axis_and_npz_files_of_any_image_shape(tmp_path, write_idx, channels):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (12, 10, 14, channels), dtype=np.uint8)
    x_test = rng.integers(0, 256, (4, 10, 14, channels), dtype=np.uint8)
    y_train, y_test = (np.arange(12) % 3).astype(np.uint8), (np.arange(4) % 3).astype(np.uint8)
    (tmp_path / "idx").mkdir()
    for name, array in (("train-images-idx3-ubyte", x_train), ("train-labels-idx1-ubyte", y_train),
                        ("t10k-images-idx3-ubyte", x_test), ("t10k-labels-idx1-ubyte", y_test)):
        write_idx(tmp_path / "idx" / name, array)
    idx = calls.load_dataset(plugins.get("dataset", "idx"), data_dir=str(tmp_path / "idx"))
    assert idx.input_shape == (10, 14, channels)
    assert idx.input_spec.channels == ("rgb" if channels == 3 else "gray")
    # The same arrays as keras.datasets keeps them (CIFAR's labels are (N, 1)).
    (tmp_path / "npz").mkdir()
    np.savez(tmp_path / "npz" / "mine.npz", x_train=x_train, y_train=y_train[:, None], x_test=x_test,
             y_test=y_test)
    npz = calls.load_dataset(plugins.get("dataset", "npz"), data_dir=str(tmp_path / "npz"))
    np.testing.assert_array_equal(npz.x_train, idx.x_train)
    np.testing.assert_array_equal(npz.y_train, idx.y_train)
    assert npz.class_names == ("0", "1", "2") and npz.input_spec == idx.input_spec


def test_pooling_auto_keeps_the_tutorial_shape_at_28_and_stays_small_on_large_images():
    from zoo import recipes
    from zoo.tasks import Classification

    task = Classification(tuple("abcdefghij"))
    for name, limit in (("cnn", 1_000_000), ("vgg", 1_000_000)):
        arch = plugins.get("architecture", name)
        _, _, hyper = recipes.resolve(arch, "tuned")
        flatten = calls.build_model(arch, (28, 28), task, {**hyper, "pooling": "flatten"})
        auto = calls.build_model(arch, (28, 28), task, hyper)
        assert auto.count_params() == flatten.count_params()  # 28x28: the same model as before
        large = calls.build_model(arch, (96, 96, 3), task, hyper)
        assert large.count_params() < limit, (name, large.count_params())


def test_large_images_are_predicted_in_smaller_batches():
    """Test-set predictions batch by input size: 256 small images, 32 photos at 224 x 224 (256 of those took
    2.9 GB more), one huge image at a time."""
    from zoo.evaluation import batch_for

    assert batch_for(np.zeros((4, 28, 28), np.uint8), 256) == 256
    assert batch_for(np.zeros((4, 224, 224, 3), np.uint8), 256) == 32
    assert batch_for(np.zeros((4, 2000, 2000, 3), np.uint8), 256) == 1
