"""How long validation takes on large and hostile specs (design.md: linear in the spec's size).

Each shape is written as YAML and as JSON text and validated from the text, as ``autoagent
validate`` does (reading included), in this process; the figure is the median of ``--runs``:

* ``flat``: N independent steps;
* ``chain``: each step needs the one before it;
* ``reversed chain``: the same chain listed last to first;
* ``unknown needs``: a flat spec where every tenth step needs a step that does not exist;
* ``references``: a chain where every step reads the first step's output;
* ``alias bomb`` and ``deep nesting``: refused by the reader's limits, before memory grows.

    .venv/bin/python bench/validate.py [--steps 10000] [--runs 3]

Writes ``results/validate.json`` and prints a table with the target (≤ 2 s for 10,000 steps).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from autoagent.errors import SpecError  # noqa: E402
from autoagent.spec import loads  # noqa: E402

RESULTS = HERE / "results" / "validate.json"
TARGET = 2.0  # seconds for a 10,000-step spec


def _step(i: int, needs: list[str] | None = None, value: Any = None) -> dict[str, Any]:
    step: dict[str, Any] = {"id": f"s{i}", "agent": "echo", "input": {"value": value or i}}
    if needs:
        step["needs"] = needs
    return step


def flat(n: int) -> dict[str, Any]:
    return {"name": "flat", "steps": [_step(i) for i in range(n)]}


def chain(n: int) -> dict[str, Any]:
    return {"name": "chain", "steps": [_step(i, [f"s{i - 1}"] if i else None) for i in range(n)]}


def reversed_chain(n: int) -> dict[str, Any]:
    spec = chain(n)
    spec["steps"].reverse()
    return {**spec, "name": "reversed-chain"}


def unknown_needs(n: int) -> dict[str, Any]:
    steps = [_step(i, [f"missing{i}"] if i % 10 == 0 else None) for i in range(n)]
    return {"name": "unknown-needs", "steps": steps}


def references(n: int) -> dict[str, Any]:
    steps = [_step(i, [f"s{i - 1}"], "{{ steps.s0.output }}") if i else _step(0) for i in range(n)]
    return {"name": "references", "steps": steps}


SHAPES: dict[str, Callable[[int], dict[str, Any]]] = {
    "flat": flat,
    "chain": chain,
    "reversed chain": reversed_chain,
    "unknown needs": unknown_needs,
    "references": references,
}

ALIAS_BOMB = "\n".join(
    ["name: bomb", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    + ["steps: [{id: s, agent: echo, input: {value: *a8}}]"]
)
DEEP = "name: deep\nsteps: " + "[" * 5000 + "]" * 5000


def _time(text: str, fmt: str, runs: int) -> tuple[float, int]:
    durations, problems = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        try:
            loads(text, fmt=fmt)
            problems = 0
        except SpecError as exc:
            problems = len(exc.problems)
        durations.append(time.perf_counter() - started)
    return statistics.median(durations), problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    rows: list[dict[str, Any]] = []
    cases = [(name, make(args.steps)) for name, make in SHAPES.items()]
    with console.status("validating…") as status:
        for name, data in cases:
            for fmt in ("yaml", "json"):
                status.update(f"validating {name} ({fmt}, {args.steps} steps)…")
                text = yaml.safe_dump(data, sort_keys=False) if fmt == "yaml" else json.dumps(data)
                seconds, problems = _time(text, fmt, args.runs)
                rows.append(_row(name, fmt, len(data["steps"]), len(text), seconds, problems))
        for name, text in (("alias bomb", ALIAS_BOMB), ("deep nesting", DEEP)):
            status.update(f"validating {name}…")
            seconds, problems = _time(text, "yaml", args.runs)
            rows.append(_row(name, "yaml", None, len(text), seconds, problems))
    table = Table(title=f"Validation time (median of {args.runs}, seconds)")
    for column in ("spec", "format", "steps", "size", "seconds", "problems", "target"):
        table.add_column(column, justify="left" if column in ("spec", "format") else "right")
    for row in rows:
        met = "" if row["steps"] != 10_000 else ("✓" if row["seconds"] <= TARGET else "✗")
        table.add_row(
            row["spec"],
            row["format"],
            str(row["steps"] or ""),
            f"{row['bytes'] / 1e6:.2f} MB",
            f"{row['seconds']:.2f}",
            str(row["problems"]),
            f"{met} ≤ {TARGET:g}" if met else "",
        )
    console.print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"runs": args.runs, "rows": rows}, indent=2) + "\n")


def _row(spec: str, fmt: str, steps: int | None, size: int, seconds: float, problems: int):
    return {
        "spec": spec,
        "format": fmt,
        "steps": steps,
        "bytes": size,
        "seconds": round(seconds, 3),
        "problems": problems,
    }


if __name__ == "__main__":
    main()
