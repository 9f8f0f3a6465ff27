"""`zoo train ARCH DATASET --from RUN`: a new model starts from an earlier run's weights."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from zoo import calls, plugins, trainer, transfer
from zoo.cli import cli


def clothing_folder(root, classes=(0, 1, 9), count=12):
    """A user's folder of 28 x 28 gray PNG photos: T-shirts, trousers and ankle boots from the shipped sample."""
    data = plugins.get("dataset", "fashion-sample").load()
    for label in classes:
        folder = root / data.class_names[label].replace("/", "-")
        folder.mkdir(parents=True)
        for i, image in enumerate(data.x_train[data.y_train == label][:count]):
            Image.fromarray(image).save(folder / f"{i}.png")
    return root


def test_the_earlier_weights_are_copied_and_a_new_head_made_for_other_classes(good_run, tmp_path):
    folder = clothing_folder(tmp_path / "photos")
    data = calls.load_dataset(plugins.get("dataset", "images"), data_dir=str(folder))
    assert data.input_shape == (28, 28) and len(data.class_names) == 3
    entry = plugins.get("architecture", "dense")
    hyper = json.loads((good_run / "config.json").read_text())["params"]
    model = calls.build_model(entry, data.input_shape, data.task, hyper, data.input_spec)
    started = transfer.start_from(model, str(good_run), "dense", data)
    earlier = trainer.load_run_model(good_run)
    hidden = [layer for layer in model.layers if layer.weights and layer.name != "classifier"]
    earlier_hidden = [layer for layer in earlier.layers if layer.weights and layer.name != "classifier"]
    assert hidden and all(np.array_equal(a, b) for layer, old in zip(hidden, earlier_hidden)
                          for a, b in zip(layer.get_weights(), old.get_weights()))
    assert started["layers_new"] == ["classifier"] and started["layers_copied"] == len(hidden)


def test_zoo_train_from_records_the_run_it_started_from(good_run, tmp_path, cli_runner):
    folder = clothing_folder(tmp_path / "photos")
    run = tmp_path / "run"
    result = cli_runner.invoke(cli, ["train", "dense", "images", "--data-dir", str(folder), "--from", str(good_run),
                                     "-o", str(run)])
    assert result.exit_code == 2 and "no layer of its model fits the new one" in result.output  # tuned: 512-256
    result = cli_runner.invoke(cli, ["train", "dense", "images", "--data-dir", str(folder), "--from", str(good_run),
                                     "--recipe", "tutorial", "--epochs", "1", "-o", str(run)])
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["started_from"]["run"] == str(good_run.resolve())
    assert str(good_run.resolve()) in (run / "report.html").read_text(encoding="utf-8")


def without_metrics(good_run, tmp_path):
    copy = tmp_path / "no-metrics"
    shutil.copytree(good_run, copy)
    (copy / "metrics.json").unlink()
    return copy


def test_text_weights_move_by_token_not_by_id(tmp_path):
    """--from across tokenizers: the Embedding row of each word both vocabularies hold is that word's row."""
    from zoo import tokenizer

    earlier_run = trainer.train("dense", "nsmc-sample", recipe="tutorial", overrides={"epochs": 1},
                                output=str(tmp_path / "words"), verbose=0).run_dir
    data = calls.load_dataset(plugins.get("dataset", "nsmc-sample"), options={"tokenizer": "mediapipe"})
    entry = plugins.get("architecture", "dense")
    hyper = json.loads((earlier_run / "config.json").read_text())["params"]
    model = calls.build_model(entry, data.input_shape, data.task, hyper, data.input_spec)
    started = transfer.start_from(model, str(earlier_run), "dense", data)
    earlier = tokenizer.read(earlier_run / "tokenizer.json")
    shared = [w for w in data.tokenizer.vocabulary if w in set(earlier.vocabulary)]
    assert len(shared) > 100 and started["embedding_rows_mapped"] == len(shared) + 1  # and padding
    old_rows = next(layer for layer in trainer.load_run_model(earlier_run).layers
                    if layer.__class__.__name__ == "Embedding").get_weights()[0]
    rows = next(layer for layer in model.layers if layer.__class__.__name__ == "Embedding").get_weights()[0]
    for word in shared[:50]:
        assert np.array_equal(rows[data.tokenizer.ids(word)[0]], old_rows[earlier.ids(word)[0]]), word


def damaged_copy(good_run, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(good_run, damaged)
    (damaged / "model.keras").write_bytes(b"not a keras archive")
    return damaged


@pytest.mark.parametrize("case, make_args, code, fragment", [
    ("other-input-shape", lambda run, tmp: ["cnn", "images", "--data-dir", str(clothing_folder(tmp / "p")),
                                            "--image-size", "32x32", "--from", str(run)],
     2, "a dense run; its weights fit dense, not cnn"),
    ("other-shape-same-arch", lambda run, tmp: ["dense", "images", "--data-dir", str(clothing_folder(tmp / "p")),
                                                "--image-size", "32x32", "--from", str(run)],
     2, "its model reads images of shape [28, 28]; images gives images of shape [32, 32]"),
    ("other-layout", lambda run, tmp: ["dense", "multiply", "--from", str(run)],
     2, "its model reads images of shape [28, 28]; multiply gives sequences of shape [100, 2]"),
    ("damaged-run", lambda run, tmp: ["dense", "fashion-sample", "--from", str(damaged_copy(run, tmp))],
     1, "model.keras: not a Keras model file (not a .keras zip archive)"),
    ("not-a-run", lambda run, tmp: ["dense", "fashion-sample", "--from", str(tmp / "nothing")],
     2, "nothing"),
    ("with-resume", lambda run, tmp: ["--resume", str(run), "--from", str(run)],
     2, "--from with --resume"),
    ("no-metrics", lambda run, tmp: ["dense", "fashion-sample", "--from", str(without_metrics(run, tmp))],
     2, "its metrics.json is missing"),
])
def test_hostile_from_gets_one_line_and_writes_nothing(good_run, tmp_path, cli_runner, case, make_args, code,
                                                       fragment):
    args = make_args(good_run, tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = cli_runner.invoke(cli, ["train", *args, "-o", str(tmp_path / "new-run")] if case != "with-resume"
                               else ["train", *args])
    assert result.exit_code == code and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and fragment in errors[0], result.output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
