"""The zoo command line's group and what its commands share (one-line errors, tables, JSON, flags).

TensorFlow is imported only inside the commands that train, evaluate or
export, so ``zoo list``, ``zoo plugins`` and ``zoo predict`` stay fast.
"""
from __future__ import annotations

import importlib
import json
import os
import sys

import click

from zoo import __version__, quiet
from zoo.errors import ZooError, one_line

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

    # Which module defines each command: a command's module is imported when the command is asked for,
    # so `zoo predict` does not import what `zoo train` needs.
    MODULES = {**{name: "catalogue" for name in ("list", "plugins", "show")},
               **{name: "training" for name in ("train", "evaluate", "runs", "tune", "report", "compare")},
               **{name: "files" for name in ("export", "serve", "predict", "generate")}}

    def list_commands(self, ctx):
        return sorted({*self.MODULES, *self.commands})

    def get_command(self, ctx, name):
        if name not in self.commands and name in self.MODULES:
            importlib.import_module(f"zoo.cli.{self.MODULES[name]}")  # registers its commands on the group
        return super().get_command(ctx, name)

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


def main():
    cli(prog_name="zoo")

