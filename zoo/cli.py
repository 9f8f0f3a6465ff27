"""The zoo command line: each command parses, calls the library, prints.

TensorFlow is imported only inside the commands that train, evaluate or
export, so ``zoo list``, ``zoo plugins`` and ``zoo predict`` stay fast.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from zoo import __version__, calls, plugins, quiet
from zoo.errors import UsageError, ZooError, one_line
from zoo.recipes import MAX_BATCH_SIZE, MAX_SEED  # the library's bounds, checked again at the edge
from zoo.registry import parse_kind

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) is noise on a CLI;
# what this no longer silences, zoo.quiet filters (--verbose keeps it).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")



def printable(text: str) -> str:
    """``text`` safe to print: undecodable bytes of file names shown as \\xNN."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def describe_os_error(exc: OSError) -> str:
    """An OSError as zoo reports it: the path at fault, then what the system said."""
    reason = exc.strerror or one_line(exc)
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else reason


def _debug() -> bool:
    """ZOO_DEBUG=1: let unexpected exceptions through with their traceback."""
    return os.environ.get("ZOO_DEBUG", "") not in ("", "0")


class ZooGroup(click.Group):
    """Turns every error into one line on stderr and an exit code, never a traceback.

    zoo's own errors carry their exit code (2 usage, 1 data and run time); an
    OSError from anywhere (permissions, a path too long, a vanished file) is
    one line naming the path, exit 1; anything else is reported as an internal
    error, exit 1, with the traceback only under ``ZOO_DEBUG=1``.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own usage errors and exits: click prints them
        except ZooError as exc:
            self._fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except OSError as exc:
            if _debug():
                raise
            self._fail(describe_os_error(exc), 1)
        except Exception as exc:  # the last line of defence: no traceback by default
            if _debug():
                raise
            self._fail(f"internal error: {one_line(exc)} (set ZOO_DEBUG=1 for the traceback)", 1)

    @staticmethod
    def _fail(message: str, code: int):
        click.echo(f"Error: {printable(message)}", err=True)
        sys.exit(code)


def _keep_native_logs(ctx, param, verbose):
    if not verbose:
        quiet.filter_native_logs()


# For every command that may load TensorFlow or LiteRT.
verbose_option = click.option(
    "--verbose", is_flag=True, expose_value=False, is_eager=True, callback=_keep_native_logs,
    help="Keep TensorFlow's and LiteRT's own log lines on stderr (hidden by default).")


class ImageSize(click.ParamType):
    """``HxW`` (``64x64``, ``32x48``), or one number for a square."""

    name = "HxW"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        text = str(value).lower().replace("×", "x")
        parts = text.split("x") if "x" in text else [text, text]
        try:
            height, width = (int(p) for p in parts)
        except ValueError:
            self.fail(f"{value!r} is not HxW (e.g. 64x64)", param, ctx)
        if not (1 <= height <= 4096 and 1 <= width <= 4096):
            self.fail(f"{value!r}: each side must be 1..4096 pixels", param, ctx)
        return (height, width)


def data_options(command):
    """The dataset load options as flags: ``--image-size``, ``--color``, ``--tokenizer`` (for datasets that have them)."""
    command = click.option("--tokenizer", metavar="NAME",
                           help="Text datasets: the tokenizer fitted to the texts: tutorial (the book's) or "
                                "mediapipe (what MediaPipe's text classifier reproduces on a phone).")(command)
    command = click.option("--color", type=click.Choice(["rgb", "gray"], case_sensitive=False),
                           help="Image datasets of your files: keep colour (rgb) or convert to gray "
                                "(default: rgb when any image has colour).")(command)
    return click.option("--image-size", type=ImageSize(),
                        help="Image datasets of your files: resize every image to HxW (default: the "
                             "most common size in the folder).")(command)


def _data_options(image_size, color, tokenizer=None) -> dict:
    return {"image_size": image_size, "color": color and color.lower(), "tokenizer": tokenizer}


def _echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    for row in [headers, *rows]:
        click.echo("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="zoo")
def cli():
    """zoo: a plugin-based Keras model zoo.

    Train tutorial architectures on MNIST-style datasets reproducibly, and
    export them to files that run on LiteRT on a phone.
    """


def _availability(entry) -> str:
    if entry.locate is None:
        return ""
    try:
        where = calls.locate(entry)
    except ZooError as exc:  # a broken locate is shown, the listing goes on
        return f"cannot tell: {exc}"
    return f"available: {where}" if where else "not available here"


@cli.command(name="list")
@click.argument("kind", required=False)
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def list_command(kind, pattern, as_json):
    """List installed architectures, datasets and exporters.

    KIND is architectures, datasets or exporters (short forms such as arch,
    data, e work). PATTERN is a shell wildcard on names, e.g. 'lstm*'.
    A single argument that is not a kind is taken as the PATTERN.
    """
    if kind is not None and pattern is None:
        try:
            kind = parse_kind(kind)
        except UsageError:
            kind, pattern = None, kind
    elif kind is not None:
        kind = parse_kind(kind)
    entries = plugins.registry().entries(kind, pattern)
    if as_json:
        _echo_json([
            {"kind": e.kind, "name": e.name, "aliases": list(e.aliases), "summary": e.summary,
             "plugin": e.plugin, **e.describe(),
             **({"available": _availability(e)} if e.kind == "dataset" else {})}
            for e in entries
        ])
        return
    if not entries:
        click.echo("nothing matches")
        return
    rows = []
    for e in entries:
        # Long summaries are cut in the table; --json has them whole.
        summary = e.summary if len(e.summary) <= 72 else e.summary[:71] + "…"
        if e.kind == "dataset" and e.locate is not None:
            summary = f"{summary} [{_availability(e)}]"
        if getattr(e, "weights", None):
            summary = f"{summary} [pretrained: {', '.join(e.weights)}]"
        rows.append([e.kind, e.name, summary, e.plugin])
    _table(rows, ["KIND", "NAME", "SUMMARY", "PLUGIN"])


@cli.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins_command(as_json):
    """List installed plugins, their hooks and whether they loaded."""
    infos = plugins.load().infos
    if as_json:
        _echo_json([i.to_dict() for i in infos])
        return
    _table([[i.name, i.distribution, i.version, ",".join(h.replace("register_", "") for h in i.hooks),
             i.status] for i in infos], ["PLUGIN", "DISTRIBUTION", "VERSION", "HOOKS", "STATUS"])


@cli.command()
@click.argument("name")
@click.option("--data-dir", type=click.Path(), help="Folder with the dataset's files.")
@data_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@verbose_option
def show(name, data_dir, image_size, color, tokenizer, as_json):
    """Describe an architecture, dataset or exporter.

    For an architecture: its hyperparameters and recipes. For a dataset: loads
    it and prints shapes, class names and counts, pixel range and source.
    """
    entry = plugins.registry().get_any(name)
    info = {"kind": entry.kind, "name": entry.name, "aliases": list(entry.aliases),
            "summary": entry.summary, "plugin": entry.plugin, **entry.describe()}
    options = _data_options(image_size, color, tokenizer)
    if entry.kind != "dataset" and any(options.values()):
        raise UsageError(f"--image-size, --color and --tokenizer are dataset options; {entry.name} is an {entry.kind}")
    if entry.kind == "dataset":
        options = entry.check_options(options)
        info.update(calls.load_dataset(entry, data_dir=data_dir, options=options).summary())
    if as_json:
        _echo_json(info)
        return
    click.echo(f"{entry.kind} {entry.name}: {entry.summary}  [{entry.plugin}]")
    if entry.aliases:
        click.echo(f"aliases: {', '.join(entry.aliases)}")
    for key, value in info.items():
        if key in ("kind", "name", "aliases", "summary", "plugin"):
            continue
        if key == "params":
            click.echo("params (-p KEY=VALUE):")
            for pname, p in value.items():
                click.echo(f"  {pname} = {_fmt(p['default'])}  {p['help']}")
        elif key == "recipes":
            for rname, r in value.items():
                default = " (default)" if rname == info.get("default_recipe") else ""
                click.echo(f"recipe {rname}{default}: {r.pop('note')}")
                click.echo("  " + ", ".join(f"{k}={_fmt(v)}" for k, v in r.items()
                                            if v not in (None, {}, "")))
        elif key != "default_recipe":
            click.echo(f"{key}: {_fmt(value)}")


def _fmt(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


@cli.command()
@click.argument("architecture", required=False)
@click.argument("dataset", required=False)
@click.option("--recipe", help="Recipe: tuned (default) or tutorial, or a recipe file (zoo tune's best-recipe.json).")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Architecture hyperparameter, e.g. -p filters=32,64,128 (see zoo show ARCH).")
@click.option("--epochs", type=click.IntRange(min=1), help="Maximum epochs.")
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), help="Batch size.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), help="Initial learning rate.")
@click.option("--optimizer", type=click.Choice(["adam", "adamw", "sgd", "rmsprop", "nadam"],
                                               case_sensitive=False), help="Optimizer.")
@click.option("--validation-split", type=click.FloatRange(0, 1, max_open=True),
              help="Fraction of the training set held out for validation; 0 trains on all of it "
              "(the kept model is then the one with the lowest training loss).")
@click.option("--patience", type=click.IntRange(min=1), help="Early stopping patience (epochs).")
@click.option("--monitor", type=click.Choice(["val_loss", "val_accuracy"]),
              help="Validation figure that picks the best epoch (kept model, early stopping).")
@click.option("--augment", metavar="NAME", default=None,
              help="Augment images: none, tutorial (rotate/zoom/shear/shift/flip), flip-shift, shift, "
                   "geometric (all but flip), or transformations joined by '+' (shift+rotate); "
                   "only what the dataset allows (see zoo show DATASET).")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), help="Random seed (default 0).")
@click.option("--data-dir", type=click.Path(), help="Folder with the dataset's files.")
@data_options
@click.option("--output", "-o", type=click.Path(), help="Run directory (default runs/ARCH-DATASET-TIME).")
@click.option("--resume", metavar="RUN", help="Continue an interrupted run from its last finished epoch.")
@click.option("--from", "start_from", metavar="RUN",
              help="Start from a finished run's weights (same architecture and input; a new head when the "
                   "classes differ).")
@click.option("--tensorboard", is_flag=True, help="Write TensorBoard logs into the run.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--strategy", type=click.Choice(["auto", "one-device", "mirrored", "multi-worker"],
                                              case_sensitive=False), default="auto", show_default=True,
              help="tf.distribute strategy: several GPUs (mirrored) or several machines (multi-worker).")
@click.option("--devices", metavar="DEV,DEV", help="Devices for one-device/mirrored, e.g. GPU:0,GPU:1 "
              "(CPU:0,CPU:1 splits the CPU into logical devices).")
@click.option("--cluster", metavar="HOST:PORT,...", help="Multi-worker: every worker's address, the "
              "chief first (instead of TF_CONFIG); the same on every worker.")
@click.option("--task-index", type=click.IntRange(min=0), metavar="I",
              help="Multi-worker: this worker's position in --cluster (0: the chief).")
@verbose_option
def train(architecture, dataset, recipe, params, epochs, batch_size, learning_rate, optimizer,
          validation_split, patience, monitor, augment, seed, data_dir, image_size, color, tokenizer, output, resume,
          start_from, tensorboard, quiet, strategy, devices, cluster, task_index):
    """Train ARCHITECTURE on DATASET into a run directory.

    Example: zoo train lstm-bn fashion-sample

    On several machines, start the same command on every one, e.g.
    zoo train dense fashion -o runs/d --cluster a:2222,b:2222 --task-index 0 (1 on b).
    """
    from zoo import recipes, trainer

    parsed = {}
    if params and resume:  # unparsed: train() refuses -p with --resume
        parsed = {item.partition("=")[0]: item for item in params}
    elif params and architecture:
        parsed = recipes.parse_params(plugins.get("architecture", architecture), params)
    overrides = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                 "optimizer": optimizer and optimizer.lower(), "validation_split": validation_split,
                 "patience": patience, "monitor": monitor}
    if augment is not None:
        overrides["augment"] = augment
    verbose = 0 if quiet else (1 if sys.stdout.isatty() else 2)
    result = trainer.train(architecture, dataset, recipe=recipe, overrides=overrides, params=parsed,
                           seed=seed, data_dir=data_dir, output=output, resume=resume,
                           tensorboard=tensorboard, verbose=verbose, strategy=strategy.lower(),
                           devices=devices, cluster=cluster, task_index=task_index,
                           data_options=_data_options(image_size, color, tokenizer), start_from=start_from)
    m = result.metrics
    if "worker" in m:  # a multi-worker job's other workers: the chief reports the run
        click.echo(f"worker {m['worker']} of {m['workers']} finished after {m['epochs_run']} epochs "
                   f"({m['training_seconds']:.1f} s); final weights sha256 {m['final_weights_sha256']}")
        return
    from zoo import tasks

    click.echo(f"{result.config['architecture']} on {result.config['dataset']}: "
               f"{tasks.headline(result.config, m)} after {m['epochs_run']} epochs "
               f"({m['training_seconds']:.1f} s); run written to {result.run_dir}")


@cli.command()
@click.argument("run", required=False)
@click.option("--dataset", help="Evaluate on another dataset of the same shape and classes.")
@click.option("--data-dir", type=click.Path(), help="Folder with the dataset's files.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@verbose_option
def evaluate(run, dataset, data_dir, as_json):
    """Re-evaluate a saved RUN (default: the newest) on its test set."""
    from zoo import trainer

    result = trainer.evaluate(run, dataset, data_dir)
    if as_json:
        _echo_json(result)
        return
    count = result.get("test_images", result.get("test_examples"))
    click.echo(f"{result['run']} on {result['dataset']}: {result['headline']}, "
               f"loss {result['test_loss']:.4f} ({count} examples)")
    for name, acc in result.get("per_class_accuracy", {}).items():
        click.echo(f"  {name:<14} {acc:.4f}")


@cli.command(name="runs")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def runs_command(as_json):
    """List runs (newest first) with architecture, dataset, accuracy and date."""
    from zoo import runs, tasks

    found = runs.list_runs()
    if as_json:
        _echo_json([{"name": r["name"], "path": r["path"], "architecture": r["config"].get("architecture"),
                     "dataset": r["config"].get("dataset"), "recipe": r["config"].get("recipe"),
                     "created": r["config"].get("created"),
                     "status": "damaged" if r["damage"] else r["config"].get("status"),
                     "damage": r["damage"],
                     "test_accuracy": (r["metrics"] or {}).get("test_accuracy"),
                     "headline": tasks.headline(r["config"], r["metrics"]) if r["metrics"] else None}
                    for r in found])
        return
    if not found:
        click.echo(f"no runs under {runs.runs_root()}/")
        return

    def cell(run, key):
        value = run["config"].get(key, "?")
        return printable(str(value))

    _table([[printable(r["name"]), cell(r, "architecture"), cell(r, "dataset"), cell(r, "recipe"),
             tasks.figure(r["config"], r["metrics"]) if r["metrics"] else "-", cell(r, "created"),
             f"damaged: {r['damage']}" if r["damage"] else cell(r, "status")] for r in found],
           ["RUN", "ARCH", "DATASET", "RECIPE", "RESULT", "CREATED", "STATUS"])


@cli.command(name="tune")
@click.argument("architecture", required=False)
@click.argument("dataset", required=False)
@click.option("--trials", type=click.IntRange(min=1), default=10, show_default=True,
              help="Trials the study holds when done (a resumed study runs the rest).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Start no new trial after S seconds.")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs per trial (default: the recipe's).")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
              help="The study's seed (every trial trains with it).")
@click.option("--data-dir", type=click.Path(), help="Folder with the dataset's files.")
@click.option("--output", "-o", type=click.Path(), help="Study directory (default runs/tune-ARCH-DATASET-TIME).")
@click.option("--resume", metavar="DIR", help="Continue a study after a kill or Ctrl-C.")
@verbose_option
def tune_command(architecture, dataset, trials, timeout, epochs, seed, data_dir, output, resume):
    """Search ARCHITECTURE's hyperparameters on DATASET with Optuna; every trial is a zoo run.

    Judged on the validation set; the best trial's recipe is written as
    best-recipe.json for zoo train --recipe FILE. Needs pip install 'zoo[tune]'.
    """
    from zoo import tune

    result = tune.tune(architecture, dataset, trials=trials, timeout=timeout, epochs=epochs, seed=seed,
                       data_dir=data_dir, output=output, resume=resume,
                       log=lambda message: click.echo(message, err=True))
    click.echo(f"best: trial {result.best_trial} of {result.trials}, {result.monitor} {result.best_value:.4f}; "
               f"recipe written to {result.recipe_file}")
    click.echo(result.command)


@cli.command(name="report")
@click.argument("run", required=False)
def report_command(run):
    """Write RUN/report.html (default: the newest run): one self-contained page of the run.

    zoo train writes it at the end and zoo export refreshes it; open it in any browser.
    """
    from zoo import report, runs

    click.echo(report.write(runs.resolve_run(run, need_model=False)))


@cli.command(name="compare")
@click.argument("run_patterns", nargs=-1, required=True, metavar="RUN...")
@click.option("--dataset", help="Only the runs on this dataset.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write a page with the table and the validation curves overlaid.")
def compare_command(run_patterns, dataset, as_json, html_path):
    """Finished runs side by side: settings that differ, epochs, time, scores, export sizes.

    RUN is a run directory, a run's name, or a wildcard over names
    ('cnn-fashion-*'; quote it).
    """
    from zoo import compare

    chosen = compare.select(run_patterns, dataset)
    result = compare.compare(chosen)
    if html_path:
        compare.write_html(result, chosen, Path(html_path))
    if as_json:
        _echo_json(result)
    else:
        headers, rows = compare.text_rows(result)
        _table([[printable(str(c)) for c in row] for row in rows], headers)
    if html_path:
        click.echo(f"wrote {html_path}", err=as_json)


def _progress_bars():
    """A progress(label, total) factory for zoo.export: click progress bars on stderr."""
    import contextlib

    @contextlib.contextmanager
    def progress(label, total):
        with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
            yield bar.update

    return progress


class ExportCommand(click.Command):
    """``zoo export``, whose flags come from the installed exporters: ``--NAME`` for each that has a
    ``flag_help``, then each option an exporter declares (``Exporter.options``), built when the command
    is parsed or its help shown (listing and predicting never load them)."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        if getattr(self, "_exporter_params", None) is None:
            self._exporter_params = _exporter_params()
        return params[:1] + self._exporter_params + params[1:]


