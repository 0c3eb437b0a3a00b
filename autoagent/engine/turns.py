"""The durable units of an LLM agent's conversation: one model request, one tool call.

Each is a Prefect task run of its own, named by its path (``<step>/turn-3/model``,
``<step>/turn-3/call-2``), its result persisted under that path and a basis (the step's input and
agents, the agent that asks, the call's arguments; design.md §5, §6). The unit writes its result
itself, at once: Prefect would stage a nested task's result in the step's transaction and commit
it only when the step completes, so a crash mid-step lost every finished turn (the crash test
caught it). A resumed conversation reads
each finished unit from result storage, with no task run and no request to the model, and the
unit in flight runs again (at-least-once). The conversation itself is rebuilt from these results:
it is never a parameter of a flow run nor a record on the server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed
from prefect.utilities.annotations import quote

from autoagent.engine import narrate
from autoagent.engine.journal import keep_run
from autoagent.engine.results import MISSING, Results

MODEL_TASK = "model"
TOOL_TASK = "tool"


def _run_unit(*, root_run_id: str, path: str, basis: Any, work: Any, said: Any) -> Any:
    """The unit's work (a callable, passed quoted: its inputs are not Prefect's to walk), its
    result recorded before the unit counts as done; its state's message says what it did (the
    model, tokens and tools of a turn), which ``autoagent status`` shows."""
    value = work()
    Results(root_run_id).record(path, basis, value)
    return Completed(data=value, message=said(value) if said is not None else None)


_OPTIONS: dict[str, Any] = {
    "task_run_name": "{path}",
    "persist_result": False,  # recorded by the unit itself (above)
    "cache_policy": NO_CACHE,
    "on_completion": [keep_run],
    "on_failure": [keep_run],  # the step says why it failed, once
}
model_unit = task(_run_unit, name=MODEL_TASK, **_OPTIONS)
tool_unit = task(_run_unit, name=TOOL_TASK, **_OPTIONS)
narrate.quiet_engine(MODEL_TASK, TOOL_TASK)


def durably(
    unit: Any,
    results: Results,
    path: str,
    basis: Any,
    work: Callable[[], Any],
    *,
    look: bool = True,
    said: Callable[[Any], str] | None = None,
) -> tuple[Any, bool]:
    """The unit's persisted result if it finished before, else its work's result, run as its own
    task run and persisted; and whether it was read back (True) or done now. ``look=False``: no
    earlier attempt can have left one (a first run's first attempt), so none is looked for."""
    found = results.read(path, basis) if look else MISSING
    if found is not MISSING:
        return found, True
    state = unit(
        root_run_id=results.root_run_id,
        path=path,
        basis=quote(basis),
        work=quote(work),
        said=quote(said),
        return_state=True,
    )
    return state.result(), False  # a failed unit raises its error here
