"""The bar chart: one panel per scenario, one bar per system (median, min/max as error bars).

One panel each because the scenarios do not share a unit or a scale: the chain and the fan-out
are seconds, the resume is a percentage of the first run. Matplotlib's Agg backend draws it
without a display. A system that could not run shows "n/a" with no bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from report import RESUMES, scenario_title
from systems import LABELS

COLORS = {"autoagent": "#d9480f", "prefect": "#1c7ed6", "temporal": "#2b8a3e", "dbos": "#7048e8"}


def draw(result: dict[str, Any], path: Path) -> None:
    scenarios = result["scenarios"]
    scale = result["meta"]["scale"]
    fig, axes = plt.subplots(1, len(scenarios), figsize=(5 * len(scenarios), 4.8), squeeze=False)
    for ax, (scenario, entries) in zip(axes[0], scenarios.items(), strict=True):
        names = list(entries)
        for x, name in enumerate(names):
            s = entries[name].get("summary")
            if s is None:
                ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=9, color="#868e96")
                continue
            ax.bar(
                x,
                s["median"],
                color=COLORS.get(name, "#495057"),
                yerr=[[s["median"] - s["min"]], [s["max"] - s["median"]]],
                capsize=5,
                width=0.65,
            )
            label = f"{s['median']:.1f}%" if scenario in RESUMES else f"{s['median']:.2f}s"
            ax.annotate(
                label,
                (x, s["max"]),
                textcoords="offset points",
                xytext=(0, 4),
                ha="center",
                fontsize=9,
            )
        ax.set_xticks(range(len(names)), [LABELS.get(n, n) for n in names], fontsize=9)
        title = scenario_title(scenario, scale)
        counts = {len(e.get("runs", [])) for e in entries.values() if e.get("summary")}
        if counts and max(counts) != result["meta"]["runs_done"]:
            title += f", {max(counts)} runs"
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("% of the first run's time" if scenario in RESUMES else "seconds")
        ax.margins(y=0.15)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    meta = result["meta"]
    server = meta.get("prefect_server_kind", "server")
    fig.suptitle(
        f"Orchestration overhead, median of {meta['runs_done']} runs (bars: min to max)"
        f" — {meta['cpu_count']} cores, Prefect {server} on PostgreSQL",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
