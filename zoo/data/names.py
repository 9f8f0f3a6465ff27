"""A table of names for what plugins may add to (tasks, layouts): the built-ins, and what plugins registered.

The plugin machinery (a floor above) hands registered entries over as plugins load and sets
``load_plugins``, so that a name only a plugin registers is found by whoever reads it from a file.
"""
from __future__ import annotations


class Table:
    def __init__(self, builtin: dict, lazy: dict | None = None):
        self.builtin = dict(builtin)
        # Built-ins imported when first asked for, name -> "module:attribute": a command that never
        # meets one (zoo predict of a classifier) does not pay for importing it.
        self.lazy = dict(lazy or {})
        self.registered: dict = {}
        self.load_plugins = None  # set by zoo.api.plugins

    def builtin_names(self) -> list:
        return [*self.builtin, *(name for name in self.lazy if name not in self.builtin)]

    def get(self, name: str):
        """The entry called ``name``: a built-in, else one a plugin registered.

        Raises:
            KeyError: no such name here, even after loading the plugins.
        """
        if name not in self.builtin and name in self.lazy:
            import importlib

            module, attribute = self.lazy[name].split(":")
            self.builtin[name] = getattr(importlib.import_module(module), attribute)
        if name in self.builtin:
            return self.builtin[name]
        if name not in self.registered and self.load_plugins is not None:
            self.load_plugins()
        if name in self.registered:
            return self.registered[name]
        raise KeyError(name)

    def known(self) -> list:
        return list(dict.fromkeys([*self.builtin_names(), *self.registered]))
