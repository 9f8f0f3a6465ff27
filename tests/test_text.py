"""Text: the book's tokenizer as data, NSMC's files, and a text classifier from training to LiteRT.

The book's preprocessing (7.22-7.25) is written out here as the book wrote
it, in code (its ``clean_str``, the word cut and Keras 2's Tokenizer with
``num_words``), and zoo's ``tutorial`` tokenizer, which is data, must give
the same ids on the real reviews of the shipped sample.
"""
import collections
import gzip
import json
import re

import numpy as np
import pytest

from conftest import REPO
from zoo import calls, plugins, predict, tokenizer, trainer
from zoo.cli import cli
from zoo.errors import DataError
from zoo.tokenizer import Tokenizer

SAMPLE = REPO / "plugins" / "data" / "nsmc-sample"


def book_clean_str(string):
    """7.22, as printed in the book's notebook."""
    string = re.sub(r"[^가-힣A-Za-z0-9(),!?\'\`]", " ", string)
    string = re.sub(r"\'s", " \'s", string)
    string = re.sub(r"\'ve", " \'ve", string)
    string = re.sub(r"n\'t", " n\'t", string)
    string = re.sub(r"\'re", " \'re", string)
    string = re.sub(r"\'d", " \'d", string)
    string = re.sub(r"\'ll", " \'ll", string)
    string = re.sub(r",", " , ", string)
    string = re.sub(r"!", " ! ", string)
    string = re.sub(r"\(", " \\( ", string)
    string = re.sub(r"\)", " \\) ", string)
    string = re.sub(r"\?", " \\? ", string)
    string = re.sub(r"\s{2,}", " ", string)
    string = re.sub(r"\'{2,}", "\'", string)
    string = re.sub(r"\'", "", string)
    return string.lower()


def book_ids(train_texts, texts, num_words=20000):
    """7.24-7.25: words cut to 5 characters, 25 words, Keras 2's Tokenizer(num_words) and post padding."""
    def words(text):
        return [word[:5] for word in book_clean_str(text).split(" ")][:25]

    counts = collections.OrderedDict()  # Keras 2's Tokenizer.fit_on_texts on lists of words
    for text in train_texts:
        for word in words(text):
            counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: item[1], reverse=True)  # stable, as Keras sorts
    index = {word: i + 1 for i, (word, _) in enumerate(ranked)}
    out = np.zeros((len(texts), 25), np.int32)
    for row, text in enumerate(texts):
        ids = [index[w] for w in words(text) if w in index and index[w] < num_words]
        out[row, :len(ids)] = ids
    return out


def sample_reviews(name):
    lines = gzip.decompress((SAMPLE / f"{name}.gz").read_bytes()).decode("utf-8").split("\n")[1:]
    return [line.split("\t")[1] for line in lines if line.count("\t") > 0]


def test_the_tutorial_tokenizer_gives_the_books_ids_on_real_reviews():
    train, test = sample_reviews("ratings_train.txt"), sample_reviews("ratings_test.txt")
    for words in (20000, 3000):  # the book's, and one that leaves words out
        fitted = Tokenizer().fit(train, words)
        assert np.array_equal(fitted.encode(test), book_ids(train, test, words))
        assert np.array_equal(fitted.encode(train[:500]), book_ids(train, train[:500], words))
    assert len(Tokenizer().fit(train, 3000).vocabulary) == 2999  # Keras counts padding among num_words


def test_the_books_example_sentence():
    fitted = Tokenizer().fit(["재미있을 줄 알았는데 완전 실망했다"], 100)
    assert fitted.tokens("재미있을 줄 알았는데 완전 실망했다. 너무 졸리고 돈이 아까웠다.")[:5] == [
        "재미있을", "줄", "알았는데", "완전", "실망했다"]
    assert Tokenizer().tokens("Don't (really)?")[:6] == ["do", "nt", "\\(", "reall", "\\)", "\\?"]  # words cut to 5


