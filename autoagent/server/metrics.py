"""AutoAgent's Prometheus metrics: what its missions, steps, waits, approvals and models did,
counted from the server's events (Prefect's state changes and AutoAgent's own, telemetry.py).

Counters count what happened since the exporter started (Prometheus's ``increase()`` and
``rate()`` carry totals across its restarts); gauges say how things stand now (missions by
state, what the open ones wait for, and since when). Each metric and its labels are in README.md
("Metrics").
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from autoagent.server.records import FlowRunRecord, mission_name
from autoagent.server.tags import MISSION_PREFIX
from autoagent.server.telemetry import APPROVAL_ANSWERED, MODEL_TURN

AGENT_PREFIX = "agent:"
DETECTED = "no heartbeat for"
"""How the crash-detection automation's Crashed states begin (engine/automations.py)."""
RECOVERING = "AwaitingRecovery"
"""The state an automatic resume puts a crashed run in (engine/recover.py)."""
FLOW_STATES = ("Running", "Completed", "Failed", "Crashed", "Cancelled", RECOVERING)
TASK_STATES = ("Completed", "Cached", "Failed", "Crashed", "Cancelled", "AwaitingRetry")
EVENT_NAMES = (
    *(f"prefect.flow-run.{s}" for s in FLOW_STATES),
    *(f"prefect.task-run.{s}" for s in TASK_STATES),
    APPROVAL_ANSWERED,
    MODEL_TURN,
)
SECONDS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400)
REMEMBERED = 100_000
"""Runs whose attempts are remembered (a resume is counted once per attempt)."""


class RunInfo:
    """What the exporter needs of a flow run: is it a mission's root run, and which mission."""

    def __init__(self, run: FlowRunRecord) -> None:
        self.mission = mission_name(run)
        self.root = run.parent_task_run_id is None and "autoagent" in run.tags


