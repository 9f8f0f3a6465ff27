"""The house: tasks and layouts own what differs by them, so a plugin can add one.

No code outside ``zoo/tasks/`` and ``zoo/layouts/`` compares a task kind or a
layout name; a task registered by a third-party plugin trains, exports and
predicts through the same trainer, exporters and ``zoo predict`` as the
built-ins, without a line of zoo knowing it.
"""
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import REPO, install_distribution
from zoo.cli import cli

# A comparison with a task kind or a layout name: the branches the house replaces.
BRANCH = re.compile(
    r"""[=!]=\s*["'](classification|regression|generation|detection)["']"""
    r"""|["'](classification|regression|generation|detection)["']\s*[=!]="""
    r"""|\blayout\s*[=!]=\s*["']|["'][a-z]+["']\s*[=!]=\s*[\w.]*layout\b|\.layout\s+(not\s+)?in\s*[(\[{]"""
    r"""|get\(["']layout["']\)\s*([=!]=|in\s|not\s+in\s)|\binput_kind\s*[=!]=""")
OWNERS = ("zoo/tasks/", "zoo/layouts/")


def test_no_code_outside_the_task_and_layout_modules_compares_a_kind_or_a_layout():
    found = []
    for folder in ("zoo", "plugins", "exports"):
        for path in sorted((REPO / folder).rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            if relative.startswith(OWNERS):
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if BRANCH.search(line.split("#")[0]):
                    found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_branch_pattern_finds_what_it_is_for():
    for line in ('if task.kind == "regression":', 'if spec.layout == "image":', "x = 'text' != layout",
                 'if spec.get("layout") in ("sequence", "vector"):', 'if entry.input_kind != "image":'):
        assert BRANCH.search(line), line
    assert not BRANCH.search('if entry.kind == "dataset":')
    assert not BRANCH.search("if earlier_layout != layout:")  # two runs' layouts, whatever they are


TOY_TASK = '''
"""A third-party task: yes or no as one probability, and a dataset that asks it (footwear or not)."""
from dataclasses import dataclass

import numpy as np

import zoo
from zoo.tasks import Check, Task

FOOTWEAR = (5, 7, 9)  # Fashion-MNIST's sandal, sneaker and ankle boot


@dataclass
class BinaryCheck(Check):
    @property
    def passed(self):
        if self.quantized:
            return self.keras_accuracy - self.test_accuracy <= 0.01
        return self.max_abs_diff <= self.atol

    def describe(self):
        return f"max |difference| {self.max_abs_diff:.2e}, accuracy {self.test_accuracy:.4f}"

    def to_dict(self):
        return {"test_accuracy": round(self.test_accuracy, 6), "agreement": round(self.agreement, 6),
                "max_abs_diff": float(f"{self.max_abs_diff:.3g}"), "verified": self.passed,
                "criterion": "max abs difference within atol (float), accuracy within 1 point (quantized)"}


@dataclass(frozen=True)
class Binary(Task):
    positive: str = "yes"
    kind = "binary"
    summary = "yes or no, as one probability (sigmoid, binary cross-entropy)"
    activation = "sigmoid"
    head_name = "probability"
    monitors = ("val_loss", "val_accuracy")
    metrics_fields = ("test_accuracy",)
    curve_metrics = ("loss", "accuracy")

    @property
    def output_names(self):
        return (self.positive,)

    @classmethod
    def restore(cls, described, class_names):
        return cls(str(described.get("positive", "yes")))

    def describe(self):
        return {"kind": self.kind, "positive": self.positive}

    def targets(self, y):
        return np.asarray(y, np.float32).reshape(-1, 1)

    def problem(self, y, split):
        if not set(np.unique(y).tolist()) <= {0, 1}:
            return f"y_{split} must hold 0 and 1"
        return None

    def compile_args(self, label_smoothing=0.0):
        import keras

        return {"loss": keras.losses.BinaryCrossentropy(),
                "metrics": [keras.metrics.BinaryAccuracy(name="accuracy")]}

    def scores(self, outputs, y):
        p, t = np.asarray(outputs, np.float64).reshape(-1), np.asarray(y).reshape(-1)
        loss = float(-np.mean(t * np.log(np.clip(p, 1e-7, 1)) + (1 - t) * np.log(np.clip(1 - p, 1e-7, 1))))
        return {"test_accuracy": round(float(np.mean((p >= 0.5) == (t == 1))), 6), "test_loss": round(loss, 6),
                "test_examples": int(len(t))}

    def headline(self, metrics):
        return f"test accuracy {metrics['test_accuracy']:.4f} ({self.positive} or not)"

    def compare(self, name, outputs, reference, labels, quantized):
        truth = np.asarray(labels).reshape(-1) == 1
        mine, keras_ = outputs.reshape(-1) >= 0.5, reference.reshape(-1) >= 0.5
        return BinaryCheck(file=name, quantized=quantized, test_accuracy=float(np.mean(mine == truth)),
                           keras_accuracy=float(np.mean(keras_ == truth)), agreement=float(np.mean(mine == keras_)),
                           max_abs_diff=float(np.max(np.abs(outputs - reference))), images=int(len(truth)))

    def answer(self, row, top_k):
        return {"probability": round(float(row[0]), 6),
                "answer": self.positive if row[0] >= 0.5 else f"not {self.positive}"}


def load(data_dir=None, seed=0):
    from zoo import plugins
    from zoo.dataset import Dataset

    sample = plugins.get("dataset", "fashion-sample").load(data_dir=data_dir, seed=seed)
    footwear = lambda y: np.isin(y, FOOTWEAR).astype(np.int64)
    return Dataset("footwear", (), sample.x_train, footwear(sample.y_train), sample.x_test,
                   footwear(sample.y_test), spec=sample.spec, task=Binary("footwear"))


@zoo.hookimpl
def register_tasks(register):
    register(Binary)


@zoo.hookimpl
def register_datasets(register):
    register(zoo.DatasetEntry(name="footwear", summary="fashion-sample: footwear or not", load=load,
                              spec=zoo.spec.image((28, 28), "uint8"), task=Binary("footwear")))
'''


@pytest.fixture
def toy_task(tmp_path, plugins_from):
    site = tmp_path / "site"
    install_distribution(site, "zoo-binary", {"zoo_binary": TOY_TASK})
    plugins_from(site, "zoo_binary")
    return site


def test_a_task_from_a_plugin_trains_exports_and_predicts(toy_task, tmp_path):
    runner = CliRunner()
    listed = json.loads(runner.invoke(cli, ["list", "tasks", "--json"]).output)
    assert {(t["name"], t["plugin"]) for t in listed} >= {("binary", "zoo-binary"), ("classification", "zoo")}

    run = tmp_path / "run"
    trained = runner.invoke(cli, ["train", "dense", "footwear", "--epochs", "2", "-q", "-o", str(run)])
    assert trained.exit_code == 0, trained.output
    assert "(footwear or not)" in trained.output  # the task's own headline
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.85  # 3 of 10 classes are footwear: a constant answer scores 0.7
    assert json.loads((run / "config.json").read_text())["task"] == {"kind": "binary", "positive": "footwear"}
    assert (run / "curves.png").is_file() and "footwear or not" in (run / "report.html").read_text()

    exported = runner.invoke(cli, ["export", str(run), "--tflite"])
    assert exported.exit_code == 0, exported.output
    card = json.loads((run / "export" / "model_card.json").read_text())
    assert card["task"]["kind"] == "binary" and card["output"]["names"] == ["footwear"]
    assert (run / "export" / "labels.txt").read_text() == "footwear\n"
    assert all(f["verified"] for f in card["files"])

    # Test photos as PNG files, through zoo predict (LiteRT, the card, the task's answer).
    from PIL import Image

    from zoo import plugins

    sample = plugins.get("dataset", "fashion-sample").load()
    picked = [*np.flatnonzero(np.isin(sample.y_test, (5, 7, 9)))[:10], *np.flatnonzero(sample.y_test == 0)[:10]]
    files = []
    for i in picked:
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(sample.x_test[i]).save(files[-1])
    predicted = runner.invoke(cli, ["predict", str(run), *map(str, files), "--json"])
    assert predicted.exit_code == 0, predicted.output
    results = json.loads(predicted.output)["results"]
    answers = [r["answer"] for r in results]
    assert answers[:10].count("footwear") >= 8 and answers[10:].count("not footwear") >= 8, answers
    assert all(0 <= r["probability"] <= 1 for r in results)
    shown = runner.invoke(cli, ["predict", str(run), str(files[0])])
    assert shown.exit_code == 0 and shown.output.startswith(f"{files[0]}: "), shown.output


# The floors of zoo/, lowest first: a module imports only from its own floor and those below, and no
# import (at module level or inside a function) closes a circle. zoo/__init__.py is the package's face
# (zoo.hookimpl, zoo.Architecture ...): above every floor.
FLOORS = {"errors": 0, "versions": 0, "quiet": 0, "jsonfile": 0, "data": 1, "api": 2, "run": 3,
          "reports": 4, "train": 5, "exporting": 5, "device": 5, "cli": 6, "__init__": 7}
MAX_LINES = 450


def _modules() -> dict:
    root = REPO / "zoo"
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(modules: dict) -> list:
    """(importer, imported module, line) for every import of zoo inside zoo/, old names resolved."""
    import ast

    import zoo

    def resolve(name):
        parts = name.split(".")
        if len(parts) > 1 and parts[1] in zoo.MOVED:
            parts = ["zoo", *zoo.MOVED[parts[1]].split("."), *parts[2:]]
        name = ".".join(parts)
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    found = []
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [(module, resolve(a.name), node.lineno) for a in node.names if a.name.startswith("zoo.")]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("zoo"):
                for alias in node.names:
                    target = resolve(f"{node.module}.{alias.name}")
                    found.append((module, target if target != "zoo" else resolve(node.module), node.lineno))
    return [(a, b, line) for a, b, line in found if b not in ("zoo", a)]


def _floor(module: str) -> int:
    parts = module.split(".")
    return FLOORS[parts[1] if len(parts) > 1 else "__init__"]


def test_zoo_is_grouped_by_job_in_floors_without_circles():
    modules = _modules()
    assert {m.split(".")[1] for m in modules if "." in m} <= set(FLOORS), "a folder of zoo/ with no floor"
    imports = _imports(modules)
    upward = [f"{a}:{line} imports {b}" for a, b, line in imports if _floor(b) > _floor(a)]
    assert not upward, "\n".join(upward)
    graph = {}
    for a, b, _ in imports:
        graph.setdefault(a, set()).add(b)
    circles, done = [], set()

    def walk(node, path):
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                circles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in done:
                walk(nxt, path + [nxt])
        done.add(node)

    for module in sorted(graph):
        if module not in done:
            walk(module, [module])
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


def test_no_module_of_zoo_is_longer_than_450_lines():
    long = {m: n for m, p in _modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_the_names_of_before_the_grouping_are_the_same_modules():
    """zoo.spec, zoo.tasks, zoo.export ... (the plugin API, the docs) import as the moved modules themselves."""
    import importlib

    import zoo

    for old, new in zoo.MOVED.items():
        assert importlib.import_module(f"zoo.{old}") is importlib.import_module(f"zoo.{new}"), old
    from zoo.tasks.base import Check
    from zoo.data.tasks.base import Check as Same

    assert Check is Same and zoo.spec.image((28, 28)).layout == "image"
