"""``RUN/report.html``: one self-contained page per run (no network, no JavaScript, images inline).

What was trained on what (input spec, task, recipe, every hyperparameter,
seed, versions), the headline scores and the per-class table, the run's
figures, and after an export the model card's files with the command that
reproduces each. Written at the end of ``zoo train``, refreshed by ``zoo
export``; ``zoo report RUN`` writes it again. Standard library only: the
figures are the PNGs the run already holds.
"""
from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

from zoo.errors import ZooError
from zoo.run import runs
from zoo.run.run import RunConfig

REPORT = "report.html"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222 }
h1 { font-size: 1.5em } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd }
table { border-collapse: collapse; margin: .5em 0 } td, th { border: 1px solid #ccc; padding: 3px 8px;
text-align: left; vertical-align: top } th { background: #f4f4f4 } code { font-size: .92em }
.headline { font-size: 1.3em; font-weight: bold } figure { margin: 1em 0 } img { max-width: 100% }
.written td { white-space: pre-wrap }
"""


def _escape(value) -> str:
    if isinstance(value, (dict, list)):
        value = json.dumps(value, default=str)
    return html.escape("-" if value is None else str(value))


def _table(rows, headers=None) -> str:
    head = "<tr>" + "".join(f"<th>{_escape(h)}</th>" for h in headers) + "</tr>" if headers else ""
    body = "".join("<tr>" + "".join(f"<td>{_escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{_escape(alt)}" src="data:image/png;base64,{data}"><figcaption>' \
           f"{_escape(alt)}</figcaption></figure>"


def _trained(config: dict) -> str:
    spec = config.get("input") or {}
    recipe = dict(config.get("recipe_settings") or {})
    recipe.pop("params", None)
    rows = [
        ("architecture", f"{config.get('architecture')} ({config.get('architecture_plugin', '?')})"),
        ("dataset", f"{config.get('dataset')} ({config.get('dataset_plugin', '?')})"),
        ("data", config.get("data_dir") or "built in"),
        ("data options", config.get("data_options") or "none"),
        ("input", spec or config.get("input_shape")),
        ("normalisation", config.get("normalisation")),
        ("task", config.get("task")),
        ("recipe", config.get("recipe")),
        ("recipe fitted to the data", config.get("recipe_adapted") or "unchanged"),
        ("started from", config.get("started_from") or "its architecture's initial weights"),
        ("frozen features", config.get("frozen_features") or "none: every layer computed every epoch"),
        ("quantization-aware", config.get("quantization_aware") or "no: trained in float32 (int8 files are "
                                                                      "post-training quantized)"),
        ("seed", config.get("seed")),
        ("created", config.get("created")),
        ("status", config.get("status")),
        ("distribution", config.get("distribution")),
    ]
    settings = [(k, v) for k, v in recipe.items()]
    params = [(k, v) for k, v in (config.get("params") or {}).items()]
    versions = [(k, v) for k, v in (config.get("versions") or {}).items()]
    return ("<h2>What was trained</h2>" + _table(rows) + "<h2>Recipe</h2>" + _table(settings, ["setting", "value"])
            + "<h2>Hyperparameters</h2>" + _table(params, ["parameter", "value"])
            + "<h2>Versions</h2>" + _table(versions, ["package", "version"]))


def _scores(task, metrics: dict) -> str:
    out = [f'<p class="headline">{_escape(task.headline(metrics))}</p>']
    plain = [(k, v) for k, v in metrics.items() if not isinstance(v, (dict, list))]
    out.append(_table(plain, ["figure", "value"]))
    for section in task.report_sections(metrics):  # the task's own: per class, texts, what it wrote
        out.append(f"<h2>{_escape(section['title'])}</h2>")
        if section.get("note"):
            out.append(f"<p>{_escape(section['note'])}</p>")
        table = _table(section["rows"], section.get("headers"))
        out.append(f'<div class="{section["css"]}">{table}</div>' if section.get("css") else table)
    return "<h2>Scores</h2>" + "".join(out)


def _export(run_dir: Path) -> str:
    from zoo.data import card as model_card

    card_path = run_dir / model_card.EXPORT_DIR / model_card.CARD
    if not card_path.is_file():
        return "<h2>Export</h2><p>Not exported yet: <code>zoo export RUN --tflite</code></p>"
    card = model_card.read(card_path)
    for key, kind in (("files", list), ("input", dict), ("verification", dict)):
        if not isinstance(card.get(key, kind()), kind):
            raise ZooError(f"{card_path}: '{key}' must be a {kind.__name__} (the file is damaged)")
    rows = []
    for item in card.get("files", []):
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("runtimes"), list):  # zoo export --web: one row per runtime the page ran
            rows += _browser_rows(run_dir, item, card)
            continue
        rows.append((item.get("file"), item.get("format"), item.get("size_bytes"),
                     item.get("test_accuracy", item.get("test_correctness")), item.get("agreement"),
                     item.get("max_abs_diff"),
                     item.get("latency_ms", "-"), "yes" if item.get("verified") else "NO",
                     _command(run_dir, item)))
    verification = card.get("verification", {}) if isinstance(card.get("verification"), dict) else {}
    regression = "keras_test_correctness" in verification
    figure = "correctness" if regression else "test accuracy"
    keras_figure = (f"Keras correctness {_escape(verification.get('keras_test_correctness'))}, RMSE "
                    f"{_escape(verification.get('keras_test_rmse'))}" if regression else
                    f"Keras test accuracy {_escape(verification.get('keras_test_accuracy'))}")
    return ("<h2>Export</h2>"
            f"<p>Verified on {_escape(verification.get('test_set'))}; {keras_figure}. "
            f"Input: {_escape(card.get('input', {}).get('layout'))}, "
            f"{_escape(card.get('input', {}).get('normalisation'))}.</p>"
            + _table(rows, ["file", "format", "bytes", figure, "agreement with Keras", "max difference",
                            "latency (ms, one example)", "verified", "reproduce"]))


def _browser_rows(run_dir: Path, item: dict, card: dict) -> list:
    """The page's figures in the browser, a row per runtime: on its first test examples, time per example
    as the page measured it (JavaScript included)."""
    rows = []
    examples = item.get("examples")
    runtime_dir = (card.get("options") or {}).get("web_runtime") if isinstance(card.get("options"), dict) else None
    command = f"zoo export {run_dir} --web" + (f" --web-runtime {runtime_dir}" if runtime_dir else "") + " --force"
    for runtime in item["runtimes"]:
        if not isinstance(runtime, dict):
            continue
        seconds = runtime.get("seconds")
        per_example = (round(1000 * seconds / examples, 3) if isinstance(seconds, (int, float))
                       and isinstance(examples, int) and examples else "-")
        rows.append((f"{item.get('page', 'web/')}: {runtime.get('runtime')} on {runtime.get('model_file')}, "
                     f"{item.get('browser')}, first {examples} test examples", "web", item.get("size_bytes"),
                     runtime.get("test_accuracy", runtime.get("test_correctness")), runtime.get("agreement"),
                     runtime.get("max_abs_diff"), per_example, "yes" if runtime.get("verified") else "NO", command))
    return rows


def _command(run_dir: Path, item: dict) -> str:
    """The ``zoo export`` command that writes this file again."""
    variant = item.get("variant")
    if item.get("format") == "tflite":
        quantize = "" if variant in (None, "float32") else f" --quantize {variant}"
        return f"zoo export {run_dir} --tflite{quantize} --force"
    if item.get("format") == "mediapipe":
        return f"zoo export {run_dir} --mediapipe --force"
    if item.get("format") == "savedmodel":
        return f"zoo export {run_dir} --force"
    return f"zoo export {run_dir} --format {item.get('format')} --force"


def refresh(run_dir) -> Path | None:
    """``write``, for the end of ``zoo train`` and ``zoo export``: a failure is a warning, not an error.

    The report is made from files that are already written; a run or an
    export is not lost because its page could not be (``zoo report`` tries again).
    """
    import sys

    try:
        return write(run_dir)
    except (OSError, ZooError) as exc:
        print(f"zoo: warning: cannot write {Path(run_dir) / REPORT}: {getattr(exc, 'strerror', None) or exc}; "
              f"zoo report {run_dir} writes it again", file=sys.stderr)
        return None


def write(run_dir) -> Path:
    """Write ``run_dir/report.html`` from the run's files (atomically); return its path.

    Raises:
        ZooError: the run's config.json or metrics.json cannot be read.
    """
    run_dir = Path(run_dir)
    typed = RunConfig.read(run_dir / runs.CONFIG)
    config = typed.raw
    metrics = runs.read_json(run_dir / runs.METRICS) if (run_dir / runs.METRICS).is_file() else None
    damaged = runs.damage(config, metrics)
    if damaged:  # a figure that is a string, a field of the wrong type: named, never drawn
        raise ZooError(f"{run_dir}: {damaged} (the file is damaged)")
    title = f"{config.get('architecture')} on {config.get('dataset')}"
    body = [f"<h1>{_escape(title)}: {_escape(run_dir.name)}</h1>"]
    if metrics is None:
        body.append(f"<p>Not finished ({_escape(config.get('status'))}): no scores yet.</p>")
    else:
        body.append(_scores(typed.task, metrics))
    figures = [(run_dir / name, caption) for name, caption in typed.task.figures if (run_dir / name).is_file()]
    if figures:
        body.append("<h2>Figures</h2>" + "".join(_image(path, caption) for path, caption in figures))
    body.append(_export(run_dir))
    body.append(_trained(config))
    page = ("<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_escape(title)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
    path = run_dir / REPORT
    tmp = run_dir / f".{REPORT}.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path
