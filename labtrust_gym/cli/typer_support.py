"""Two adjustments to the typer app that every command (a plugin's included) gets.

* **Light value conversion.** Recent typer releases convert every option value through a
  pydantic ``TypeAdapter``; importing pydantic costs more than the rest of ``labtrust list tasks``
  together. Values of plain annotations — ``str``, ``int``, ``float``, ``Path``, a ``str``-valued
  ``Enum`` or ``Literal``, optional or as a list — are converted here instead, with click's error
  messages; anything else (constraints, custom parsers, files, dates) still goes to typer. Where
  typer has no such conversion step (older releases), nothing is changed.
* **Metavars without Python types.** typer shows ``<str>``, ``<list[Path]>``; an option without
  an explicit ``metavar`` gets its parameter name in capitals instead (choices stay visible as
  ``<a|b>``).
"""

from __future__ import annotations

import enum
import importlib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BOOLS = {"1": True, "true": True, "yes": True, "on": True,
          "0": False, "false": False, "no": False, "off": False}


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return _BOOLS[str(value).strip().lower()]


_PLAIN: dict[Any, tuple[Any, str]] = {
    bool: (_to_bool, "boolean"),
    str: (str, "text"),
    int: (int, "integer"),
    float: (float, "float"),
    Path: (Path, "path"),
}


def _choice_converter(annotation: Any) -> tuple[Any, str] | None:
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        members = {str(m.value): m for m in annotation}
        if not all(isinstance(m.value, str) for m in annotation):
            return None
        return (lambda v: v if isinstance(v, annotation) else members[str(v)]), ", ".join(
            repr(k) for k in members
        )
    if typing.get_origin(annotation) is typing.Literal:
        values = typing.get_args(annotation)
        if not all(isinstance(v, str) for v in values):
            return None
        allowed = {v: v for v in values}
        return (lambda v: allowed[str(v)]), ", ".join(repr(v) for v in values)
    return None


def _converter(annotation: Any) -> tuple[Any, str, bool] | None:
    """``(convert one value, what it expects, is a list)`` for a plain annotation, else None."""
    many = False
    if typing.get_origin(annotation) is list:
        (annotation,) = typing.get_args(annotation)
        many = True
    args = typing.get_args(annotation)
    if args and type(None) in args and typing.get_origin(annotation) is not typing.Literal:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            return None
        annotation = rest[0]
    plain = _PLAIN.get(annotation)
    if plain is not None:
        return plain[0], f"a valid {plain[1]}", many
    choice = _choice_converter(annotation)
    if choice is not None:
        return choice[0], f"one of {choice[1]}", many
    return None


def _plain_parameter_info(info: Any) -> bool:
    """No constraint or custom parsing that only typer's own conversion implements."""
    unset = ("min", "max", "parser", "click_type", "formats", "path_type", "mode", "encoding")
    if any(getattr(info, name, None) is not None for name in unset):
        return False
    if getattr(info, "exists", False) or getattr(info, "resolve_path", False):
        return False
    if getattr(info, "allow_dash", False) or getattr(info, "writable", False):
        return False
    if getattr(info, "case_sensitive", True) is False:
        return False
    return getattr(info, "file_okay", True) and getattr(info, "dir_okay", True)


def install_light_conversion() -> bool:
    """Route plain parameters around typer's pydantic conversion; True if installed."""
    try:
        core = importlib.import_module("typer.core")
        coercion = importlib.import_module("typer._coercion")
    except ImportError:
        return False
    original = getattr(core, "build_runtime_param", None)
    base = getattr(coercion, "RuntimeParam", None)
    if original is None or base is None or getattr(original, "labtrust_light", False):
        return False
    from typer import BadParameter

    @dataclass(frozen=True)
    class LightParam(base):  # type: ignore[misc, valid-type]
        convert: Any
        expects: str
        many: bool

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                if self.many:
                    return [self.convert(v) for v in value]
                return self.convert(value)
            except (KeyError, TypeError, ValueError):
                shown = list(value) if self.many else value
                raise BadParameter(
                    f"{shown!r} is not {self.expects}.", ctx=ctx, param=param
                ) from None

    def build_runtime_param(descriptor: Any) -> Any:
        found = _converter(descriptor.annotation)
        if found is None or getattr(descriptor, "file_annotation", None) is not None:
            return original(descriptor)
        if not _plain_parameter_info(descriptor.parameter_info):
            return original(descriptor)
        convert, expects, many = found
        return LightParam(
            parameter_info=descriptor.parameter_info,
            annotation=descriptor.annotation,
            convert=convert,
            expects=expects,
            many=many,
        )

    build_runtime_param.labtrust_light = True  # type: ignore[attr-defined]
    setattr(core, "build_runtime_param", build_runtime_param)  # noqa: B010 (a module seam)
    return True


