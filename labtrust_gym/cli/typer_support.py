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
