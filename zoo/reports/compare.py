"""``zoo compare``: finished runs side by side, and their validation curves overlaid.

Only the run directories' own files are read (config.json, metrics.json,
history.csv, export/model_card.json): no TensorFlow, no data.
"""
from __future__ import annotations

import base64
import fnmatch
import html
import io
import os
from pathlib import Path

from zoo.data import plots, tasks
from zoo.errors import UsageError, ZooError
from zoo.run import runs
from zoo.run.run import RunConfig

# Settings every run has; those that differ between the runs compared are shown.
RECIPE_FIELDS = ("optimizer", "learning_rate", "batch_size", "epochs", "validation_split", "patience",
                 "monitor", "augment", "label_smoothing", "schedule", "weight_decay", "momentum")


def select(patterns, dataset: str | None = None) -> list[Path]:
    """The finished runs ``patterns`` name: run directories, run names, or wildcards over the names.

    Raises:
        UsageError: a pattern matches no finished run, or fewer than two runs remain.
    """
    finished = {r["name"]: r for r in runs.list_runs() if r["metrics"] is not None and not r["damage"]}
    chosen: dict[str, Path] = {}
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir() and (path / runs.CONFIG).is_file():
            matched = [path]
        else:
            matched = [Path(r["path"]) for name, r in finished.items() if fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            raise UsageError(f"run '{pattern}': no finished run matches it (under {runs.runs_root()}/ or here)")
        for run_dir in matched:
            chosen.setdefault(str(run_dir.resolve()), run_dir)
    selected = list(chosen.values())
    if dataset is not None:
        selected = [d for d in selected if RunConfig.read(Path(d) / runs.CONFIG).dataset == dataset]
    if len(selected) < 2:
        raise UsageError(f"zoo compare needs at least two finished runs; {len(selected)} selected"
                         + (f" with --dataset {dataset}" if dataset else ""))
    return selected


def _metrics(run_dir: Path) -> dict:
    path = run_dir / runs.METRICS
    if not path.is_file():
        raise UsageError(f"{run_dir}: not finished (no {runs.METRICS})")
    return runs.read_json(path)


def _export_sizes(run_dir: Path) -> dict:
    from zoo.data import card as model_card

    path = run_dir / model_card.EXPORT_DIR / model_card.CARD
    if not path.is_file():
        return {}
    files = model_card.read(path).get("files", [])
    return {f["file"]: f.get("size_bytes") for f in files if isinstance(f, dict) and "file" in f}


def compare(run_dirs) -> dict:
    """The runs as rows, and the settings that differ between them.

    Returns:
        ``{"differing": [setting, ...], "runs": [{name, path, architecture,
        dataset, recipe, headline, scores, epochs_run, training_seconds,
        params, settings, export_sizes}, ...]}``.
    """
    rows = []
    for run_dir in run_dirs:
        typed, metrics = RunConfig.read(Path(run_dir) / runs.CONFIG), _metrics(run_dir)
        config, task = typed.raw, typed.task
        settings = {f"-p {k}": v for k, v in typed.params.items()}
        settings.update({k: (config.get("recipe_settings") or {}).get(k) for k in RECIPE_FIELDS})
        settings["seed"] = config.get("seed")
        scores = ({"test_accuracy": metrics.get("test_accuracy")} if task.classifies else
                  {k: metrics.get(k) for k in ("test_rmse", "test_mae", "test_correctness")})
        rows.append({
            "name": run_dir.name, "path": str(run_dir), "architecture": typed.architecture,
            "dataset": typed.dataset, "recipe": config.get("recipe"), "task": task.kind,
            "headline": task.figure(metrics), "scores": scores,
            "epochs_run": metrics.get("epochs_run"), "training_seconds": metrics.get("training_seconds"),
            "params": metrics.get("params"), "settings": settings, "export_sizes": _export_sizes(run_dir),
        })
    keys = list(dict.fromkeys(k for r in rows for k in r["settings"]))
    differing = [k for k in keys if len({repr(r["settings"].get(k)) for r in rows}) > 1]
    return {"differing": differing, "runs": rows}


def text_rows(result: dict) -> tuple[list, list]:
    """(headers, rows) for the terminal table: one column per differing setting."""
    differing = result["differing"]
    headers = ["RUN", "ARCH", "DATASET", "RECIPE", "RESULT", "EPOCHS", "SECONDS", "PARAMS",
               *[d.upper() for d in differing], "EXPORT"]
    rows = []
    for r in result["runs"]:
        export = ", ".join(f"{name} {size // 1024} KiB" for name, size in r["export_sizes"].items()
                           if isinstance(size, int)) or "-"
        rows.append([r["name"], r["architecture"], r["dataset"], r["recipe"], r["headline"], r["epochs_run"],
                     f"{r['training_seconds']:.1f}" if isinstance(r["training_seconds"], (int, float)) else "-",
                     r["params"], *[_cell(r["settings"].get(d)) for d in differing], export])
    return headers, rows


def _cell(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "-" if value is None else str(value)


def write_html(result: dict, run_dirs, path: Path) -> Path:
    """A self-contained page: the table and the validation curves of every run overlaid (inline PNG)."""
    headers, rows = text_rows(result)
    table = "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows) + "</table>"
    figure = _curves_png(result, run_dirs)
    image = (f'<img alt="validation curves" src="data:image/png;base64,{base64.b64encode(figure).decode()}">'
             if figure else "<p>No run recorded validation figures.</p>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>zoo compare</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
            f"<h1>zoo compare: {len(rows)} runs</h1>{table}<h2>Validation curves</h2>{image}</body></html>\n")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # the page the user named, not the temporary file beside it
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        raise ZooError(f"--html {path}: cannot write ({exc.strerror or exc})") from None
    return path


def _curves_png(result: dict, run_dirs) -> bytes | None:
    """Each run's validation loss and headline metric per epoch, one line per run, as PNG bytes."""
    histories = [(r["name"], plots.read_history(Path(d) / runs.HISTORY) if (Path(d) / runs.HISTORY).is_file()
                  else {}) for r, d in zip(result["runs"], run_dirs)]
    # The task's own figure beside the loss, where every run has the same one (else a regression's MAE).
    figures = {tasks.get(r["task"]).monitors[-1] for r in result["runs"]}
    metric = figures.pop() if len(figures) == 1 else "val_mae"
    panels = [m for m in ("val_loss", metric) if any(h.get(m) for _, h in histories)]
    if not panels:
        return None
    plt = plots._pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, name in zip(axes[0], panels):
        for label, history in histories:
            if history.get(name):
                ax.plot(range(1, len(history[name]) + 1), history[name], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()
