"""Compensations (sagas): undo completed steps, in reverse order, when a mission fails.

Each compensation runs at most once, even across a crash: before its agent starts, a marker is
written with the run on the server; a resumed mission that finds the marker but no persisted
result does not run it again (it reports it as interrupted). A finished compensation is a cache
hit by its key (root run, step path, resolved input).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect import task

from autoagent import waits
from autoagent.agents import AgentContext, get_agent, run_agent
from autoagent.errors import StepError
from tasks.step import cache_key

STARTED_PREFIX = "autoagent-compensating-"


def started_key(path: str) -> str:
    return STARTED_PREFIX + waits.slug(path)


def _compensate(*, mission: str, root_run_id: str, path: str, agent: str, input: Any) -> Any:
    root = UUID(root_run_id)
    if not waits.write_input(root, started_key(path), {"path": path}):
        raise StepError(
            f"the compensation of {path!r} was interrupted by a crash; not run again (at most"
            " once): check what it did",
            kind="interrupted",
            retryable=False,
        )
    ctx = AgentContext(mission=mission, step_path=path, run_id=root_run_id, attempt=1)
    return run_agent(get_agent(agent), ctx, input or {})


def _key(context: Any, parameters: dict[str, Any]) -> str:
    return cache_key(
        parameters["root_run_id"], parameters["path"] + "#compensate", parameters["input"]
    )


compensate = task(
    _compensate,
    name="compensate",
    task_run_name="{path}#compensate",
    persist_result=True,
    result_serializer="json",
    cache_key_fn=_key,
)
