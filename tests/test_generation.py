"""Text generation: jamo tokens, a corpus in windows, a model that writes, `zoo generate` on LiteRT."""
import gzip
import json
import re

import numpy as np
import pytest

from conftest import REPO
from zoo import calls, generate, plugins, tokenizer, trainer
from zoo.cli import cli
from zoo.errors import DataError
from zoo.tasks import token_label
from zoo_plugins.generation import TOKENIZERS, windows

SAMPLE = REPO / "plugins" / "data" / "nsmc-sample"


def sample_reviews():
    lines = gzip.decompress((SAMPLE / "ratings_train.txt.gz").read_bytes()).decode("utf-8").splitlines()[1:]
    return [line.split("\t")[1] for line in lines if "\t" in line]


def test_jamo_tokens_join_back_into_every_review():
    jamo = TOKENIZERS["jamo"]
    reviews = sample_reviews()
    assert all(jamo.join(jamo.pieces(review)) == review for review in reviews)
    # A syllable is its letters (initial, medial, final): 각 is three tokens, 가 two.
    assert len(jamo.pieces("각")) == 3 and len(jamo.pieces("가")) == 2 and jamo.pieces("ab") == ["a", "b"]


def test_windows_are_each_followed_by_the_next_token():
    x, y = windows(np.arange(10), length=3, stride=2)
    assert x.tolist() == [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8]] and y.tolist() == [3, 5, 7, 9]


def test_token_names_are_printable_and_distinct():
    tokens = [" ", "\n", "\\n", "\t", "\u3000", "가", '"', "\\u0020"]
    names = [token_label(t) for t in tokens]
    assert len(set(names)) == len(names)
    assert all(n.strip() == n and n and n.isprintable() for n in names)


def test_the_sample_corpus_is_windows_of_its_reviews():
    data = calls.load_dataset(plugins.get("dataset", "nsmc-corpus"))
    assert data.task.kind == "generation" and data.input_shape == (80,)
    assert data.tokenizer.level == "jamo" and data.class_names[:2] == ("<pad>", "<unk>")
    # Every window is 80 consecutive tokens of the training text, and its label the token after it.
    fitted = data.tokenizer
    text_ids = fitted.ids("\n".join(r.strip() for r in sample_reviews() if r.strip()) + "\n")
    assert data.x_train[1].tolist() == text_ids[9:89] and int(data.y_train[1]) == text_ids[89]
    assert 0.99 < data.source["coverage_test"] <= 1.0


def write_corpus(path, data: bytes):
    path.write_bytes(data)
    return str(path)


LONG = "영화가 정말 재미있었다. 배우들의 연기도 좋았다.\n" * 40


@pytest.mark.parametrize("name, body, fragment", [
    ("empty", b"", "holds no text (empty, or only white space)"),
    ("whitespace-only", b"  \n\t\r\n \n", "holds no text (empty, or only white space)"),
    ("not-utf8", "좋다\n".encode() * 3 + b"\xff\xfe\n", "line 4 is not UTF-8 text"),
    ("shorter-than-one-window", "짧다\n한줄\n".encode(), "fewer than one window of 81 (80 read, then the next)"),
    ("one-line", LONG.replace("\n", " ").encode(), "a corpus needs at least two"),
])
def test_hostile_corpus_files_get_one_line_and_write_nothing(tmp_path, cli_runner, name, body, fragment):
    corpus = write_corpus(tmp_path / "c.txt", body)
    for args in (["show", "corpus"], ["train", "lstm-bn", "corpus", "-o", str(tmp_path / "run")]):
        result = cli_runner.invoke(cli, [*args, "--data-dir", corpus])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1 and fragment in errors[0], result.output
        assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


def test_a_corpus_with_a_bom_crlf_and_a_long_line_reads_as_its_text(tmp_path):
    long_line = "가나다라마바사 " * 460_000  # 10.1 MB of UTF-8 on one line
    corpus = write_corpus(tmp_path / "c.txt", ("\ufeff" + LONG.replace("\n", "\r\n") + long_line + "\r\n").encode())
    data = calls.load_dataset(plugins.get("dataset", "corpus"), data_dir=corpus)
    assert "\ufeff" not in data.tokenizer.vocabulary and "\r" not in data.tokenizer.vocabulary
    assert data.source["lines"] == {"train": 37, "test": 4}
    assert len(long_line.encode()) > 10_000_000 and data.source["tokens"]["test"] > 6_000_000  # held out, whole
    corpus = write_corpus(tmp_path / "c2.txt", ("\ufeff" + LONG.replace("\n", "\r\n")).encode())
    data = calls.load_dataset(plugins.get("dataset", "corpus"), data_dir=corpus, options={"tokenizer": "char"})
    assert data.tokenizer.vocabulary[0] == " " and data.input_shape == (80,)


