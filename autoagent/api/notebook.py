"""AutoAgent from a notebook or a REPL: check a spec, start a mission in the background, answer
it, and look at what happened (a table, a plot of step timings).

    problems("examples/demo.yaml")          # [] when valid, else one line per problem
    running = start("examples/demo.yaml")   # returns at once; the mission runs in a thread
    running.wait_until_waiting()            # a step waits for someone: answer it with approve()
    report(running.result().run_id)         # renders as a table; .plot() draws the timings
"""

from __future__ import annotations

import contextvars
import html
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from autoagent.api import runs
from autoagent.api.runs import Finished
from autoagent.errors import AutoAgentError, SpecError
from autoagent.server import inputs, status
from autoagent.server.status import MissionStatus, StepStatus
from autoagent.spec import MissionSpec
from autoagent.spec.validate import load, loads, validate_data


def problems(spec: str | Path | dict[str, Any] | Any) -> list[str]:
    """The validation problems of a spec (a file path, YAML or JSON text, or data), one line
    each, naming the mission, the step and the field; empty when the spec is valid."""
    try:
        if isinstance(spec, Path) or (isinstance(spec, str) and _names_a_file(spec)):
            load(spec)
        elif isinstance(spec, str):
            loads(spec)
        else:  # a dict, or anything else: data, which gets its problems too
            validate_data(spec)
    except SpecError as exc:
        return [str(p) for p in exc.problems]
    return []


def _names_a_file(text: str) -> bool:
    if "\n" in text:
        return False
    try:
        return Path(text).is_file()
    except OSError:  # a long one-line JSON spec is no file name
        return False


@dataclass
class Running:
    """A mission started by ``start``: its run id at once, its end later."""

    run_id: str
    _thread: threading.Thread = field(repr=False)
    _finished: list[Finished] = field(default_factory=list, repr=False)
    _failed: list[BaseException] = field(default_factory=list, repr=False)

    def waiting(self) -> list[dict[str, Any]]:
        """The steps waiting now (an approval, an event, a timer), as their wait markers."""
        return inputs.waiting(UUID(self.run_id))

    def wait_until_waiting(self, timeout: float = 120) -> list[dict[str, Any]]:
        """Block until a step waits for someone (or the mission ends); what waits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.waiting()
            if found or not self._thread.is_alive():
                return found
            time.sleep(0.2)
        raise AutoAgentError(f"nothing waited within {timeout:g}s in run {self.run_id}")

    def result(self, timeout: float | None = None) -> Finished:
        """Block until the mission ends; its run id and final state."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AutoAgentError(f"run {self.run_id} has not ended after {timeout:g}s")
        if self._failed:
            raise self._failed[0]
        return self._finished[0]


def start(
    spec: str | Path | dict[str, Any] | MissionSpec,
    params: dict[str, Any] | None = None,
    *,
    auto_approve: bool = False,
) -> Running:
    """Start a spec mission in a background thread of this process and return at once."""
    loaded = (
        spec
        if isinstance(spec, MissionSpec)
        else validate_data(spec)
        if isinstance(spec, dict)
        else load(spec)
    )
    flow_run = runs.create(loaded, params or {}, auto_approve)
    finished: list[Finished] = []
    failed: list[BaseException] = []

    def drive() -> None:
        try:
            done = runs.execute(flow_run, spec=loaded)
            runs.recorded(done)
            finished.append(done)
        except BaseException as exc:  # handed to result()
            failed.append(exc)

    context = contextvars.copy_context()  # Prefect's settings (API URL) may live in one
    thread = threading.Thread(
        target=context.run, args=(drive,), name=f"mission-{flow_run.id}", daemon=True
    )
    thread.start()
    return Running(str(flow_run.id), thread, finished, failed)


@dataclass
class Report:
    """What a mission run did: a table in a notebook (``_repr_html_``), ``rows()``, ``plot()``."""

    status: MissionStatus

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "step": s.path,
                "state": s.state + (" (cached)" if s.cached else ""),
                "attempts": s.attempts,
                "seconds": round(s.duration, 3) if s.duration is not None else None,
                "error": s.error or "",
            }
            for s in self.status.walk()
        ]

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("step", "state", "attempts", "seconds", "error"))
        body = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(str(v or ''))}</td>" for v in row.values())
            + "</tr>"
            for row in self.rows()
        )
        title = html.escape(f"{self.status.mission}: {self.status.state} ({self.status.run_id})")
        return f"<p><b>{title}</b></p><table><tr>{head}</tr>{body}</table>"

    def __str__(self) -> str:
        return "\n".join(
            f"{r['step']:30} {r['state']:18} {r['attempts']:>3} {r['seconds'] or '':>8}"
            for r in self.rows()
        )

    def plot(self) -> Any:
        """A matplotlib figure: one bar per step, from when it started, as long as it ran."""
        import matplotlib.pyplot as plt

        timed = [s for s in self.status.walk() if s.started is not None and s.duration is not None]
        figure, axes = plt.subplots(figsize=(8, 0.4 * max(len(timed), 1) + 1))
        if timed:
            origin = min(s.started for s in timed if s.started is not None)
            for row, step in enumerate(reversed(timed)):
                offset = (step.started - origin).total_seconds() if step.started else 0.0
                axes.barh(row, step.duration or 0.0, left=offset, color=_colour(step))
            axes.set_yticks(range(len(timed)), [s.path for s in reversed(timed)])
        axes.set_xlabel("seconds since the first step started")
        axes.set_title(f"{self.status.mission}: step timings")
        figure.tight_layout()
        return figure


def _colour(step: StepStatus) -> str:
    return {"completed": "tab:green", "failed": "tab:red"}.get(step.state, "tab:grey")


def report(run_id: str | UUID) -> Report:
    """The status of a mission run (spec or code), read back from the server."""
    return Report(status.load(str(run_id)).status)