def _exporter_params() -> list:
    """Each exporter's flag, with the flags of those that share an option with it, then its options."""
    from zoo import export_options

    made, taken = [], set()
    declared = export_options.declared()
    exporters = plugins.registry().in_order("exporter")

    def add_flag(exporter):
        key = exporter.name.replace("-", "_")
        if exporter.flag_help and key not in taken:
            taken.add(key)
            made.append(click.Option([export_options.flag(exporter.name), key], is_flag=True, help=exporter.flag_help))

    for exporter in exporters:
        add_flag(exporter)
        for name in exporter.params:
            for other in declared[name][1]:
                add_flag(other)
        for name, param in exporter.params.items():
            if name not in taken:
                taken.add(name)
                made.append(_option(export_options.flag(name), name, param))
    return made


def _option(flag: str, name: str, param) -> click.Option:
    """A click option for an exporter's ``Param``: a flag for a bool, a value (repeatable) otherwise."""
    if isinstance(param.default, bool):
        return click.Option([flag, name], is_flag=True, default=None, help=param.help)
    kind = type(param.default) if isinstance(param.default, (int, float)) and param.default is not None else None
    if param.metavar == "N" and kind is None:
        kind = int
    if kind is int:
        value_type = click.IntRange(min=param.low, max=param.high) if (param.low, param.high) != (None, None) \
            else click.INT
    else:
        value_type = click.FLOAT if kind is float else click.STRING
    return click.Option([flag, name], multiple=param.multiple, metavar=param.metavar, help=param.help,
                        type=value_type)


