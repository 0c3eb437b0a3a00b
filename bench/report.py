"""Turns raw timings into the figures: medians, min/max, ratios, the table and the last line.

Kept apart from the runner so the figures can be recomputed from ``overhead.json`` alone
(``python bench/report.py bench/results/overhead.json`` prints the table again).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from systems import LABELS

SCENARIO_TITLES = {
    "chain": "chain of {chain} fib(10) steps",
    "fanout": "fan-out of {fanout} naps of {nap_ms} ms + join",
    "resume": "resume of {resume} steps, {done} done (% of first run)",
}


def summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def figures(entry: dict[str, Any], scenario: str) -> dict[str, float] | None:
    """The summary a scenario reports: seconds, or for resume the resume time as % of first."""
    if scenario == "resume":
        return summary([r["resume"] / r["first"] * 100 for r in entry["runs"] if r["first"] > 0])
    return summary([r["seconds"] for r in entry["runs"]])


def add_figures(result: dict[str, Any]) -> None:
    """Fill every entry's summary and its ratio of medians to plain Prefect, in place."""
    for scenario, entries in result["scenarios"].items():
        for entry in entries.values():
            entry["summary"] = figures(entry, scenario)
            if scenario == "resume":
                entry["first_seconds"] = summary([r["first"] for r in entry["runs"]])
                entry["resume_seconds"] = summary([r["resume"] for r in entry["runs"]])
        base = (entries.get("prefect") or {}).get("summary")
        for entry in entries.values():
            mine = entry.get("summary")
            entry["ratio_to_prefect"] = (
                mine["median"] / base["median"] if mine and base and base["median"] else None
            )


SHORT_TITLES = {
    "chain": "chain {chain}",
    "fanout": "fan-out {fanout} naps + join",
    "resume": "resume {resume} (% of 1st run)",
}


def scenario_title(scenario: str, scale: dict[str, Any], short: bool = False) -> str:
    titles = SHORT_TITLES if short else SCENARIO_TITLES
    return titles[scenario].format(
        nap_ms=round(scale["nap"] * 1000), done=scale["resume"] - 1, **scale
    )


def _seconds(value: float) -> str:
    return f"{value:.3f}s" if value < 10 else f"{value:.2f}s"


def table(result: dict[str, Any]) -> Table:
    scale = result["meta"]["scale"]
    caption = [
        "vs plain Prefect: this median / plain Prefect's median (lower is faster).",
        "resume: AutoAgent and plain Prefect only, no warm-up (its first run is one), resumed"
        " once the server has recorded the first run.",
    ]
    floor = (result.get("floor", {}).get("prefect_empty_flow") or {}).get("summary")
    if floor:
        caption.append(
            f"Floor: an empty plain Prefect flow run takes {_seconds(floor['median'])} here"
            " (median), under every Prefect-based figure."
        )
    out = Table(
        title=f"Orchestration overhead: medians of {result['meta']['runs_done']} runs"
        " (after one warm-up)",
        caption="\n".join(caption),
    )
    out.add_column("scenario")
    out.add_column("system")
    for name in ("median", "min", "max"):
        out.add_column(name, justify="right")
    out.add_column("vs plain Prefect", justify="right")
    out.add_column("notes", overflow="fold", max_width=48)
    for scenario, entries in result["scenarios"].items():
        title = scenario_title(scenario, scale, short=True)
        for i, (system, entry) in enumerate(entries.items()):
            label = LABELS.get(system, system)
            shown = title if i == 0 else ""
            s = entry.get("summary")
            if s is None:
                reason = entry.get("reason") or "; ".join(entry.get("errors", [])[:1]) or "no run"
                out.add_row(shown, label, "—", "—", "—", "—", reason, style="dim")
                continue
            if scenario == "resume":
                cells = [f"{s[k]:.1f}%" for k in ("median", "min", "max")]
                first, again = entry["first_seconds"], entry["resume_seconds"]
                note = (
                    f"{len(entry['runs'])} runs; first run {_seconds(first['median'])},"
                    f" resume {_seconds(again['median'])}"
                )
            else:
                cells = [_seconds(s[k]) for k in ("median", "min", "max")]
                note = ""
            errors = entry.get("errors") or []
            if errors:
                note = (note + "; " if note else "") + f"{len(errors)} failed: {errors[0]}"
            ratio = entry.get("ratio_to_prefect")
            out.add_row(
                shown,
                label,
                *cells,
                f"{ratio:.2f}x" if ratio is not None else "—",
                note,
                style="bold" if system == "autoagent" else None,
            )
        out.add_section()
    return out


def last_line(result: dict[str, Any]) -> str:
    """``autoagent chain40=<s>s fanout200=<s>s resume=<pct>%`` from AutoAgent's medians."""
    scale = result["meta"]["scale"]

    def median(scenario: str, fmt: str) -> str:
        entry = result["scenarios"].get(scenario, {}).get("autoagent") or {}
        s = entry.get("summary")
        return fmt.format(s["median"]) if s else "error"

    return (
        f"autoagent chain{scale['chain']}={median('chain', '{:.2f}s')}"
        f" fanout{scale['fanout']}={median('fanout', '{:.2f}s')}"
        f" resume={median('resume', '{:.1f}%')}"
    )


def main(path: str) -> None:
    result = json.loads(Path(path).read_text())
    add_figures(result)
    Console().print(table(result))
    print(last_line(result))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).parent / "results/overhead.json"))