def test_a_tokenizer_survives_its_file(tmp_path):
    fitted = Tokenizer(unknown="oov").fit(sample_reviews("ratings_test.txt"), 500)
    tokenizer.write(fitted, tmp_path / "tokenizer.json")
    again = tokenizer.read(tmp_path / "tokenizer.json")
    assert again == fitted and again.digest() == fitted.digest()
    ids = again.encode(["없는단어 영화"])
    assert ids[0, 0] == 1  # [UNK]: an unknown word is kept as one id, not dropped


@pytest.mark.parametrize("change, fragment", [
    (lambda d: d.update(format="other"), "not a zoo tokenizer"),
    (lambda d: d.update(length=0), "length must be an integer in 1..10000"),
    (lambda d: d.update(clean=[["(", " "]]), "is not a regular expression"),
    (lambda d: d.update(vocabulary=["a", "a"]), "a word appears twice"),
    (lambda d: d.update(extra=1), "unknown field(s) extra"),
])
def test_a_damaged_tokenizer_file_is_named(tmp_path, change, fragment):
    data = Tokenizer().fit(["a b c"], 10).to_dict()
    change(data)
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=re.escape(fragment)):
        tokenizer.read(tmp_path / "tokenizer.json")


def write_nsmc(folder, train_body, test_body="1\t좋다\t1\n2\t싫다\t0\n", header="id\tdocument\tlabel\n"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings_train.txt").write_bytes(train_body if isinstance(train_body, bytes)
                                               else (header + train_body).encode("utf-8"))
    (folder / "ratings_test.txt").write_text(header + test_body, encoding="utf-8")
    return folder


def test_nsmc_reads_bom_and_crlf_files(tmp_path):
    body = "\ufeffid\tdocument\tlabel\r\n1\t정말 좋다\t1\r\n2\t별로다\t0\r\n"
    folder = write_nsmc(tmp_path / "n", body.encode("utf-8"))
    data = calls.load_dataset(plugins.get("dataset", "nsmc"), data_dir=str(folder))
    assert data.y_train.tolist() == [1, 0] and data.tokenizer.vocabulary[:2] == ("정말", "좋다")


@pytest.mark.parametrize("body, fragment", [
    ("id\tdocument\tlabel\n1\t좋다\t7\n".encode(), "line 2 is not 'id<TAB>review<TAB>0 or 1'"),
    ("id\tdocument\tlabel\n1\t좋다\n".encode(), "line 2 is not 'id<TAB>review<TAB>0 or 1'"),
    (b"id\tdocument\tlabel\n1\t\xff\xfe\t1\n", "line 2 is not UTF-8 text"),
    ("document\tlabel\n".encode(), "not an NSMC file"),
    ("id\tdocument\tlabel\n".encode(), "holds no reviews"),
])
def test_damaged_nsmc_files_are_named(tmp_path, body, fragment):
    folder = write_nsmc(tmp_path / "n", body)
    with pytest.raises(DataError, match=re.escape(fragment)):
        calls.load_dataset(plugins.get("dataset", "nsmc"), data_dir=str(folder))


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """The book's NSMC model (its tutorial recipe), one epoch on the shipped sample, exported."""
    from zoo import export

    run = tmp_path_factory.mktemp("text") / "run"
    trainer.train("lstm-bn", "nsmc-sample", recipe="tutorial", overrides={"epochs": 1}, output=str(run), verbose=0)
    export.export(str(run), formats=["tflite"], quantize=["float16"], log=lambda m: None)
    return run


def test_the_books_model_on_text(text_run):
    config = json.loads((text_run / "config.json").read_text())
    assert config["input"]["layout"] == "text" and config["params"]["embedding_dim"] == 300
    model = trainer.load_run_model(text_run)
    assert model.get_layer("embedding").input_dim == config["input"]["tokenizer"]["ids"]
    assert (text_run / "tokenizer.json").is_file() and (text_run / "export" / "tokenizer.json").is_file()
    from zoo.litert import LiteRTModel

    for name in ("model.tflite", "model.float16.tflite"):  # an app holds token ids as integers
        assert LiteRTModel(text_run / "export" / name).describe()["input"]["dtype"] == "int32"
    card = json.loads((text_run / "export" / "model_card.json").read_text())
    assert card["input"]["dtype"] == "int32"
    assert card["input"]["spec"]["tokenizer"]["sha256"] == tokenizer.read(text_run / "tokenizer.json").digest()
    # The report speaks text: how much the vocabulary knows, the sentences most confidently wrong.
    metrics = json.loads((text_run / "metrics.json").read_text())
    assert 0.5 < metrics["vocabulary_coverage_test"] < 1
    wrong = metrics["most_confidently_wrong"]
    assert wrong and all(w["true"] != w["predicted"] for w in wrong)
    assert [w["probability"] for w in wrong] == sorted((w["probability"] for w in wrong), reverse=True)
    assert __import__("html").escape(wrong[0]["text"]) in (text_run / "report.html").read_text(encoding="utf-8")


