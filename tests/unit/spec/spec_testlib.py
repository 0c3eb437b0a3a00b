"""Helpers for the spec validation tests: run a spec, pick out one problem, find a line."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from autoagent.errors import Problem, SpecError
from autoagent.spec import loads, validate_data


def text(spec: str) -> str:
    """Dedented spec text whose first line is line 1."""
    return textwrap.dedent(spec).lstrip("\n")


def problems_of(spec: str, *, lines: bool = True, **kwargs: Any) -> list[Problem]:
    """Every problem of YAML/JSON spec text (which must be invalid).

    Every problem must name its mission and be one line; with ``lines``, every problem must
    carry the line it is about (text always has lines, unless it is not even a mapping).
    """
    with pytest.raises(SpecError) as caught:
        loads(text(spec), **kwargs)
    problems = caught.value.problems
    assert problems
    for p in problems:
        assert p.mission, p
        assert "\n" not in str(p), repr(str(p))
        assert not lines or p.line is not None, f"no line: {p}"
    return problems


def problems_of_data(data: Any, **kwargs: Any) -> list[Problem]:
    with pytest.raises(SpecError) as caught:
        validate_data(data, **kwargs)
    return caught.value.problems


def find(
    problems: list[Problem],
    *,
    step: Any = ...,
    field: Any = ...,
    contains: str = "",
) -> Problem:
    """The one problem matching ``step``, ``field`` (when given) and holding ``contains``."""
    hits = [
        p
        for p in problems
        if (step is ... or p.step == step)
        and (field is ... or p.field == field)
        and contains in p.message
    ]
    listing = "\n".join(str(p) for p in problems)
    assert len(hits) == 1, f"want one problem step={step} field={field} {contains!r}:\n{listing}"
    return hits[0]


def line_of(spec: str, needle: str, nth: int = 1) -> int:
    """1-based line of the ``nth`` line of ``spec`` (dedented) that contains ``needle``."""
    lines = [i for i, line in enumerate(text(spec).splitlines(), 1) if needle in line]
    assert len(lines) >= nth, f"{needle!r} is not in the spec {nth} times"
    return lines[nth - 1]


def assert_one_line(problems: list[Problem]) -> None:
    for p in problems:
        assert "\n" not in str(p), repr(str(p))
