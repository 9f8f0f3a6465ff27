"""Commands that make and run files: zoo export, serve, predict, generate."""
from __future__ import annotations

import sys

import click

from zoo.api import plugins
from zoo.cli.base import _echo_json, _table, cli, verbose_option


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
        registry = plugins.registry()
        if getattr(self, "_built_for", None) is not registry:  # built again when plugins are loaded again
            self._exporter_params, self._built_for = _exporter_params(), registry
        return params[:1] + self._exporter_params + params[1:]


def _exporter_params() -> list:
    """Each exporter's flag, with the flags of those that share an option with it, then its options."""
    from zoo.exporting import export_options

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
    from zoo.exporting import export

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
    from zoo.data import tasks

    task = tasks.restore(card.get("task"), card.get("class_names"))
    key, figure = task.verification_figure
    click.echo(f"Keras model: {figure} {card['verification']['keras_' + key]:.4f} on "
               f"{card['verification']['test_set']}")
    rows = []
    for f in card["files"]:
        size = f.get("size_bytes")
        rows.append([f["file"], f"{size / 1024:.0f} KiB" if size else "-",
                     *(format(f[field], style) for _, field, style in task.file_columns),
                     "dynamic" if str(f.get("batch", "")).startswith("dynamic") else "fixed 1"])
    _table(rows, ["FILE", "SIZE", *(header for header, _, _ in task.file_columns), "BATCH"])
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

    from zoo.device import serve

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
@click.option("--draw", "draw_to", type=click.Path(dir_okay=True), metavar="PATH",
              help="Detection models: write the photo with its boxes to PATH (.jpg, .png); with several "
                   "photos PATH is a folder and each is written there as NAME.boxes.jpg.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@verbose_option
def predict_command(model, images, top_k, word_by_word, texts, as_json, draw_to):
    """Classify FILEs with MODEL (a .tflite file or a run), on LiteRT alone.

    Images (PNG, JPEG, any size) are read as the training data: gray or
    colour, resized to the model's input, scaled as its model card says.
    Sequence and vector models read .npy or .csv files of one example or N
    (a leading batch axis; CSV rows), one line per example. Text models read
    sentences and .txt files of them (one sentence a line).

    A detection model prints each box found (class, score, x, y, width and
    height in the photo's pixels); --draw writes the photo with them.

    Example: zoo predict runs/my-run shoe.png shirt.jpg --top-k 2
    """
    from zoo.device import predict

    if not images and not texts:
        raise click.UsageError("Missing argument 'FILE...' (or, for a text model, --text SENTENCE).")
    result = predict.predict(model, list(images), top_k=top_k, word_by_word=word_by_word, texts=list(texts))
    if draw_to:
        _draw(result, draw_to)
    if as_json:
        _echo_json(result)
        return
    from zoo.data import tasks

    task = tasks.get(result["task"])  # it says how an answer reads
    for item in result["results"]:
        name = shown_name(predict.name_of(item))
        if item.get("coverage") == 0:  # the model saw padding only: its answer is about nothing
            click.echo(f"{name}: nothing recognised (no token of it is in the model's vocabulary)")
        else:
            click.echo(f"{name}: {task.answer_line(item)}")


def _draw(result: dict, draw_to: str) -> None:
    """--draw: each photo with its boxes, to the file named (one photo) or into the folder (several)."""
    from pathlib import Path

    from zoo.device.draw import draw

    if any("boxes" not in item for item in result["results"]):
        raise click.UsageError(f"--draw: {result['model']} answers a {result['task']} task; only a detector "
                               "draws boxes")
    many = len(result["results"]) > 1
    for item in result["results"]:
        photo = Path(item["image"])
        draw(photo, item["boxes"], Path(draw_to) / f"{photo.stem}.boxes.jpg" if many else draw_to)


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
    from zoo.device import generate

    result = generate.generate(model, prompt, length=length, temperature=temperature, seed=seed)
    if as_json:
        _echo_json(result)
        return
    click.echo(result["text"])
