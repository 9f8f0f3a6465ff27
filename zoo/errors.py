"""Error types. The CLI turns each into a one-line message and an exit code."""


class ZooError(Exception):
    """A fault in data, files or at run time: exit code 1."""

    exit_code = 1


class UsageError(ZooError):
    """A bad name, flag or value on the command line: exit code 2."""

    exit_code = 2


class DataError(ZooError):
    """A data file that is missing, corrupted or does not fit."""


class IncompatibleError(UsageError):
    """An architecture and a dataset (or option) that cannot go together."""