@cli.command(name="export", cls=ExportCommand)
@click.argument("run", required=False)
@click.option("--format", "formats", multiple=True, metavar="NAME",
              help="Another export format (see zoo list exporters); savedmodel is always written.")
@click.option("--output", "-o", type=click.Path(), help="Destination directory (default RUN/export).")
@click.option("--force", is_flag=True, help="Replace an existing export.")
@click.option("--json", "as_json", is_flag=True, help="Print the model card as JSON.")
@verbose_option
def export_command(run, formats, output, force, as_json, **given):
    """Export RUN (default: the newest) to a SavedModel and, with --tflite, LiteRT files.

    Every file is verified on the dataset's full test set before anything is
    written: float files must match Keras (max |difference| 1e-4, same top
    class), quantized ones stay within 1 point of its accuracy.

    Example: zoo export --tflite --quantize float16 --quantize int8
    """
    from zoo import export

    # --tflite, --mediapipe, --web ...: the exporters with a flag of their own; the rest are their options.
    flagged = [e.name for e in plugins.registry().in_order("exporter") if e.flag_help]
    formats = [*formats, *(name for name in flagged if given.pop(name.replace("-", "_"), False))]
    log = (lambda message: None) if as_json else (lambda message: click.echo(message, err=True))
    result = export.export(run, formats=formats, output=output, force=force, progress=_progress_bars(), log=log,
                           **{k: v for k, v in given.items() if v not in (None, ())})
    if as_json:
        _echo_json(result.card)
        return
    card = result.card
    from zoo import tasks

    key, figure = tasks.restore(card.get("task"), card.get("class_names")).verification_figure
    click.echo(f"Keras model: {figure} {card['verification']['keras_' + key]:.4f} on "
               f"{card['verification']['test_set']}")
    rows = []
    for f in card["files"]:
        size = f.get("size_bytes")
        rows.append([f["file"], f"{size / 1024:.0f} KiB" if size else "-",
                     f"{f[key]:.4f}", f"{f['agreement']:.2%}", f"{f['max_abs_diff']:.1e}",
                     "dynamic" if str(f.get("batch", "")).startswith("dynamic") else "fixed 1"])
    scores = ["ACCURACY", "SAME CLASS"] if figure == "test accuracy" else ["CORRECT", "NEAR KERAS"]
    _table(rows, ["FILE", "SIZE", *scores, "MAX DIFF", "BATCH"])
    for f in card["files"]:
        if f.get("runtimes"):  # zoo export --web: proved in a browser on fewer examples
            click.echo(f"{f['file']}: {f['browser']}, the first {f['examples']} test examples, through "
                       + "; ".join(r["runtime"] for r in f["runtimes"]) + f" (open it: zoo serve {result.directory})")
    click.echo(f"export written to {result.directory}")