def test_predict_sentences_as_keras_does(text_run, tmp_path, cli_runner):
    sentences = ["재미있을 줄 알았는데 완전 실망했다. 너무 졸리고 돈이 아까웠다.", "배우들 연기가 정말 최고였다!",
                 "!!!"]  # the last has no known word: all padding
    (tmp_path / "s.txt").write_text("\n".join(sentences[1:]) + "\n\n", encoding="utf-8")
    result = cli_runner.invoke(cli, ["predict", str(text_run), sentences[0], str(tmp_path / "s.txt"), "--json"])
    assert result.exit_code == 0, result.output
    answers = json.loads(result.output)["results"]
    assert [a["text"] for a in answers] == [sentences[0], f"{tmp_path / 's.txt'}:1", f"{tmp_path / 's.txt'}:2"]
    fitted = tokenizer.read(text_run / "tokenizer.json")
    expected = trainer.load_run_model(text_run).predict(fitted.encode(sentences).astype("float32"), verbose=0)
    for answer, probabilities in zip(answers, expected):
        for p in answer["predictions"]:
            assert p["probability"] == pytest.approx(float(probabilities[p["index"]]), abs=1e-4)


def test_predict_refuses_a_tokenizer_that_is_not_the_models(text_run, tmp_path):
    import shutil

    export = tmp_path / "export"
    shutil.copytree(text_run / "export", export)
    other = Tokenizer().fit(["전혀 다른 단어들"], 100)
    tokenizer.write(other, export / "tokenizer.json")
    with pytest.raises(DataError, match="not the tokenizer model.tflite was trained with"):
        predict.predict(str(export / "model.tflite"), ["좋다"])


@pytest.mark.parametrize("name, make, fragment", [
    ("empty-sentence", lambda d: [""], "an empty sentence"),
    ("whitespace-sentence", lambda d: ["   "], "an empty sentence"),
    ("sentences-not-utf8", lambda d: [(d / "s.txt").write_bytes(b"\xff\xfe\xfa\n") and str(d / "s.txt")],
     "s.txt: not UTF-8 text (byte 0)"),
    ("sentences-file-empty", lambda d: [(d / "s.txt").write_text("\n \n") and str(d / "s.txt")],
     "s.txt: holds no sentences"),
    ("sentences-file-missing", lambda d: [str(d / "typo.txt")], "typo.txt: no such file"),
])
def test_hostile_sentences_get_one_line(text_run, tmp_path, cli_runner, name, make, fragment):
    args = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = cli_runner.invoke(cli, ["predict", str(text_run), *args])
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and fragment in errors[0], result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_tokenizer_of_another_length_is_refused(text_run, tmp_path):
    import shutil

    export = tmp_path / "export"
    shutil.copytree(text_run / "export", export)
    card = json.loads((export / "model_card.json").read_text())
    card["input"]["spec"]["tokenizer"].pop("sha256")
    (export / "model_card.json").write_text(json.dumps(card))
    tokenizer.write(Tokenizer(length=10).fit(["좋다 싫다"], 10), export / "tokenizer.json")
    with pytest.raises(DataError, match=r"gives 10 token ids; model.tflite reads \[25\]"):
        predict.predict(str(export / "model.tflite"), ["좋다"])


MEDIAPIPE = __import__("importlib").util.find_spec("mediapipe") is not None


