"""The events AutoAgent adds to Prefect's own, for what Prefect's states do not say: an approval
answered (and how long it waited), a model turn (its tokens and cost). They go through Prefect's
event stream like any event (the engine relates them to the flow run and its tags, so the
mission's name travels with them); the metrics exporter (autoagent.server.metrics) counts them.
Sending one never fails a step: at worst a count is missing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from prefect.events import emit_event

logger = logging.getLogger("autoagent.telemetry")

APPROVAL_ANSWERED = "autoagent.approval.answered"
MODEL_TURN = "autoagent.model.turn"
EVENTS = (APPROVAL_ANSWERED, MODEL_TURN)


def approval_answered(run_id: str, path: str, approved: bool, how: str, since: str | None) -> None:
    """``how``: person (the form, the CLI, Python), auto (--auto-approve) or timeout."""
    waited = None
    if since is not None:
        waited = (datetime.now(UTC) - datetime.fromisoformat(since)).total_seconds()
    _emit(
        APPROVAL_ANSWERED,
        {"prefect.resource.id": f"autoagent.approval.{run_id}.{path}"},
        {"approved": approved, "how": how, "seconds": waited},
    )


def model_turn(
    provider: str, model: str, input_tokens: int, output_tokens: int, cost: float
) -> None:
    _emit(
        MODEL_TURN,
        {"prefect.resource.id": f"autoagent.model.{provider}.{model}"},
        {
            "provider": provider,
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost": cost,
        },
    )


def _emit(event: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
    try:
        emit_event(event=event, resource=resource, payload=payload)
    except Exception:
        logger.debug("event %s not sent", event, exc_info=True)
