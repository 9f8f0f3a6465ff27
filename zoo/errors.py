"""Error types, and the one helper that cuts an exception to one line.

The CLI turns each ``ZooError`` into a one-line message and an exit code.
"""


class ZooError(Exception):
    """A fault in data, files or at run time: exit code 1."""

    exit_code = 1


class UsageError(ZooError):
    """A bad name, flag or value on the command line: exit code 2."""

    exit_code = 2


class DataError(ZooError):
    """A data file that is missing, corrupted or does not fit.

    Dataset plugins raise it for their own files; zoo prints the message as
    it is (it should name the file at fault).
    """


class IncompatibleError(UsageError):
    """An architecture and a dataset (or option) that cannot go together."""


class PluginError(ZooError):
    """Plugin code raised, or returned something that breaks its contract: exit code 1.

    The message names the entry and the distribution that registered it, so a
    plugin's own mistake is never reported as the user's.
    """


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message`` (or just the type), at most ``limit`` characters."""
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0].strip()}" if text else type(exc).__name__
    return line if len(line) <= limit else line[:limit - 1] + "…"


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of the message (the type's name when there is none)."""
    text = str(exc).strip().splitlines()
    line = text[0].strip() if text else type(exc).__name__
    return line if len(line) <= limit else line[:limit - 1] + "…"
