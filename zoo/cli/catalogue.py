"""Commands that show what is installed: zoo list, zoo plugins, zoo show."""
from __future__ import annotations

import json

import click

from zoo.api import calls, plugins
from zoo.api.registry import parse_kind
from zoo.cli.base import _data_options, _echo_json, _table, cli, data_options, verbose_option
from zoo.errors import UsageError, ZooError


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
    """List installed architectures, datasets, exporters, tasks and layouts.

    KIND is architectures, datasets, exporters, tasks or layouts (short forms
    such as arch, data, e work). PATTERN is a shell wildcard on names, e.g. 'lstm*'.
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