def _no_type(ctx: Any) -> None:
    return None


def tidy_metavars(command: Any) -> None:
    """Give every option without a metavar its name in capitals and drop the type typer prints
    after an argument's name, keeping choices visible (recursively)."""
    for param in getattr(command, "params", ()):
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is not None and getattr(descriptor, "is_choice", False):
            continue  # typer shows the choices: <local|ray>
        if getattr(param, "param_type_name", "") == "argument":
            if hasattr(param, "display_type_rich"):
                param.display_type_rich = _no_type  # "KIND", not "KIND <str>"
            continue
        plain = getattr(param, "metavar", "") is None and not getattr(param, "is_flag", False)
        if plain and param.name:
            param.metavar = param.name.upper()
    for sub in (getattr(command, "commands", None) or {}).values():
        tidy_metavars(sub)


# --------------------------------------------------------------------------------------------
# Build only what the command line needs
# --------------------------------------------------------------------------------------------

#: Root options that take a value (the token after them is not a command name).
_VALUE_OPTIONS = ("--profile",)


def command_name(args: list[str]) -> str | None:
    """The command named on the command line (the first word after the root options)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in _VALUE_OPTIONS
        else:
            return arg
    return None


def _name_of(info: Any) -> str | None:
    name = getattr(info, "name", None)
    if isinstance(name, str):
        return name
    callback = getattr(info, "callback", None)
    return callback.__name__.lower().replace("_", "-") if callback is not None else None


def _stub(callback: Any) -> Any:
    """A parameterless stand-in with the same name and docstring (so the same help text)."""

    def stub() -> None:
        return None

    stub.__name__, stub.__qualname__ = callback.__name__, callback.__qualname__
    stub.__doc__ = callback.__doc__
    return stub


def _summary_of(app: Any) -> Any:
    """A copy of ``app`` whose commands (recursively) have parameterless stand-in callbacks:
    building it costs no signature inspection, and its help lists the same commands."""
    import copy

    summary = copy.copy(app)
    commands = []
    for info in app.registered_commands:
        stand_in = copy.copy(info)
        if info.callback is not None:
            stand_in.callback = _stub(info.callback)
        commands.append(stand_in)
    groups = []
    for info in app.registered_groups:
        stand_in = copy.copy(info)
        if getattr(info, "typer_instance", None) is not None:
            stand_in.typer_instance = _summary_of(info.typer_instance)
        groups.append(stand_in)
    summary.registered_commands, summary.registered_groups = commands, groups
    return summary


def build_command(app: Any, args: list[str]) -> Any:
    """The click command for ``args``: with a known command name, a root holding that command
    only; without one (root help, ``--version``), a root whose commands are summaries; else
    (an unknown name, for click's error) everything. Building every command's parameters costs
    more than the rest of a cheap command, and only one is ever run."""
    import copy

    import typer

    name = command_name(args)
    commands = [i for i in app.registered_commands if _name_of(i) == name]
    groups = [i for i in app.registered_groups if _name_of(i) == name]
    if name is None:
        target = _summary_of(app)
    elif commands or groups:
        target = copy.copy(app)
        target.registered_commands, target.registered_groups = commands, groups
    else:
        target = app
    command = typer.main.get_command(target)
    tidy_metavars(command)
    return command