class Metrics:
    """The metrics, in a registry of their own, and how each event moves them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(name, doc, labels, registry=self.registry)

        mission = ("mission",)
        self.started = counter("autoagent_missions_started", "Missions started.", mission)
        self.completed = counter("autoagent_missions_completed", "Missions completed.", mission)
        self.failed = counter("autoagent_missions_failed", "Missions that failed.", mission)
        self.crashed = counter(
            "autoagent_missions_crashed", "Missions marked Crashed (any cause).", mission
        )
        self.cancelled = counter("autoagent_missions_cancelled", "Missions cancelled.", mission)
        self.resumed = counter(
            "autoagent_missions_resumed",
            "Attempts of a mission after its first (a resume, by hand or automatic).",
            mission,
        )
        self.detections = counter(
            "autoagent_crash_detections", "Crashes found by the heartbeat watch.", mission
        )
        self.auto_resumes = counter(
            "autoagent_automatic_resumes", "Crashed runs put back by automatic resume.", mission
        )
        step = ("mission", "agent")
        self.steps = counter("autoagent_steps", "Step attempts ended, by state.", (*step, "state"))
        self.retries = counter("autoagent_step_retries", "Step attempts retried.", step)
        self.step_seconds = Histogram(
            "autoagent_step_duration_seconds",
            "Run time of ended step attempts.",
            step,
            buckets=SECONDS,
            registry=self.registry,
        )
        self.answered = counter(
            "autoagent_approvals_answered",
            "Approvals answered (how: person, auto, timeout).",
            ("mission", "decision", "how"),
        )
        self.answer_seconds = Histogram(
            "autoagent_approval_answer_seconds",
            "From an approval's question to a person's answer.",
            mission,
            buckets=SECONDS,
            registry=self.registry,
        )
        model = ("provider", "model")
        self.turns = counter("autoagent_llm_turns", "Model requests answered.", model)
        self.tokens = counter(
            "autoagent_llm_tokens", "Tokens of model requests.", (*model, "direction")
        )
        self.cost = counter(
            "autoagent_llm_cost", "Cost of model requests, at the provider's prices.", model
        )
        self.missions = Gauge(
            "autoagent_missions_open",
            "Missions not ended, by state type.",
            ("state",),
            registry=self.registry,
        )
        self.waiting = Gauge(
            "autoagent_missions_waiting",
            "Missions with a step waiting now, by what it waits for.",
            ("kind",),
            registry=self.registry,
        )
        self.waited = Gauge(
            "autoagent_wait_age_seconds_max",
            "How long the oldest wait of each kind has waited.",
            ("kind",),
            registry=self.registry,
        )
        self.events = counter("autoagent_exporter_events", "Events counted.", ())
        self.polled = Gauge(
            "autoagent_exporter_last_poll_timestamp_seconds",
            "When the exporter last read the server's events.",
            registry=self.registry,
        )
        self._attempts: OrderedDict[str, int] = OrderedDict()

    def observe(self, event: dict[str, Any], run_info: Any) -> None:
        """Count one event; ``run_info(run_id)`` gives a flow run's RunInfo (None: unknown)."""
        name: str = event["event"]
        self.events.inc()
        if name.startswith("prefect.flow-run."):
            self._flow_run(event, name.removeprefix("prefect.flow-run."), run_info)
        elif name.startswith("prefect.task-run."):
            self._task_run(event, name.removeprefix("prefect.task-run."))
        elif name == APPROVAL_ANSWERED:
            self._answered(event)
        elif name == MODEL_TURN:
            self._turn(event["payload"])

    def _flow_run(self, event: dict[str, Any], state: str, run_info: Any) -> None:
        resource = event["resource"]
        run_id = resource["prefect.resource.id"].removeprefix("prefect.flow-run.")
        info = run_info(run_id)
        if info is None or not info.root:
            return
        mission = info.mission
        if state == "Running":
            count = int(resource.get("prefect.run-count") or 1)
            seen = self._attempts.get(run_id, 0)
            if count > seen:
                (self.started if count == 1 else self.resumed).labels(mission).inc()
                self._remember(run_id, count)
        elif state == RECOVERING:
            self.auto_resumes.labels(mission).inc()
        else:
            ended = {
                "Completed": self.completed,
                "Failed": self.failed,
                "Crashed": self.crashed,
                "Cancelled": self.cancelled,
            }
            ended[state].labels(mission).inc()
            if state == "Crashed" and resource.get("prefect.state-message", "").startswith(
                DETECTED
            ):
                self.detections.labels(mission).inc()

    def _task_run(self, event: dict[str, Any], state: str) -> None:
        tags = _tags(event)
        agent = tags.get(AGENT_PREFIX)
        if agent is None:
            return  # not a step (a fan-in, a wait, a batch)
        labels = (tags.get(MISSION_PREFIX, "?"), agent)
        if state == "AwaitingRetry":
            self.retries.labels(*labels).inc()
            return
        self.steps.labels(*labels, state.lower()).inc()
        run = event.get("payload", {}).get("task_run") or {}
        if state != "Cached" and run.get("total_run_time") is not None:
            self.step_seconds.labels(*labels).observe(float(run["total_run_time"]))

    def _answered(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        mission = _tags(event).get(MISSION_PREFIX, "?")
        decision = "approved" if payload.get("approved") else "rejected"
        self.answered.labels(mission, decision, payload.get("how", "person")).inc()
        if payload.get("how") == "person" and payload.get("seconds") is not None:
            self.answer_seconds.labels(mission).observe(float(payload["seconds"]))

    def _turn(self, payload: dict[str, Any]) -> None:
        model = (str(payload.get("provider", "?")), str(payload.get("model", "?")))
        self.turns.labels(*model).inc()
        self.tokens.labels(*model, "input").inc(int(payload.get("input_tokens") or 0))
        self.tokens.labels(*model, "output").inc(int(payload.get("output_tokens") or 0))
        self.cost.labels(*model).inc(float(payload.get("cost") or 0.0))

    def stand(self, open_runs: list[tuple[FlowRunRecord, list[dict[str, Any]]]]) -> None:
        """Set the gauges from the open mission runs and their waits, read just now."""
        now = datetime.now(UTC)
        states: dict[str, int] = {}
        kinds: dict[str, int] = {}
        oldest: dict[str, float] = {}
        for run, markers in open_runs:
            state = str(run.state.type) if run.state is not None else "UNKNOWN"
            states[state] = states.get(state, 0) + 1
            for kind in {m.get("kind", "?") for m in markers}:
                kinds[kind] = kinds.get(kind, 0) + 1
            for marker in markers:
                since = marker.get("since")
                if since:
                    age = (now - datetime.fromisoformat(since)).total_seconds()
                    kind = marker.get("kind", "?")
                    oldest[kind] = max(oldest.get(kind, 0.0), age)
        for gauge, values, known in (
            (self.missions, states, ("SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING")),
            (self.waiting, kinds, ("approval", "event", "timer")),
            (self.waited, oldest, ("approval", "event", "timer")),
        ):
            for label in {*known, *values}:
                gauge.labels(label).set(values.get(label, 0))

    def _remember(self, run_id: str, count: int) -> None:
        self._attempts[run_id] = count
        self._attempts.move_to_end(run_id)
        while len(self._attempts) > REMEMBERED:
            self._attempts.popitem(last=False)


def _tags(event: dict[str, Any]) -> dict[str, str]:
    """The ``mission:`` and ``agent:`` tags among the event's related resources."""
    found: dict[str, str] = {}
    for related in event.get("related", []):
        if related.get("prefect.resource.role") != "tag":
            continue
        tag = related.get("prefect.resource.id", "").removeprefix("prefect.tag.")
        for prefix in (MISSION_PREFIX, AGENT_PREFIX):
            if tag.startswith(prefix):
                found.setdefault(prefix, tag.removeprefix(prefix))
    return found
