"""The run graph the Prefect UI draws: a step's arrows are its needs, and nothing else.

Prefect draws an edge into a task run (or a subflow run) from each of its inputs that it can trace
to another run: a future, a state, or an object it has seen another task or flow return (by its
``id``). That last rule drew false edges: a step's internal arguments held strings such as ``""``
that an earlier step had also returned. So a step's own arguments are passed quoted (no edge),
and its needs are passed as ``wait_for``: one ``Link`` per need, an object Prefect's own
``link_state_to_*_result`` ties to the run that did the need (a task run, or a group's subflow
run). A link is not a state, so ``wait_for`` does not hold the step back for a need that was
skipped: the scheduler has already decided the step may run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prefect.states import State
from prefect.utilities.annotations import quote
from prefect.utilities.engine import link_state_to_flow_run_result, link_state_to_task_run_result


class Link:
    """Stands for the run that did a step, in the ``wait_for`` of the steps that need it."""

    __slots__ = ("__weakref__", "run_id")

    def __init__(self, run_id: Any) -> None:
        self.run_id = run_id


def link(state: State[Any] | None) -> Link | None:
    """A link to the task run that ended in ``state`` (in the current flow run); None without one
    (a step read back from its persisted result on a resume)."""
    if state is None or state.state_details.task_run_id is None:
        return None
    made = Link(state.state_details.task_run_id)
    link_state_to_task_run_result(state, made)
    return made


def link_subflow(state: State[Any] | None) -> Link | None:
    """A link to the subflow run (a group's) that ended in ``state``: the graph's node is the
    subflow run, not the task run that stands for it in its parent."""
    if state is None or state.state_details.flow_run_id is None:
        return None
    made = Link(state.state_details.flow_run_id)
    link_state_to_flow_run_result(state, made)
    return made


def links(found: Iterable[Link | None]) -> list[Link]:
    """The links that exist, for a ``wait_for``."""
    return [made for made in found if made is not None]


def quoted(**arguments: Any) -> dict[str, quote[Any]]:
    """A task's arguments, each quoted: the task gets them as they are, and the run graph draws
    no edge from them."""
    return {name: quote(value) for name, value in arguments.items()}
