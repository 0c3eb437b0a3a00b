"""What one mission run did in this process: the journal its flow writes and its driver reads.

Each step's outcome by path, the attempts each step took, and the compensations its completed
steps left to run should the mission fail. Listeners see each outcome as it happens (the CLI's
live progress). The mission flow writes the journal of the ``LocalRun`` that drives it, or one of
its own on a worker; its groups and steps find it in their context (``current_journal``), which
the scheduler's threads copy. Nothing outlives the run: no module-level registry grows.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect import Task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from autoagent.engine.compensation import Undo
from autoagent.engine.outcome import COMPLETED, Outcome, failed_outcome

Listener = Callable[[Outcome], None]


class Journal:
    """Outcomes by step path, attempts by step path, and the compensations to run on failure."""

    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self.outcomes: dict[str, Outcome] = {}
        self.attempts: dict[str, int] = {}
        self.task_runs: dict[UUID, TaskRun] = {}
        """The task runs this process saw end, as its engine left them (state, times, count)."""
        self.group_starts: dict[UUID, datetime] = {}
        """When each group subflow run here started running (its Running state's time), by the
        task run that stands for it in its parent (its final state names that one)."""
        self._undos: list[Undo] = []
        self._listeners = list(listeners)
        self._background: list[threading.Thread] = []
        self._lock = threading.Lock()

    def listen(self, listener: Listener) -> None:
        """See each outcome recorded from now on."""
        with self._lock:
            self._listeners.append(listener)

    def record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes[outcome.path] = outcome
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):  # a broken display must not break a mission
                listener(outcome)

    def attempt(self, path: str, count: int | None = None) -> None:
        """A step task starts an attempt of ``path`` in this process (``count``: its number)."""
        with self._lock:
            self.attempts[path] = count if count is not None else self.attempts.get(path, 0) + 1

    def saw(self, task_run: TaskRun) -> None:
        """A task run ended here: a report read before the server records it shows it anyway."""
        with self._lock:
            self.task_runs[task_run.id] = task_run

    def remember(self, undos: Iterable[Undo]) -> None:
        """Compensations of a step that completed, in completion order."""
        with self._lock:
            self._undos.extend(undos)

    def take_undos(self) -> list[Undo]:
        """The compensations remembered so far, newest last; the journal forgets them."""
        with self._lock:
            taken, self._undos = self._undos, []
        return taken

    def in_background(self, work: Callable[[], None], name: str) -> None:
        """Run ``work`` in a thread with this context (settings, client); ``join`` waits for it.
        Not a daemon: a process that exits first still finishes it."""
        thread = threading.Thread(target=contextvars.copy_context().run, args=(work,), name=name)
        thread.start()
        with self._lock:
            self._background.append(thread)

    def join(self, timeout: float = 30.0) -> None:
        """Wait for the work started ``in_background`` (at most ``timeout`` seconds in all)."""
        with self._lock:
            threads, self._background = self._background, []
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def outputs(self) -> dict[str, Any]:
        """Each completed step's output by path."""
        return {path: o.output for path, o in self.outcomes.items() if o.state == COMPLETED}

    def task_run_ids(self) -> set[UUID]:
        """The task runs whose final state this process saw."""
        found = set()
        for outcome in self.outcomes.values():
            state = outcome.prefect_state
            if state is not None and state.state_details.task_run_id:
                found.add(state.state_details.task_run_id)
        return found


_current: ContextVar[Journal | None] = ContextVar("autoagent_journal", default=None)


def current_journal() -> Journal | None:
    """The journal of the mission run this code runs in (None outside a mission's flow)."""
    return _current.get()


def journal_task(task: Task[Any, Any], task_run: TaskRun, state: State) -> None:
    """A task hook (``on_completion``, ``on_failure``) that journals a step of a mission written
    as code, named by its path: a spec's scheduler journals its own steps."""
    journal = current_journal()
    if journal is None:
        return
    if state.is_completed():
        cached = state.name == "Cached"
        outcome = Outcome(task_run.name, COMPLETED, cached=cached, prefect_state=state)
    else:
        outcome = failed_outcome(task_run.name, state)
    journal.attempt(task_run.name, task_run.run_count)
    journal.saw(task_run)
    journal.record(outcome)


def keep_run(task: Task[Any, Any], task_run: TaskRun, state: State) -> None:
    """A task hook (``on_completion``, ``on_failure``) of a spec's step: the journal keeps the
    task run as it ended (the report shows it before the server has recorded it)."""
    journal = current_journal()
    if journal is not None:
        journal.saw(task_run)


def journaled(task: Task[Any, Any], **options: Any) -> Task[Any, Any]:
    """The task, with ``options``, journaling its end as a code step (its own hooks kept)."""
    return task.with_options(
        on_completion=[*task.on_completion_hooks, journal_task],
        on_failure=[*task.on_failure_hooks, journal_task],
        **options,
    )


@contextlib.contextmanager
def journaling(journal: Journal) -> Iterator[Journal]:
    token = _current.set(journal)
    try:
        yield journal
    finally:
        _current.reset(token)
