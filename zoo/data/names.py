"""A table of names for what plugins may add to (tasks, layouts): the built-ins, and what plugins registered.

The plugin machinery (a floor above) hands registered entries over as plugins load and sets
``load_plugins``, so that a name only a plugin registers is found by whoever reads it from a file.
"""
from __future__ import annotations


class Table:
    def __init__(self, builtin: dict):
        self.builtin = dict(builtin)
        self.registered: dict = {}
        self.load_plugins = None  # set by zoo.api.plugins

    def get(self, name: str):
        """The entry called ``name``: a built-in, else one a plugin registered.

        Raises:
            KeyError: no such name here, even after loading the plugins.
        """
        if name in self.builtin:
            return self.builtin[name]
        if name not in self.registered and self.load_plugins is not None:
            self.load_plugins()
        if name in self.registered:
            return self.registered[name]
        raise KeyError(name)

    def known(self) -> list:
        return list(dict.fromkeys([*self.builtin, *self.registered]))
