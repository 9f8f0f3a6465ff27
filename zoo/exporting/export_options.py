"""``zoo export``'s options, as the installed exporters declare them (``Exporter.options``: ``Param``s).

Each option is one flag (``int8_io`` -> ``--int8-io``) whoever declares it;
an option two exporters declare (``quantize``: tflite and mediapipe) is one
flag, and each value given must be one that some selected exporter takes.
Everything here is checked before a run is opened; rules that need the run
(or that tie one option to another) live in each exporter's ``prepare``.
"""
from __future__ import annotations

from zoo.api import plugins
from zoo.errors import UsageError


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def declared() -> dict:
    """Option name -> (its ``Param``, the exporters that declare it), in the order exporters registered."""
    found: dict = {}
    for exporter in plugins.registry().in_order("exporter"):
        for name, param in exporter.params.items():
            found.setdefault(name, (param, []))[1].append(exporter)
    return found


def _problem(param, value) -> str | None:
    """What ``value`` (one of several, for a flag that repeats) should be instead, or None."""
    if param.multiple:
        return None if param.choices is None or value in param.choices else f"one of {', '.join(param.choices)}"
    return param.problem(value)


def _takes(exporter, name: str, value) -> bool:
    """Whether ``exporter`` takes ``value`` for option ``name`` (the tuple form takes what it names)."""
    param = exporter.params.get(name)
    if param is None:
        return name in tuple(exporter.options)
    return _problem(param, value) is None


def _shown(value) -> str:
    return "x".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def check(exporters, given: dict) -> dict:
    """The options given (None and False dropped), parsed and each taken by a selected exporter.

    Raises:
        UsageError: an option no selected exporter has (naming those that do, and their flag), or a
            value none of them takes (naming the exporter that would, and what it does).
    """
    options = declared()
    checked = {}
    for name, value in given.items():
        if value in (None, False, (), []):
            continue
        param = options.get(name, (None, []))[0]
        if param is not None and param.parse is not None:
            value = param.parse(value)
        supporting = [e for e in plugins.registry().in_order("exporter") if name in tuple(e.options)]
        selected = [e for e in exporters if name in tuple(e.options)]
        if not selected:
            names = ", ".join(e.name for e in exporters)
            flags = [flag(e.name) for e in supporting if e.flag_help]
            hint = (f"; it applies to {' and '.join(e.name for e in supporting)}"
                    f"{' (add ' + ' or '.join(flags) + ')' if flags else ''}") if supporting else ""
            raise UsageError(f"{flag(name)}: not supported by the selected exporter(s) ({names}){hint}")
        for item in (value if param is not None and param.multiple else (value,)):
            if any(_takes(e, name, item) for e in selected):
                continue
            shown = f"{flag(name)} {_shown(item)}"
            other = next((e for e in supporting if e not in selected and _takes(e, name, item)), None)
            limits = "; ".join(f"{flag(e.name)} takes {flag(name)} {', '.join(map(str, e.params[name].choices))} only"
                               for e in selected if e.params.get(name) is not None and e.params[name].choices)
            if other is None:
                param = selected[0].params.get(name)
                problem = _problem(param, item) if param is not None else "another value"
                raise UsageError(f"{shown}: {selected[0].name} needs {problem}")
            meaning = (other.params[name].meanings or {}).get(item, f"applies to {other.name}")
            raise UsageError(f"{shown}: {meaning}; add {flag(other.name)}" + (f" ({limits})" if limits else ""))
        checked[name] = value
    return checked


def with_defaults(checked: dict) -> dict:
    """What exporters get: the options given, and every other declared option's default (None left out)."""
    out = {name: param.default for name, (param, _) in declared().items() if param.default is not None}
    out.update(checked)
    return out
