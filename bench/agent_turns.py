"""What AutoAgent adds to each turn of an LLM agent: time over the model's own, and bytes.

A 20-turn conversation (19 turns that call a Python tool, then the answer) against the recorded
model server on loopback (no model time to speak of: what is measured is ours), run as an
AutoAgent step on a Prefect server on a fresh PostgreSQL database, and driven by a bare loop (the
same HTTP requests and tool calls, nothing persisted, no Prefect) for the baseline. Per turn:

* time: (the step's duration - the bare loop's) / turns;
* bytes kept: the unit records in result storage (the assistant message or the tool's answer),
  and on the server (task runs of the units and the turn's log line, as the API returns them);
* the step's own result (the answer, the turns and the whole conversation), once per step.

    .venv/bin/python bench/agent_turns.py [--turns 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import services  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from examples.model_replay import ModelServer, Turn, call, say  # noqa: E402

RESULTS = HERE / "results" / "agent_turns.json"
TOOL = "bench_tools:add_one"


def _script(server: ModelServer, key: str, turns: int) -> None:
    steps: list[Turn] = [
        call(("add_one", {"n": i}), tokens=(500 + 40 * i, 30)) for i in range(1, turns)
    ]
    server.script(key, *steps, say("done", tokens=(500 + 40 * turns, 10)))


def _autoagent(server: ModelServer, provider: str, turns: int) -> dict[str, float]:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    from autoagent.api import runs
    from autoagent.server import status
    from autoagent.settings import get_settings
    from autoagent.spec import validate_data

    key = f"bench-{uuid.uuid4().hex[:8]}"
    _script(server, key, turns)
    spec = validate_data(
        {
            "name": "agent-turns",
            "agents": {
                "worker": {
                    "provider": provider,
                    "system": key,
                    "tools": [{"function": TOOL}],
                    "budget": {"max_turns": turns},
                }
            },
            "steps": [{"id": "talk", "agent": "worker", "input": {"prompt": "count"}}],
        }
    )
    flow_run = runs.create(spec, {})
    finished = runs.execute(flow_run, spec=spec)
    assert finished.state.is_completed(), finished.state.message
    runs.wait_for_records(flow_run.id, finished.journal.task_run_ids(), 30)
    step = status.load(str(flow_run.id)).status.find("talk")
    assert step is not None and step.duration is not None
    output = finished.outcomes["talk"].output
    model_seconds = sum(t["seconds"] for t in output["turns"])
    folder = get_settings().results_dir / str(flow_run.id)
    units = [p for p in folder.rglob("*") if p.is_file() and "/turn-" in str(p)]
    own = [p for p in folder.rglob("*") if p.is_file() and "/turn-" not in str(p)]
    with get_client(sync_client=True) as client:
        in_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
        task_runs = [t for t in client.read_task_runs(flow_run_filter=in_run) if "/turn-" in t.name]
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id]))
        )
    turn_logs = [entry for entry in logs if "/turn-" in entry.message]
    return {
        "step_seconds": step.duration,
        "model_seconds": model_seconds,
        "unit_bytes": sum(p.stat().st_size for p in units),
        "step_result_bytes": sum(p.stat().st_size for p in own),
        "server_task_runs": len(task_runs),
        "server_bytes": sum(len(t.model_dump_json()) for t in task_runs)
        + sum(len(entry.model_dump_json()) for entry in turn_logs),
    }


def _bare(server: ModelServer, provider: Any, turns: int) -> float:
    """The same conversation as a plain loop: requests and tool calls, nothing kept."""
    from bench_tools import add_one  # type: ignore[import-not-found]

    from autoagent.agents.chat import Tool, complete

    key = f"bare-{uuid.uuid4().hex[:8]}"
    _script(server, key, turns)
    tools = [
        Tool("add_one", "Add one.", {"type": "object", "properties": {"n": {"type": "integer"}}})
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "count"}]
    started = time.perf_counter()
    while True:
        reply = complete(
            provider, model="m", system=key, messages=messages, tools=tools, timeout=30
        )
        messages.append(reply.message)
        calls = reply.message.get("tool_calls") or []
        if not calls:
            return time.perf_counter() - started
        for c in calls:
            value = add_one(**json.loads(c["arguments"]))
            messages.append(
                {"role": "tool", "tool_call_id": c["id"], "name": c["name"], "content": str(value)}
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="agent-turns-"))
    database = f"bench_agent_{uuid.uuid4().hex[:8]}"
    services.create_database(database)
    prefect = services.start_prefect(work / "prefect-home", database, work)
    model = ModelServer()
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from autoagent.agents.provider import LLMProvider

        provider = LLMProvider(endpoint=model.endpoint, model="m")
        with temporary_settings(updates={PREFECT_API_URL: prefect.env["PREFECT_API_URL"]}):
            name = f"bench-{uuid.uuid4().hex[:6]}"
            provider.save(name)
            with console.status(f"{args.runs} conversations of {args.turns} turns…"):
                _autoagent(model, name, args.turns)  # warm-up: imports, blocks, first task runs
                ours = [_autoagent(model, name, args.turns) for _ in range(args.runs)]
                bare = [_bare(model, provider, args.turns) for _ in range(args.runs)]
    finally:
        model.close()
        prefect.stop()
        services.drop_database(database)
    n = args.turns
    step = statistics.median(r["step_seconds"] for r in ours)
    plain = statistics.median(bare)
    result = {
        "turns": n,
        "runs": args.runs,
        "step_seconds": step,
        "bare_loop_seconds": plain,
        "model_seconds_seen_by_autoagent": statistics.median(r["model_seconds"] for r in ours),
        "added_ms_per_turn": (step - plain) / n * 1000,
        "unit_bytes_per_turn": statistics.median(r["unit_bytes"] for r in ours) / n,
        "server_bytes_per_turn": statistics.median(r["server_bytes"] for r in ours) / n,
        "server_task_runs_per_turn": statistics.median(r["server_task_runs"] for r in ours) / n,
        "step_result_bytes": statistics.median(r["step_result_bytes"] for r in ours),
        "samples": {"autoagent": ours, "bare": bare},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    table = Table(
        title=f"An LLM agent's turn: what AutoAgent adds ({n} turns, median of {args.runs})"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("step, AutoAgent (s)", f"{step:.3f}")
    table.add_row("the same loop, bare (s)", f"{plain:.3f}")
    table.add_row("added per turn (ms)", f"{result['added_ms_per_turn']:.1f}")
    table.add_row("result storage per turn (bytes)", f"{result['unit_bytes_per_turn']:.0f}")
    table.add_row("server records per turn (bytes)", f"{result['server_bytes_per_turn']:.0f}")
    table.add_row("task runs per turn", f"{result['server_task_runs_per_turn']:.1f}")
    table.add_row("the step's result, once (bytes)", f"{result['step_result_bytes']:.0f}")
    console.print(table)
    console.print(f"written to {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