def test_the_mediapipe_tokenizer_splits_as_re2_would():
    mediapipe = tokenizer.MEDIAPIPE.fit(["정말 좋아요!! ㅋㅋ Great movie's end"], 100)
    assert mediapipe.tokens("정말  좋아요!! ㅋㅋ Great movie's") == ["정말", "좋아요", "ㅋㅋ", "Great", "movie's"]
    assert mediapipe.encode(["정말 모르는말 great"])[0, :3].tolist() == [2, 1, 1]  # case-sensitive, [UNK] = 1
    assert tokenizer.mediapipe_problem(mediapipe) is None
    assert "train with --tokenizer mediapipe" in tokenizer.mediapipe_problem(Tokenizer())
    vocabulary = tokenizer.mediapipe_vocabulary(mediapipe).splitlines()
    assert vocabulary[:3] == ["<PAD> 0", "<UNKNOWN> 1", "정말 2"]


@pytest.mark.skipif(not MEDIAPIPE, reason="needs zoo[mediapipe]")
def test_a_text_classifier_for_mediapipe_is_verified_by_mediapipe(tmp_path, cli_runner):
    run = tmp_path / "run"
    trained = cli_runner.invoke(cli, ["train", "dense", "nsmc-sample", "--tokenizer", "mediapipe", "--epochs", "2",
                                      "-q", "-o", str(run)])
    assert trained.exit_code == 0, trained.output
    exported = cli_runner.invoke(cli, ["export", str(run), "--tflite", "--mediapipe", "--json"])
    assert exported.exit_code == 0, exported.output
    card = json.loads(exported.stdout)
    file = next(f for f in card["files"] if f["file"] == "model.mediapipe.tflite")
    # MediaPipe's own tokenizer and interpreter, on the 1,000 test reviews as read.
    assert file["verified"] and file["agreement"] == 1.0 and file["max_abs_diff"] <= 1e-4
    assert file["runtime"].startswith("MediaPipe Tasks TextClassifier") and file["input"]["dtype"] == "int32"


def test_the_books_tokenizer_cannot_go_to_mediapipe(text_run, cli_runner):
    result = cli_runner.invoke(cli, ["export", str(text_run), "--mediapipe", "-o", str(text_run / "mp")])
    assert result.exit_code == 1 and not (text_run / "mp").exists()
    assert "cleans, lower-cases or cuts words" in result.output and "--tokenizer mediapipe" in result.output
    assert "saved_model" not in result.output  # refused before anything was converted


def test_the_books_lstm_becomes_a_mediapipe_text_file_unrolled(tmp_path, cli_runner):
    """lstm-bn's WHILE loop is a second subgraph MediaPipe's TextClassifier refuses: it is converted unrolled
    (25 tokens), and MediaPipe itself verifies it; int8 asked of MediaPipe is said not to apply to text."""
    run = tmp_path / "run"
    trained = cli_runner.invoke(cli, ["train", "lstm-bn", "nsmc-sample", "--recipe", "tutorial", "--tokenizer",
                                      "mediapipe", "--epochs", "1", "-p", "units=8", "-o", str(run)])
    assert trained.exit_code == 0, trained.output
    exported = cli_runner.invoke(cli, ["export", str(run), "--tflite", "--quantize", "int8", "--mediapipe"])
    assert exported.exit_code == 0, exported.output
    assert "model.mediapipe.int8.tflite: not written: MediaPipe's int8 file takes uint8 pixels" in exported.output
    card = json.loads((run / "export" / "model_card.json").read_text())
    file = next(f for f in card["files"] if f["file"] == "model.mediapipe.tflite")
    assert file["verified"] and file["runtime"].startswith("MediaPipe Tasks TextClassifier")
    assert any("unrolled" in note for note in file["notes"])
    refused = cli_runner.invoke(cli, ["export", str(run), "--mediapipe", "--quantize", "float16", "-o",
                                      str(tmp_path / "f16")])
    assert refused.exit_code == 2 and "--quantize float16: writes model.float16.tflite; add --tflite" in refused.output


