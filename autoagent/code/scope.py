"""Where code runs inside a mission: the root run whose id keys every step, the path prefix of
the current (sub-)mission, and the compensations its completed steps left to run if it fails."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from prefect import task
from prefect.futures import PrefectFuture

from autoagent.errors import AutoAgentError


@dataclass
class Undo:
    path: str
    run: Callable[[], Any]
    applies: Callable[[], bool] = lambda: True  # a submitted step: only if it completed


@dataclass
class MissionScope:
    """Where code runs: the root mission run (whose id keys every step) and the path prefix."""

    mission: str
    root_run_id: str
    prefix: str = ""
    undos: list[Undo] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    limits: dict[str, int] = field(default_factory=dict)
    ensured: set[str] = field(default_factory=set)

    def path(self, name: str) -> str:
        return self.prefix + name

    def limit(self, name: str, step: str) -> str:
        """A concurrency limit a step names, declared by a mission or in settings; created (or
        resized) on the server the first time a step of this scope names it."""
        if name not in self.limits:
            known = ", ".join(sorted(self.limits)) or "none"
            raise AutoAgentError(
                f"step {step!r}: unknown concurrency limit {name!r} (declared: {known}); declare"
                " it with @mission(concurrency={name: slots}) or in AUTOAGENT_CONCURRENCY_LIMITS"
            )
        with self.lock:
            if name not in self.ensured:
                from autoagent.runs import _client

                with _client() as client:
                    client.upsert_global_concurrency_limit_by_name(name, self.limits[name])
                self.ensured.add(name)
        return name


SCOPE: ContextVar[MissionScope | None] = ContextVar("autoagent_mission_scope", default=None)
NEXT_PREFIX: ContextVar[str | None] = ContextVar("autoagent_next_prefix", default=None)


def current_scope() -> MissionScope | None:
    """The scope of the mission running in this context (None outside missions)."""
    return SCOPE.get()


def require_scope(what: str) -> MissionScope:
    """The current scope; an error naming ``what`` when called outside a mission."""
    scope = SCOPE.get()
    if scope is None:
        raise AutoAgentError(f"{what} must run inside a @mission")
    return scope


# -- compensation ---------------------------------------------------------------------------------
def remember(scope: MissionScope, path: str, run: Callable[[], Any]) -> None:
    with scope.lock:
        scope.undos.append(Undo(path, run))


def compensate_all(scope: MissionScope) -> None:
    """Newest first, each at most once across crashes (the same marker as spec sagas)."""
    from uuid import UUID

    from autoagent import waits
    from tasks.compensate import started_key

    for undo in reversed(scope.undos):
        if not undo.applies():
            continue
        if not waits.write_input(
            UUID(scope.root_run_id), started_key(undo.path), {"path": undo.path}
        ):
            continue  # started before a crash: never twice
        try:
            task(name="compensate", task_run_name=f"{undo.path}#compensate")(undo.run)()
        except Exception as exc:  # reported; one failed undo must not stop the others
            logger().error("the compensation of %r failed: %s", undo.path, exc)


def completed(future: PrefectFuture[Any]) -> bool:
    future.wait()
    return future.state.is_completed()


def logger() -> Any:
    """The run's logger (shown in the Prefect UI), or a plain one outside a run."""
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except Exception:
        import logging

        return logging.getLogger("autoagent.code")
