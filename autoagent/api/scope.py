"""Where code runs inside a mission written in Python: the root run whose id keys every step, the
path prefix of the current (sub-)mission, and the compensations its completed steps left to run
if it fails (the engine's one compensation engine runs them)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from prefect.futures import PrefectFuture

from autoagent.engine import compensation
from autoagent.engine.compensation import Undo
from autoagent.errors import AutoAgentError
from autoagent.server.client import client


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
    run_name: str = ""
    """The root run's name: a spec sub-mission's group run is named ``<run name>/<path>``."""
    tags: tuple[str, ...] = ()
    """The root run's tags, which the runs of its spec sub-missions carry too."""

    def path(self, name: str) -> str:
        return self.prefix + name

    def remember(self, undo: Undo) -> None:
        """A step's compensation, in completion (or submission) order."""
        with self.lock:
            self.undos.append(undo)

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
                with client() as prefect:
                    prefect.upsert_global_concurrency_limit_by_name(name, self.limits[name])
                self.ensured.add(name)
        return name


_scope: ContextVar[MissionScope | None] = ContextVar("autoagent_mission_scope", default=None)
_next_prefix: ContextVar[str | None] = ContextVar("autoagent_next_prefix", default=None)


def current_scope() -> MissionScope | None:
    """The scope of the mission running in this context (None outside missions)."""
    return _scope.get()


@contextlib.contextmanager
def entered(scope: MissionScope) -> Iterator[MissionScope]:
    """Run inside ``scope``; the prefix a ``sub_mission`` set for it is used up."""
    token, consumed = _scope.set(scope), _next_prefix.set(None)
    try:
        yield scope
    finally:
        _next_prefix.reset(consumed)
        _scope.reset(token)


@contextlib.contextmanager
def prefixed(prefix: str) -> Iterator[None]:
    """The path prefix of the next mission entered (a sub-mission named by its caller)."""
    token = _next_prefix.set(prefix)
    try:
        yield
    finally:
        _next_prefix.reset(token)


def next_prefix() -> str | None:
    return _next_prefix.get()


def require_scope(what: str) -> MissionScope:
    """The current scope; an error naming ``what`` when called outside a mission."""
    scope = _scope.get()
    if scope is None:
        raise AutoAgentError(f"{what} must run inside a @mission")
    return scope


def compensate_all(scope: MissionScope) -> None:
    """Undo what the mission's completed steps did, newest first, each at most once across
    crashes; a compensation that fails is logged (engine/narrate.py) and the others still run."""
    compensation.compensate_all(scope.root_run_id, scope.undos)


def completed(future: PrefectFuture[Any]) -> Callable[[], bool]:
    """Whether a submitted step completed, asked when its compensation would run."""

    def check() -> bool:
        future.wait()
        return future.state.is_completed()

    return check