def test_your_own_texts_from_a_csv_and_a_folder(tmp_path):
    rows = [("좋은 영화", "good"), ("정말 좋다", "good"), ("최고", "good"), ("별로", "bad"), ("지루하다", "bad"),
            ("싫다", "bad")]
    (tmp_path / "t.csv").write_bytes(("\ufefftext,label\r\n" + "".join(f'"{t}",{l}\r\n' for t, l in rows)).encode())
    for i, (text, label) in enumerate(rows):
        (tmp_path / "folder" / label).mkdir(parents=True, exist_ok=True)
        (tmp_path / "folder" / label / f"{i}.txt").write_text(text, encoding="utf-8")
    entry = plugins.get("dataset", "texts")
    for where in (tmp_path / "t.csv", tmp_path / "folder"):
        data = calls.load_dataset(entry, data_dir=str(where), options={"tokenizer": "mediapipe"})
        assert data.class_names == ("bad", "good") and len(data.y_train) == 4 and len(data.y_test) == 2
        assert sorted(data.test_texts + [t for t, _ in rows if t not in data.test_texts]) == sorted(t for t, _ in rows)


@pytest.mark.parametrize("content, fragment", [
    ("text,label\n좋다,good\n,bad\n나쁘다,bad\n좋아,good\n", "text 2 is empty"),
    ("text,label\n좋다,good\n싫다,\n", "line 3 has no label"),
    ("words,class\n좋다,good\n", "its header must name a 'text' and a 'label' column"),
    ("text,label\n좋다,good\n싫다,bad\n좋아,good\n", "class 'bad' has 1 text(s)"),
    ("text,label\n좋다,good,extra\n", "line 2 has 3 fields; the header has 2"),
    ("text,label\n좋다,good\n좋아,good\n", "1 class(es); a classifier needs at least two"),
])
def test_damaged_texts_are_named(tmp_path, content, fragment):
    (tmp_path / "t.csv").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(fragment)):
        calls.load_dataset(plugins.get("dataset", "texts"), data_dir=str(tmp_path / "t.csv"))


def test_texts_not_utf8_and_not_txt_are_named(tmp_path):
    (tmp_path / "t.csv").write_bytes(b"text,label\n\xff\xfe,good\n")
    with pytest.raises(DataError, match=r"t.csv: not UTF-8 text \(byte 11\)"):
        calls.load_dataset(plugins.get("dataset", "texts"), data_dir=str(tmp_path / "t.csv"))
    (tmp_path / "f" / "good").mkdir(parents=True)
    (tmp_path / "f" / "good" / "a.md").write_text("x")
    with pytest.raises(DataError, match=r"a.md: not a .txt file"):
        calls.load_dataset(plugins.get("dataset", "texts"), data_dir=str(tmp_path / "f"))


@pytest.mark.parametrize("case, fragment", [
    ("empty class folder", "bad: an empty class folder; give it .txt files or remove it"),
    ("empty text file", "good/2.txt: empty (a text needs at least one word)"),
])
def test_a_text_folder_names_its_empty_class_or_file(tmp_path, case, fragment):
    for label, names in (("good", ("0.txt", "1.txt", "2.txt")), ("bad", ("3.txt", "4.txt"))):
        (tmp_path / "f" / label).mkdir(parents=True)
        if case == "empty class folder" and label == "bad":
            continue
        for name in names:
            (tmp_path / "f" / label / name).write_text("" if name == "2.txt" and case == "empty text file" else "좋다")
    with pytest.raises(DataError, match=re.escape(fragment)):
        calls.load_dataset(plugins.get("dataset", "texts"), data_dir=str(tmp_path / "f"))


@pytest.mark.parametrize("dataset", ["texts", "corpus"])
def test_a_dataset_without_its_data_dir_is_a_usage_error(dataset, cli_runner):
    result = cli_runner.invoke(cli, ["show", dataset])
    assert result.exit_code == 2 and "needs --data-dir" in result.output, result.output