def test_continuing_a_text_is_greedy_or_seeded():
    fitted = TOKENIZERS["char"].fit(["abc\n"], 100, whole=True)  # ids: a 2, b 3, c 4, \n 5

    def next_probabilities(ids):  # a "model" that always thinks the last token is followed by its next id
        out = np.full((1, fitted.size), 0.01)
        out[0, 2 + (int(ids[0, -1]) - 1) % 4] = 1.0
        return out / out.sum()

    assert generate.continue_text(next_probabilities, fitted, "a", 5) == "abc\nab"
    drawn = [generate.continue_text(next_probabilities, fitted, "a", 30, temperature=2.0, seed=s) for s in (1, 1, 2)]
    assert drawn[0] == drawn[1] != drawn[2] and all(d.startswith("a") and len(d) == 31 for d in drawn)


@pytest.fixture(scope="module")
def generation_run(tmp_path_factory):
    """The book's jamo model, narrowed (LSTM(32)) and trained one epoch on the shipped corpus, exported."""
    from zoo import export

    run = tmp_path_factory.mktemp("generation") / "run"
    trainer.train("lstm-bn", "nsmc-corpus", recipe="tutorial", params={"units": 32}, overrides={"epochs": 1},
                  output=str(run), verbose=0)
    export.export(str(run), formats=["tflite", "onnx"], log=lambda m: None)
    return run


def test_a_generation_run_reports_perplexity_and_samples(generation_run):
    metrics = json.loads((generation_run / "metrics.json").read_text())
    assert metrics["test_perplexity"] == pytest.approx(np.exp(metrics["test_loss"]), rel=1e-3)
    # One epoch of LSTM(32) learns at least how often each token comes: an untrained model's
    # perplexity is about the number of tokens (207), one that knows the frequencies' about 35.
    tokens = json.loads((generation_run / "config.json").read_text())["task"]["tokens"]
    assert metrics["test_perplexity"] < tokens / 4 and 0.05 < metrics["test_accuracy"] < 1
    samples = metrics["samples"]
    assert len(samples) == 3 and all(s["text"].startswith(s["prompt"]) for s in samples)
    report = (generation_run / "report.html").read_text(encoding="utf-8")
    assert "Text the model wrote" in report and "perplexity" in report and "Confusion" not in report
    config = json.loads((generation_run / "config.json").read_text())
    assert config["task"] == {"kind": "generation", "tokens": config["input"]["tokenizer"]["ids"]}
    # A text model to ONNX too (token ids as float32, as the SavedModel): ONNX Runtime agrees with Keras.
    card = json.loads((generation_run / "export" / "model_card.json").read_text())
    onnx = next(f for f in card["files"] if f["file"] == "model.onnx")
    assert onnx["verified"] and onnx["agreement"] == 1.0


def test_zoo_generate_writes_what_keras_would(generation_run, cli_runner):
    result = cli_runner.invoke(cli, ["generate", str(generation_run), "--prompt", "이 영화", "-n", "40", "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.output)["text"]
    model = trainer.load_run_model(generation_run)
    fitted = tokenizer.read(generation_run / "tokenizer.json")
    expected = generate.continue_text(generate.keras_sampler(model), fitted, "이 영화", 40)
    assert written == expected and written.startswith("이 영화")
    drawn = [cli_runner.invoke(cli, ["generate", str(generation_run), "--prompt", "이 영화", "-t", "1", "--seed", s])
             for s in ("5", "5", "6")]
    assert drawn[0].output == drawn[1].output != drawn[2].output


@pytest.mark.parametrize("args, fragment", [
    (["-n", "0"], "--length must be a whole number of tokens in 1..10000"),
    (["-t", "-1"], "--temperature must be a number in 0..100"),
    (["--seed", "-1"], "Invalid value for '--seed': -1 is not in the range x>=0"),
])
def test_generate_flags_out_of_range(generation_run, cli_runner, args, fragment):
    result = cli_runner.invoke(cli, ["generate", str(generation_run), *args])
    assert result.exit_code == 2 and fragment in result.output and "Traceback" not in result.output


def test_generated_text_has_no_unknown_token_and_no_half_syllable(generation_run):
    import unicodedata

    for seed in range(8):
        text = generate.generate(str(generation_run), "이 영화", length=60, temperature=2.0, seed=seed)["text"]
        assert "\ufffd" not in text and text == unicodedata.normalize("NFC", text)
        assert not "\u1100" <= text[-1] <= "\u11ff", repr(text[-5:])


def test_predict_and_generate_refuse_each_others_models(generation_run, good_run, tmp_path, cli_runner):
    result = cli_runner.invoke(cli, ["predict", str(generation_run), "좋다"])
    assert result.exit_code == 2 and "a text generation model; continue a text with: zoo generate" in result.output
    import shutil

    from zoo import export

    classifier = tmp_path / "classifier"
    shutil.copytree(good_run, classifier)
    export.export(str(classifier), formats=["tflite"], log=lambda m: None)
    result = cli_runner.invoke(cli, ["generate", str(classifier), "--prompt", "x"])
    assert result.exit_code == 2 and "zoo generate needs one trained on a corpus" in result.output


def test_mediapipe_refuses_a_generation_model(generation_run, cli_runner):
    result = cli_runner.invoke(cli, ["export", str(generation_run), "--mediapipe", "-o", str(generation_run / "mp")])
    assert result.exit_code == 1 and "MediaPipe's TextClassifier classifies; this run is generation" in result.output
    assert not (generation_run / "mp").exists()
