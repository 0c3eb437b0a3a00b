"""Spec data from Python as JSON-like values only, with the reading limits applied.

``validate_data`` takes what a planner or a program built: tuples where lists belong, sets,
bytes, dates, huge integers, NaN, a list that contains itself. Each is turned into the JSON value
it stands for (a tuple is a list, a date its ISO 8601 text) or reported as a problem at its path,
so what validation checks is exactly what will be stored and sent to the server. The values read
from YAML and JSON text pass through here too, which copies YAML aliases out into plain trees
within the same limits that stopped them while reading.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

from autoagent.errors import PlainError
from autoagent.spec.events import Budget, Loc, too_deep

MAX_INT_BITS = 14_000  # about 4,200 decimal digits: Python refuses to print longer integers
JSON_TYPES = "strings, numbers, booleans, null, lists and mappings"


def to_plain(data: Any, budget: Budget) -> tuple[Any, list[tuple[Loc, str]]]:
    """A copy of ``data`` made of JSON values only, and the problems found (location, message).

    A value that cannot be stored is replaced by None so that validation can go on and report
    everything else too; a crossed limit raises PlainError.
    """
    problems: list[tuple[Loc, str]] = []
    inside: set[int] = set()  # ids of the containers being copied: a repeat is a cycle

    def copy(value: Any, loc: Loc) -> Any:
        budget.values += 1
        if budget.values > budget.max_values:
            raise PlainError(budget.exceeded() or "", loc)
        kind = type(value)
        if kind is str:
            budget.bytes += len(value) + 2
            if not value.isascii() and not _encodable(value):
                problems.append((loc, "not valid Unicode (a lone surrogate): it cannot be stored"))
                return None
        elif kind is dict or kind is list or isinstance(value, Mapping | list | tuple):
            return container(value, loc)
        else:
            budget.bytes += 8
            value = scalar(value, loc)
        if budget.bytes > budget.max_bytes:
            raise PlainError(budget.exceeded() or "", loc)
        return value

    def container(value: Any, loc: Loc) -> Any:
        if len(loc) >= budget.max_depth:
            raise PlainError(too_deep(budget.max_depth), loc)
        if id(value) in inside:
            raise PlainError("a value contains itself (a list or mapping inside itself)", loc)
        inside.add(id(value))
        budget.bytes += 2
        if isinstance(value, Mapping):
            out: Any = {}
            for key, item in value.items():
                if isinstance(key, str) and (key.isascii() or _encodable(key)):
                    out[str(key)] = copy(item, (*loc, key))
                elif isinstance(key, str):
                    where = (*loc, key.encode("utf-8", "replace").decode())
                    problems.append((where, "a key that is not valid Unicode (a lone surrogate)"))
                else:
                    where = (*loc, _describe(key))
                    problems.append((where, f"a key must be a string (got {_describe(key)})"))
        else:
            out = [copy(item, (*loc, i)) for i, item in enumerate(value)]
        inside.discard(id(value))
        return out

    def scalar(value: Any, loc: Loc) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            if value.bit_length() > MAX_INT_BITS:
                problems.append((loc, "integer too large (more than 4200 digits)"))
                return None
            return int(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                problems.append((loc, f"must be a finite number (got {value})"))
                return None
            return float(value)
        if isinstance(value, str):
            return str(value)
        if isinstance(value, datetime | date | time):
            return value.isoformat()
        problems.append((loc, f"{_describe(value)} is not a spec value: specs hold {JSON_TYPES}"))
        return None

    return copy(data, ()), problems


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _describe(value: Any) -> str:
    """A short, safe description: never the repr of a huge or hostile object."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return "a very large integer"
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return f"a {type(value).__name__}"
