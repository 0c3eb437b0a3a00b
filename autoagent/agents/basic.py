"""Built-in agents for examples and tests: ``echo``, ``fail`` and ``sleep``.

They have no side effects, so a demo can show retries ("fails twice then succeeds"), timeouts and
data flow between steps without a network or a shell.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field

from autoagent.agents.base import AgentContext, AgentInput, BaseAgent
from autoagent.errors import StepError, StepTimeout


class EchoInput(AgentInput):
    value: Any = Field(description="Any JSON value; it becomes the step's output unchanged.")


class EchoAgent(BaseAgent):
    """Returns its input value: the simplest way to shape data between steps."""

    name = "echo"
    input_model = EchoInput
    output_model = None
    idempotent = True
    error_kinds = frozenset()

    def run(self, ctx: AgentContext, input: EchoInput) -> Any:
        return input.value


class FailInput(AgentInput):
    message: str = Field("failed on purpose", description="Message of the StepError raised.")
    kind: str = Field("fail", description="Error kind, for trying out `retry_on`.")
    times: int | None = Field(
        None, ge=0, description="Fail only while attempt <= times, then succeed. None: always."
    )


class FailOutput(BaseModel):
    attempts: int


class FailAgent(BaseAgent):
    """Fails on purpose, optionally only for the first ``times`` attempts (to demo retries)."""

    name = "fail"
    input_model = FailInput
    output_model = FailOutput
    idempotent = False
    error_kinds = frozenset({"fail"})

    def run(self, ctx: AgentContext, input: FailInput) -> FailOutput:
        if input.times is not None and ctx.attempt > input.times:
            return FailOutput(attempts=ctx.attempt)
        raise StepError(input.message, kind=input.kind)


class SleepInput(AgentInput):
    seconds: float = Field(ge=0, description="How long to sleep.")


class SleepOutput(BaseModel):
    slept: float


class SleepAgent(BaseAgent):
    """Sleeps in short slices so the step's timeout is honoured promptly."""

    name = "sleep"
    input_model = SleepInput
    output_model = SleepOutput
    idempotent = True
    error_kinds = frozenset({"timeout"})

    slice_seconds: float = 0.05

    def run(self, ctx: AgentContext, input: SleepInput) -> SleepOutput:
        deadline = time.monotonic() + input.seconds
        while (left := deadline - time.monotonic()) > 0:
            remaining = ctx.remaining()
            if remaining is not None and remaining <= 0:
                raise StepTimeout(
                    f"sleep of {input.seconds}s in step {ctx.step_path!r} "
                    f"hit the step timeout of {ctx.timeout}s"
                )
            time.sleep(min(self.slice_seconds, left, remaining if remaining is not None else left))
        return SleepOutput(slept=input.seconds)
