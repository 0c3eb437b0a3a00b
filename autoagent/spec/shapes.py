"""Pydantic's errors about the shape of one object, rewritten as short spec problems.

Pydantic locates errors inside union members with the member's type (``when.str``, ``when.bool``)
and dict keys with ``[key]``; those parts are dropped so the field is a path of the document, and
the errors of one union become one message ("must be a string or true or false (got 5)").
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from autoagent.spec.hints import hint
from autoagent.spec.loader import Loc

_EXPECTED = {
    "string_type": "a string",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "datetime_type": "an ISO 8601 time",
    "datetime_parsing": "an ISO 8601 time",
    "datetime_from_date_parsing": "an ISO 8601 time",
}
_BOUNDS = {
    "greater_than": "greater than {gt}",
    "greater_than_equal": "at least {ge}",
    "less_than": "less than {lt}",
    "less_than_equal": "at most {le}",
}


def field_name(loc: Loc) -> str | None:
    """``("approval", "fields", "x")`` -> ``approval.fields.x``; ``("needs", 0)``: ``needs[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def translate(
    errors: Iterable[Any], raw: Any, model: type[BaseModel]
) -> list[tuple[Loc, str | None, str]]:
    """(location in ``raw``, field, message) for each problem in ``errors``, unions merged."""
    grouped: dict[Loc, list[Any]] = {}
    for err in errors:
        loc = _resolve(tuple(err["loc"]), raw, keep_last=err["type"] == "missing")
        grouped.setdefault(loc, []).append(err)
    out = []
    for loc, errs in grouped.items():
        kinds = {e["type"] for e in errs}
        if len(errs) > 1 and kinds <= set(_EXPECTED):
            wanted = list(dict.fromkeys(_EXPECTED[e["type"]] for e in errs))
            text = ", ".join(wanted[:-1]) + " or " + wanted[-1] if len(wanted) > 1 else wanted[0]
            out.append((loc, field_name(loc), f"must be {text} (got {_short(errs[0]['input'])})"))
            continue
        for err in errs:
            out.append((loc, field_name(loc), _message(err, loc, model)))
    return out


def _message(err: Any, loc: Loc, model: type[BaseModel]) -> str:
    kind = err["type"]
    got = f" (got {_short(err['input'])})" if "input" in err else ""
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        return "unknown field" + (hint(str(loc[-1]), known) if known else "")
    if kind == "missing":
        return "required field is missing"
    if kind in _EXPECTED:
        message = f"must be {_EXPECTED[kind]}{got}"
        if kind == "list_type" and isinstance(err.get("input"), str):
            message += f": write [{err['input']}]"
        return message
    if kind in _BOUNDS:
        ctx = {k: f"{v:g}" if isinstance(v, float) else v for k, v in err.get("ctx", {}).items()}
        return "must be " + _BOUNDS[kind].format(**ctx) + got
    if kind == "literal_error":
        return f"must be {err['ctx']['expected']}{got}"
    if kind in ("value_error", "assertion_error"):
        return err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return err["msg"] + got


def _resolve(loc: Loc, raw: Any, *, keep_last: bool) -> Loc:
    """The parts of ``loc`` that name keys or items of ``raw`` (union tags and ``[key]`` go)."""
    out: list[str | int] = []
    value = raw
    for i, part in enumerate(loc):
        in_dict = isinstance(value, dict) and part in value
        in_list = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if in_dict or in_list:
            value = value[part]
        elif not (keep_last and i == len(loc) - 1):
            continue  # a union member's tag or "[key]"
        out.append(part)
    return tuple(out)


def _fields_at(model: Any, loc: Loc) -> list[str]:
    """Field names of the model found at ``loc`` inside ``model`` (for did-you-mean hints)."""
    for part in loc:
        model = _model_in(model, part)
        if model is None:
            return []
    return list(model.model_fields) if _is_model(model) else []


def _model_in(model: Any, part: str | int) -> Any:
    if _is_model(model) and isinstance(part, str) and part in model.model_fields:
        return _unwrap(model.model_fields[part].annotation)
    origin = typing.get_origin(model)
    args = typing.get_args(model)
    if origin is list and isinstance(part, int) and args:
        return _unwrap(args[0])
    if origin is dict and len(args) == 2:
        return _unwrap(args[1])
    return None


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``; ``Annotated[X, ...]`` -> ``X``."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