@cli.command(name="serve")
@click.argument("run", required=False)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free one).")
@click.option("--lan", is_flag=True, help="Listen on every interface, so a phone on the same network can "
              "open the page (the camera needs localhost or HTTPS; the file picker works everywhere).")
@verbose_option
def serve_command(run, port, lan):
    """Serve RUN's web page (zoo export RUN --web) until Ctrl-C.

    Every model file the page runs is checked against the export's hashes
    first. Example: zoo serve runs/my-run --lan
    """
    import time

    from zoo import serve

    folder = serve.export_dir(run)
    page = serve.check(folder)
    with serve.server(folder, port, lan, page) as server:
        click.echo(f"serving {page.get('title', folder)}: http://127.0.0.1:{server.port}/web/")
        for address in (serve.lan_addresses() if lan else []):
            click.echo(f"on this network: http://{address}:{server.port}/web/ (camera: needs HTTPS or "
                       "localhost; the file picker works)")
        click.echo("Ctrl-C stops")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


@cli.command(name="predict")
@click.argument("model")
@click.argument("images", nargs=-1, metavar="FILE...")
@click.option("--top-k", "-k", type=click.IntRange(min=1), default=3, show_default=True,
              help="Classes listed per example.")
@click.option("--word-by-word", is_flag=True,
              help="Text models: score each sentence as it grows, one word at a time (the book's 7.31).")
