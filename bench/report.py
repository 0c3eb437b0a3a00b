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
    "resume10k": "resume of {wide} naps, one failed (% of first run)",
    "missions100": "{missions} missions of {mission_steps} steps at once",
    "fanout10k": "fan-out of {wide} naps of {wide_nap_ms} ms + join",
}
RESUMES = ("resume", "resume10k")
STEPS = {
    "chain": lambda s: s["chain"],
    "fanout": lambda s: s["fanout"] + 1,
    "resume": lambda s: 2 * s["resume"],
    "resume10k": lambda s: s["wide"] + 2,
    "missions100": lambda s: s["missions"] * s["mission_steps"],
    "fanout10k": lambda s: s["wide"] + 1,
}
"""Steps (items included) a scenario's run orchestrates, for the server's CPU per step."""


def summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def figures(entry: dict[str, Any], scenario: str) -> dict[str, float] | None:
    """The summary a scenario reports: seconds, or for resume the resume time as % of first."""
    if scenario in RESUMES:
        return summary([r["resume"] / r["first"] * 100 for r in entry["runs"] if r["first"] > 0])
    return summary([r["seconds"] for r in entry["runs"]])


def add_figures(result: dict[str, Any]) -> None:
    """Fill every entry's summary and its ratio of medians to plain Prefect, in place."""
    for scenario, entries in result["scenarios"].items():
        for entry in entries.values():
            entry["summary"] = figures(entry, scenario)
            entry["server_cpu"] = summary(
                [r["server_cpu"] for r in entry["runs"] if r.get("server_cpu") is not None]
            )
            if scenario in RESUMES:
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
    "resume10k": "resume {wide} naps, 1 failed (%)",
    "missions100": "{missions} x {mission_steps}-step missions",
    "fanout10k": "fan-out {wide} naps + join",
}


def scenario_title(scenario: str, scale: dict[str, Any], short: bool = False) -> str:
    titles = SHORT_TITLES if short else SCENARIO_TITLES
    scale = {"wide": 10_000, "wide_nap": 0.01, "missions": 100, "mission_steps": 20, **scale}
    return titles[scenario].format(
        nap_ms=round(scale["nap"] * 1000),
        wide_nap_ms=round(scale["wide_nap"] * 1000),
        done=scale["resume"] - 1,
        **scale,
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
    out.add_column("server CPU", justify="right")
    out.add_column("notes", overflow="fold", max_width=48)
    for scenario, entries in result["scenarios"].items():
        title = scenario_title(scenario, scale, short=True)
        for i, (system, entry) in enumerate(entries.items()):
            label = LABELS.get(system, system)
            shown = title if i == 0 else ""
            s = entry.get("summary")
            if s is None:
                reason = entry.get("reason") or "; ".join(entry.get("errors", [])[:1]) or "no run"
                out.add_row(shown, label, "—", "—", "—", "—", "—", reason, style="dim")
                continue
            if scenario in RESUMES:
                cells = [f"{s[k]:.1f}%" for k in ("median", "min", "max")]
                first, again = entry["first_seconds"], entry["resume_seconds"]
                note = (
                    f"{len(entry['runs'])} runs; first run {_seconds(first['median'])},"
                    f" resume {_seconds(again['median'])}"
                )
            else:
                cells = [_seconds(s[k]) for k in ("median", "min", "max")]
                note = ""
            if scenario == "fanout10k" and entry["runs"][-1].get("peak_rss_mb"):
                note = f"client peak RSS {entry['runs'][-1]['peak_rss_mb']:.0f} MB"
            if scenario == "missions100":
                run = entry["runs"][-1]
                note = (
                    f"{run['steps_per_second']:.0f} steps/s, p95 mission {run['p95']:.2f}s;"
                    f" `autoagent list` meanwhile {run.get('list_seconds_median', 0):.2f}s"
                    f" (max {run.get('list_seconds_max', 0):.2f}s)"
                )
            errors = entry.get("errors") or []
            if errors:
                note = (note + "; " if note else "") + f"{len(errors)} failed: {errors[0]}"
            ratio = entry.get("ratio_to_prefect")
            cpu = entry.get("server_cpu")
            per_step = cpu["median"] / STEPS[scenario](scale) * 1000 if cpu else None
            out.add_row(
                shown,
                label,
                *cells,
                f"{ratio:.2f}x" if ratio is not None else "—",
                f"{cpu['median']:.1f}s, {per_step:.1f} ms/step" if cpu else "—",
                note,
                style="bold" if system == "autoagent" else None,
            )
        out.add_section()
    return out


def _median(result: dict[str, Any], scenario: str, system: str) -> float | None:
    entry = result["scenarios"].get(scenario, {}).get(system) or {}
    s = entry.get("summary")
    return s["median"] if s else None


def last_line(result: dict[str, Any]) -> str:
    """``autoagent chain40=… fanout200=… fanout10k=… resume=… missions100=…`` from AutoAgent's
    medians (resume: the wide fan-out's, one item failed, as % of its first run)."""

    def median(scenario: str, fmt: str) -> str:
        found = _median(result, scenario, "autoagent")
        return fmt.format(found) if found is not None else "error"

    return (
        f"autoagent chain40={median('chain', '{:.2f}s')}"
        f" fanout200={median('fanout', '{:.2f}s')}"
        f" fanout10k={median('fanout10k', '{:.2f}s')}"
        f" resume={median('resume10k', '{:.1f}%')}"
        f" missions100={median('missions100', '{:.2f}s')}"
    )


PEERS = ("prefect", "temporal", "dbos")


def ratios_line(result: dict[str, Any]) -> str:
    """AutoAgent's medians over the peers' measured in the same run (below 1: AutoAgent ahead);
    ``best_peer``: the fastest peer that finished."""

    def ratio(scenario: str, peers: tuple[str, ...]) -> str:
        mine = _median(result, scenario, "autoagent")
        theirs = [m for p in peers if (m := _median(result, scenario, p)) is not None]
        return f"{mine / min(theirs):.2f}" if mine is not None and theirs else "n/a"

    return (
        f"ratios chain40/temporal={ratio('chain', ('temporal',))}"
        f" chain40/dbos={ratio('chain', ('dbos',))}"
        f" fanout200/best_peer={ratio('fanout', PEERS)}"
        f" fanout10k/best_peer={ratio('fanout10k', PEERS)}"
    )


def main(path: str) -> None:
    result = json.loads(Path(path).read_text())
    add_figures(result)
    Console().print(table(result))
    print(last_line(result))
    print(ratios_line(result))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).parent / "results/overhead.json"))
