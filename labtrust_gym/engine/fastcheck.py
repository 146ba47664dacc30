"""A fast yes/no JSON-Schema check for the engine's own schemas (the initial_state on every reset).

``compile_schema(schema)`` turns the subset of JSON Schema our schemas use (type, enum, const,
required, properties, additionalProperties, items, minItems, maxItems, minLength, minimum,
maximum, exclusiveMinimum, minProperties, $ref to local $defs) into nested closures that answer
"valid or not" about 20x faster than ``jsonschema``. It never produces messages: when it says
"invalid", the caller runs ``jsonschema`` to name the field. A schema using any other keyword is
refused (``None``), so the fast path can never accept what ``jsonschema`` would reject.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_SUPPORTED = {
    "$schema",
    "title",
    "description",
    "type",
    "enum",
    "const",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "minProperties",
    "$ref",
    "$defs",
}


class _Unsupported(Exception):
    pass


def _type_check(t: str) -> Check:
    if t == "string":
        return lambda v: type(v) is str
    if t == "integer":
        return lambda v: type(v) is int or (type(v) is float and v.is_integer())
    if t == "number":
        return lambda v: type(v) is int or type(v) is float
    if t == "boolean":
        return lambda v: type(v) is bool
    if t == "object":
        return lambda v: type(v) is dict
    if t == "array":
        return lambda v: type(v) is list
    if t == "null":
        return lambda v: v is None
    raise _Unsupported(t)


def _compile(schema: Any, root: dict[str, Any]) -> Check:
    if schema is True or schema == {}:
        return lambda v: True
    if not isinstance(schema, dict) or set(schema) - _SUPPORTED:
        raise _Unsupported(str(schema)[:60])
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/") or len(schema) != 1:
            raise _Unsupported(ref)
        return _compile(root["$defs"][ref[len("#/$defs/") :]], root)
    checks: list[Check] = []
    t = schema.get("type")
    if t is not None:
        tcs = [_type_check(x) for x in (t if isinstance(t, list) else [t])]
        if len(tcs) == 1:
            checks.append(tcs[0])
        else:

            def any_type(v: Any, tcs: list[Check] = tcs) -> bool:
                return any(c(v) for c in tcs)

            checks.append(any_type)
    if "enum" in schema:
        allowed = list(schema["enum"])
        checks.append(lambda v: any(v == a and type(v) is type(a) for a in allowed))
    if "const" in schema:
        const = schema["const"]
        checks.append(lambda v: v == const and type(v) is type(const))
    num = (int, float)
    if "minLength" in schema:
        n = schema["minLength"]
        checks.append(lambda v: type(v) is not str or len(v) >= n)
    if "minimum" in schema:
        lo = schema["minimum"]
        checks.append(lambda v: type(v) not in num or v >= lo)
    if "maximum" in schema:
        hi = schema["maximum"]
        checks.append(lambda v: type(v) not in num or v <= hi)
    if "exclusiveMinimum" in schema:
        xlo = schema["exclusiveMinimum"]
        checks.append(lambda v: type(v) not in num or v > xlo)
    if "minItems" in schema:
        mi = schema["minItems"]
        checks.append(lambda v: type(v) is not list or len(v) >= mi)
    if "maxItems" in schema:
        ma = schema["maxItems"]
        checks.append(lambda v: type(v) is not list or len(v) <= ma)
    if "minProperties" in schema:
        mp = schema["minProperties"]
        checks.append(lambda v: type(v) is not dict or len(v) >= mp)
    if "items" in schema:
        item = _compile(schema["items"], root)
        checks.append(lambda v: type(v) is not list or all(item(x) for x in v))
    props = {k: _compile(s, root) for k, s in (schema.get("properties") or {}).items()}
    required = tuple(schema.get("required") or ())
    addl = schema.get("additionalProperties", True)
    extra = None if addl is False else _compile(addl, root)
    if props or required or addl is not True:

        def obj(v: Any) -> bool:
            if type(v) is not dict:
                return True
            for r in required:
                if r not in v:
                    return False
            for k, x in v.items():
                c = props.get(k)
                if c is None:
                    if extra is None or not extra(x):
                        return False
                elif not c(x):
                    return False
            return True

        checks.append(obj)
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(c(v) for c in checks)


def compile_schema(schema: dict[str, Any]) -> Check | None:
    """A fast validity check for ``schema``, or None if it uses unsupported keywords."""
    try:
        return _compile(schema, schema)
    except _Unsupported:
        return None