@click.option("--text", "texts", multiple=True, metavar="SENTENCE",
              help="Text models: a sentence, taken as it is even where it names a file (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@verbose_option
def predict_command(model, images, top_k, word_by_word, texts, as_json):
    """Classify FILEs with MODEL (a .tflite file or a run), on LiteRT alone.

    Images (PNG, JPEG, any size) are read as the training data: gray or
    colour, resized to the model's input, scaled as its model card says.
    Sequence and vector models read .npy or .csv files of one example or N
    (a leading batch axis; CSV rows), one line per example. Text models read
    sentences and .txt files of them (one sentence a line).

    Example: zoo predict runs/my-run shoe.png shirt.jpg --top-k 2
    """
    from zoo import predict

    if not images and not texts:
        raise click.UsageError("Missing argument 'FILE...' (or, for a text model, --text SENTENCE).")
    result = predict.predict(model, list(images), top_k=top_k, word_by_word=word_by_word, texts=list(texts))
    if as_json:
        _echo_json(result)
        return
    from zoo import tasks

    task = tasks.get(result["task"])  # it says how an answer reads
    for item in result["results"]:
        name = shown_name(predict.name_of(item))
        if item.get("coverage") == 0:  # the model saw padding only: its answer is about nothing
            click.echo(f"{name}: nothing recognised (no token of it is in the model's vocabulary)")
        else:
            click.echo(f"{name}: {task.answer_line(item)}")


# A name longer than this is shown cut in the middle (--json keeps it whole).
SHOWN_NAME_CHARS = 200


def shown_name(name: str) -> str:
    """A file name or sentence as one printable line: escaped as Python's repr does where it holds a
    newline or another unprintable character (a name cannot forge a result line), cut when long."""
    shown = name if name.isprintable() else repr(name)
    if len(shown) > SHOWN_NAME_CHARS:
        half = SHOWN_NAME_CHARS // 2
        shown = f"{shown[:half]}…({len(shown) - 2 * half} characters)…{shown[-half:]}"
    return shown


@cli.command(name="generate")
@click.argument("model")
@click.option("--prompt", default="", help="The text to continue (default: none, the model starts alone).")
@click.option("--length", "-n", type=int, default=100, show_default=True, help="Tokens to add (jamo, characters).")
@click.option("--temperature", "-t", type=float, default=0.0, show_default=True,
              help="0: the most probable token every time (the book's rule); above 0: drawn, "
                   "the higher the more varied.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the draw (0 or more): the same seed, the same text.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@verbose_option
def generate_command(model, prompt, length, temperature, seed, as_json):
    """Continue a text with MODEL (a generation run or its .tflite), on LiteRT alone.

    Example: zoo generate runs/my-corpus-run --prompt "이 영화" --length 80
    """
    from zoo import generate

    result = generate.generate(model, prompt, length=length, temperature=temperature, seed=seed)
    if as_json:
        _echo_json(result)
        return
    click.echo(result["text"])


def main():
    cli(prog_name="zoo")


if __name__ == "__main__":
    main()