def test_the_readme_text_plugin_trains_as_printed(tmp_path, plugins_from, cli_runner):
    from conftest import install_distribution
    from test_docs import python_block

    site = tmp_path / "site"
    install_distribution(site, "zoo-reviews", {"zoo_reviews": python_block("writing-plugins.md", "## A text dataset")})
    plugins_from(site, "zoo_reviews")
    data = tmp_path / "data"
    data.mkdir()
    for name, split in (("ratings_train.txt", "train.tsv"), ("ratings_test.txt", "test.tsv")):
        lines = gzip.decompress((SAMPLE / f"{name}.gz").read_bytes()).decode("utf-8").split("\n")[1:]
        rows = [line.split("\t") for line in lines if line.count("\t") == 2]
        (data / split).write_text("".join(f"{label}\t{review}\n" for _, review, label in rows), encoding="utf-8")
    run = tmp_path / "run"
    result = cli_runner.invoke(cli, ["train", "lstm-bn", "reviews", "--data-dir", str(data), "--epochs", "2",
                                     "-q", "-o", str(run)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.55  # two balanced classes: chance is 0.5
    assert tokenizer.read(run / "tokenizer.json").name == "words"


def test_word_by_word_scores_each_growing_sentence(text_run, cli_runner):
    sentence = "재미있을 줄 알았는데 완전 실망했다."
    result = cli_runner.invoke(cli, ["predict", str(text_run), sentence, "--word-by-word", "--json"])
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)["results"]
    assert [a["text"] for a in answers] == ["재미있을", "재미있을 줄", "재미있을 줄 알았는데", "재미있을 줄 알았는데 완전",
                                             sentence]
    whole = predict.predict(str(text_run), [sentence])["results"][0]
    assert answers[-1]["predictions"] == whole["predictions"]


@pytest.mark.parametrize("arch", ["dense", "simplernn", "lstm-bn", "gru", "textcnn"])
def test_every_text_reader_begins_with_the_tokenizers_embedding(arch):
    data = calls.load_dataset(plugins.get("dataset", "nsmc-sample"))
    entry = plugins.get("architecture", arch)
    assert "text" in entry.accepts
    params = {k: p.default for k, p in entry.params.items()}
    model = calls.build_model(entry, data.input_shape, data.task, params, data.input_spec)
    embedding = next(layer for layer in model.layers if layer.__class__.__name__ == "Embedding")
    assert embedding.input_dim == data.tokenizer.size
    probabilities = model.predict(data.x_test[:4].astype("float32"), verbose=0)
    assert probabilities.shape == (4, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_syllables_keep_what_reviewers_type_and_drop_the_rest():
    syllables = tokenizer.TOKENIZERS["syllables"]
    assert syllables.tokens("진짜 ㅋㅋ 최고!!  ★★ Good") == list("진짜 ㅋㅋ 최고!! good")
    assert syllables.length == 100 and syllables.level == "char"


def test_a_recipe_brings_the_tokenizer_it_was_measured_with(tmp_path):
    import contextlib

    with contextlib.ExitStack() as held:
        plan = trainer.plan_run(held, "textcnn", "nsmc-sample", recipe="tuned")
        assert plan.data_options == {"tokenizer": "syllables"}
        # A flag wins over the recipe.
        plan = trainer.plan_run(held, "textcnn", "nsmc-sample", recipe="tuned",
                                data_options={"tokenizer": "tutorial"})
        assert plan.data_options == {"tokenizer": "tutorial"}
        assert trainer.plan_run(held, "lstm-bn", "nsmc-sample", recipe="tutorial").data_options == {}
        # An option the dataset does not have is left out: fashion-sample has no --image-size.
        assert trainer.plan_run(held, "efficientnet-lite0", "fashion-sample").data_options == {}
        assert trainer.plan_run(held, "efficientnet-lite0", "images", data_dir="x").data_options == {
            "image_size": (224, 224), "color": "rgb"}


def test_textcnn_on_syllables_from_training_to_int8_on_litert(tmp_path, cli_runner):
    """NSMC's tuned recipe, narrowed (16 filters) for one epoch on the sample: int8 verified, predict as Keras."""
    run = tmp_path / "run"
    result = cli_runner.invoke(cli, ["train", "textcnn", "nsmc-sample", "--recipe", "tuned", "-p", "filters=16",
                                     "--epochs", "1", "-o", str(run)])
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["data_options"] == {"tokenizer": "syllables"} and config["input_shape"] == [100]
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] > 0.6
    result = cli_runner.invoke(cli, ["export", str(run), "--tflite", "--quantize", "int8"])
    assert result.exit_code == 0, result.output
    card = json.loads((run / "export" / "model_card.json").read_text())
    assert all(f["verified"] for f in card["files"]) and {f["file"] for f in card["files"]} >= {
        "model.tflite", "model.int8.tflite"}
    sentence = "배우들 연기가 정말 최고였다 ㅋㅋ"
    answer = predict.predict(str(run), [sentence])["results"][0]["predictions"]
    expected = trainer.load_run_model(run).predict(
        tokenizer.read(run / "tokenizer.json").encode([sentence]).astype("float32"), verbose=0)[0]
    assert all(p["probability"] == pytest.approx(float(expected[p["index"]]), abs=1e-4) for p in answer)


def test_textcnn_reads_only_text(cli_runner, tmp_path):
    result = cli_runner.invoke(cli, ["train", "textcnn", "fashion-sample", "-o", str(tmp_path / "r")])
    assert result.exit_code == 2 and "textcnn reads text input; fashion-sample gives image" in result.output
    assert not (tmp_path / "r").exists()


def test_a_review_decomposed_as_macos_writes_it_gets_the_same_answer(text_run):
    import unicodedata

    composed = "재미있을 줄 알았는데 완전 실망했다. 너무 졸리고 돈이 아까웠다."
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    answers = [predict.predict(str(text_run), [text])["results"][0] for text in (composed, decomposed)]
    assert answers[0]["predictions"] == answers[1]["predictions"] and answers[1]["coverage"] > 0.5


@pytest.mark.parametrize("case, name, fragment", [
    ("image", "shirt.png", "an image; a text model reads sentences and .txt files of them"),
    ("directory", "reviews", "a directory; a text model reads sentences"),
    ("fifo", "x.txt", "a FIFO; a text model reads sentences"),
    ("broken link", "x.txt", "a symbolic link to nothing; a text model"),
    ("link loop", "x.txt", "a symbolic link loop; a text model"),
    ("other file", "notes.csv", "not a .txt file; a text model"),
])
def test_a_path_is_read_or_refused_never_classified_as_a_sentence(text_run, tmp_path, cli_runner, monkeypatch,
                                                                  case, name, fragment):
    import os

    from PIL import Image

    monkeypatch.chdir(tmp_path)
    if case == "image":
        Image.new("RGB", (8, 8)).save(name)
    elif case == "directory":
        os.mkdir(name)
    elif case == "fifo":
        os.mkfifo(name)
    elif case == "broken link":
        os.symlink("nowhere.txt", name)
    elif case == "link loop":
        os.symlink(name, name)
    else:
        (tmp_path / name).write_text("a,b\n")
    result = cli_runner.invoke(cli, ["predict", str(text_run), name])
    assert result.exit_code == 1, result.output
    assert result.output == f"Error: {name}: {fragment}" + result.output.split(fragment, 1)[1]
    assert result.output.count("\n") == 1
    if case == "image":  # --text says "this is a sentence", whatever it names
        result = cli_runner.invoke(cli, ["predict", str(text_run), "--text", name, "--json"])
        assert result.exit_code == 0 and json.loads(result.output)["results"][0]["text"] == name


def test_a_text_with_no_known_token_says_nothing_was_recognised(text_run, cli_runner):
    result = cli_runner.invoke(cli, ["predict", str(text_run), "😀😀 你好", "좋다"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "😀😀 你好: nothing recognised (no token of it is in the model's vocabulary)"
    assert lines[1].startswith("좋다: ") and "nothing recognised" not in lines[1]
    answers = predict.predict(str(text_run), ["😀😀 你好", "좋다 싫다 zzzqqq"])["results"]
    assert answers[0]["coverage"] == 0 and 0 < answers[1]["coverage"] < 1


def test_names_holding_a_newline_cannot_forge_a_result_line(text_run, tmp_path, cli_runner):
    reviews = tmp_path / "hostile\nnew: positive 0.99.txt"
    reviews.write_text("좋다\n", encoding="utf-8")
    result = cli_runner.invoke(cli, ["predict", str(text_run), str(reviews), "--text", "정말\n최고"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2 and lines[0].startswith(repr(f"{reviews}:1") + ": ")
    assert lines[1].startswith("'정말\\n최고': ")


def test_word_by_word_on_a_huge_sentence_is_bounded(text_run, cli_runner):
    sentence = "정말 재미있다 " * 20_000  # 160,000 characters
    result = cli_runner.invoke(cli, ["predict", str(text_run), sentence, "--word-by-word"])
    assert result.exit_code == 0, result.output[-300:]
    fitted = tokenizer.read(text_run / "tokenizer.json")
    lines = result.output.splitlines()
    assert len(lines) <= fitted.length + 1 and len(result.output) < 50_000
    whole = predict.predict(str(text_run), [sentence])["results"][0]["predictions"]
    last = predict.predict(str(text_run), [sentence], word_by_word=True)["results"][-1]["predictions"]
    assert last == whole


def test_a_bare_text_model_file_asks_for_its_tokenizer(text_run, tmp_path):
    import shutil

    shutil.copy(text_run / "export" / "model.tflite", tmp_path / "model.tflite")
    with pytest.raises(DataError, match=r"model.tflite: reads int32 token ids, so it is a text model, and has no "
                                        r"model_card.json and tokenizer.json beside it"):
        predict.predict(str(tmp_path / "model.tflite"), ["좋다"])


def test_zoo_predict_reads_a_mediapipe_text_files_own_vocabulary(tmp_path, cli_runner):
    """The vocabulary inside model.mediapipe.tflite is the phone's: zoo predict tokenizes with it, so a file
    whose vocabulary is not tokenizer.json's (here: another run's file put in its place) answers as the phone."""
    import shutil

    reviews = tmp_path / "reviews.csv"  # b: a user's own reviews, so its vocabulary is another
    rows = [("연기가 정말 최고였다", "positive"), ("재미있다 최고", "positive"), ("배우들 연기 좋다", "positive"),
            ("정말 재미있다", "positive"), ("최고였다 배우들", "positive"), ("지루하다 별로", "negative"),
            ("돈이 아까웠다", "negative"), ("너무 졸리다", "negative"), ("별로 지루하다", "negative"),
            ("실망했다 정말", "negative")]
    reviews.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows), encoding="utf-8")
    runs = []
    for name, data in (("a", ["nsmc-sample"]), ("b", ["texts", "--data-dir", str(reviews)])):
        run = tmp_path / name
        options = ["--tokenizer", "mediapipe", "--epochs", "2", "-o", str(run)]
        trained = cli_runner.invoke(cli, ["train", "dense", *data, *options])
        assert trained.exit_code == 0, trained.output
        assert cli_runner.invoke(cli, ["export", str(run), "--mediapipe", "--tflite"]).exit_code == 0
        runs.append(run)
    mine = predict.embedded_vocabulary(runs[0] / "export" / "model.mediapipe.tflite")
    assert mine == tokenizer.read(runs[0] / "tokenizer.json").vocabulary
    assert predict.embedded_vocabulary(runs[1] / "export" / "model.mediapipe.tflite") != mine
    assert predict.embedded_vocabulary(runs[0] / "export" / "model.tflite") is None
    # b's file, with b's own words, beside a's tokenizer.json: read with b's words, as a phone would.
    foreign = tmp_path / "foreign"
    shutil.copytree(runs[0] / "export", foreign)
    shutil.copy(runs[1] / "export" / "model.mediapipe.tflite", foreign / "model.mediapipe.tflite")
    sentence = "배우들 연기가 정말 최고였다 재미있다"
    theirs = predict.predict(str(runs[1] / "export" / "model.mediapipe.tflite"), [sentence])["results"][0]
    moved = predict.predict(str(foreign / "model.mediapipe.tflite"), [sentence])["results"][0]
    assert moved["predictions"] == theirs["predictions"]
