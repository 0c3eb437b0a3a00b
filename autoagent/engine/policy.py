"""A step's retry policy, and the Prefect task options it becomes (one place for specs and code).

Retries happen at exactly one layer: the step task's, through Prefect's ``retries``,
``retry_delay_seconds`` (the exponential backoff, spelled out per attempt), ``retry_jitter_factor``
and ``retry_condition_fn``; for an item of a batched fan-out, whose batch task run never retries,
the item's own loop (engine/batches.py) with the same delays and condition. Agents never retry on
their own; a ``StepError`` says whether another attempt could help (``retryable``) and of which
``kind`` it is, which ``retry_on`` selects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prefect import Task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.utilities.math import clamped_poisson_interval

from autoagent.errors import StepError
from autoagent.spec import Defaults, RetryBackoff, Step

AGENT_TIMEOUT_GRACE_SECONDS = 5.0
"""An agent ends itself at the step's timeout (a shell step kills its process group first);
Prefect's own timeout comes this much later, in case one does not."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often a step is tried, how long apart, on which errors, and for how long each time."""

    retries: int = 0
    backoff: RetryBackoff = field(default_factory=RetryBackoff)
    retry_on: tuple[str, ...] | None = None
    timeout: float | None = None

    @classmethod
    def of(cls, step: Step, defaults: Defaults) -> RetryPolicy:
        """A spec step's policy: its own fields, else the mission's defaults."""
        retry_on = step.retry_on if step.retry_on is not None else defaults.retry_on
        return cls(
            retries=step.retries if step.retries is not None else defaults.retries,
            backoff=step.retry_backoff or defaults.retry_backoff,
            retry_on=tuple(retry_on) if retry_on is not None else None,
            timeout=step.timeout if step.timeout is not None else defaults.timeout,
        )

    @classmethod
    def given(
        cls,
        retries: int | None = 0,
        retry_backoff: RetryBackoff | dict[str, Any] | None = None,
        retry_on: list[str] | tuple[str, ...] | None = None,
        timeout: float | None = None,
    ) -> RetryPolicy:
        """A policy from the keyword arguments of ``@step`` (a dict backoff is validated)."""
        return cls(
            retries=retries or 0,
            backoff=RetryBackoff.model_validate(retry_backoff or {}),
            retry_on=tuple(retry_on) if retry_on is not None else None,
            timeout=timeout,
        )

    def retries_after(self, error: BaseException, attempt: int) -> bool:
        """Whether attempt ``attempt`` (from 1), which raised ``error``, is tried again."""
        return attempt <= self.retries and _retryable(error, self.retry_on)

    def delay(self, attempt: int) -> float:
        """Seconds before the attempt after ``attempt``, jittered as Prefect jitters them."""
        delay = self.backoff.delays(self.retries)[attempt - 1]
        if self.backoff.jitter and delay > 0:
            return clamped_poisson_interval(delay, clamping_factor=self.backoff.jitter)
        return delay

    def task_options(self, *, agent_enforces_timeout: bool) -> dict[str, Any]:
        """Options for ``Task.with_options``. An agent ends itself at the timeout, so its task's
        own timeout comes later; a plain function has only Prefect's."""
        grace = AGENT_TIMEOUT_GRACE_SECONDS if agent_enforces_timeout else 0.0
        return {
            "retries": self.retries,
            "retry_delay_seconds": self.backoff.delays(self.retries) if self.retries else 0,
            "retry_jitter_factor": self.backoff.jitter or None,
            "retry_condition_fn": retry_condition(self.retry_on),
            "timeout_seconds": self.timeout + grace if self.timeout else None,
        }


def retry_condition(
    retry_on: tuple[str, ...] | None,
) -> Callable[[Task[..., Any], TaskRun, State], bool]:
    """Retry only StepErrors that are retryable and, when given, of a kind in ``retry_on``."""

    def should_retry(task: Task[..., Any], task_run: TaskRun, state: State) -> bool:
        try:
            state.result(raise_on_failure=True)
        except Exception as exc:
            return _retryable(exc, retry_on)
        return False

    return should_retry


def _retryable(error: BaseException, retry_on: tuple[str, ...] | None) -> bool:
    if isinstance(error, StepError):
        return error.retryable and (retry_on is None or error.kind in retry_on)
    return retry_on is None or "error" in retry_on
