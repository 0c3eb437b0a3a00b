"""The one exception hierarchy of AutoAgent.

    AutoAgentError
    ├── SpecError            a mission spec is invalid; carries every Problem found
    ├── ReadError            text or data cannot be read as a spec (a message and its line)
    │   └── PlainError           a value that is not JSON, at its location in Python data
    ├── ChildNotFound        a child mission's file cannot be used (outside the allowed roots)
    ├── ExpressionError      an expression is malformed, unsafe or failed to render
    ├── StepError            a step failed; ``kind`` is what ``retry_on`` selects
    │   ├── StepTimeout          kind "timeout"
    │   ├── ExitCodeError        kind "exit_code"   (shell exited non-zero)
    │   ├── HttpStatusError      kind "http_status" (HTTP 4xx/5xx)
    │   ├── HttpTransportError   kind "http_transport" (connect, read, DNS)
    │   ├── AgentInputError      kind "input"       (never retried: the input is wrong)
    │   ├── ProviderError        a model provider's answer (kind "rate_limit", "auth", ...)
    │   └── PlanError            kind "plan"        (a planner's output is not valid steps)
    ├── RunError             an operation on a mission run was refused (unknown, alive, finished)
    ├── MissionFailed        a mission (or group) flow ended with failed steps
    ├── UnknownAgentError    no agent has this name (also a KeyError)
    ├── BadToolCall          an LLM agent's tool call is wrong: told to the model, never raised out
    ├── BudgetReached        a model request cut off by the agent's budget (the step ends "budget")
    ├── SuspendedWait        a wait inside a step suspended the deployed run (the attempt ends)
    └── ServerError          the server cannot be reached, or the local one cannot start

Messages are built by the constructors so every error names its context: the mission, the step
and the field for spec problems; the step path and kind for step failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ERROR_KINDS",
    "AgentInputError",
    "AutoAgentError",
    "BadToolCall",
    "BudgetReached",
    "ChildNotFound",
    "ExitCodeError",
    "ExpressionError",
    "HttpStatusError",
    "HttpTransportError",
    "MissionFailed",
    "PlainError",
    "PlanError",
    "Problem",
    "ProviderError",
    "ReadError",
    "RunError",
    "ServerError",
    "SpecError",
    "StepError",
    "StepTimeout",
    "SuspendedWait",
    "UnknownAgentError",
]


class AutoAgentError(Exception):
    """Root of every error AutoAgent raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a spec, located as precisely as we can."""

    mission: str
    step: str | None
    field: str | None
    message: str
    line: int | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        parts = [f"mission {self.mission!r}"]
        if self.step:
            parts.append(f"step {self.step!r}")
        if self.field:
            parts.append(f"field {self.field!r}")
        head = ", ".join(parts)
        return f"{where}: {head}: {self.message}" if where else f"{head}: {self.message}"


class SpecError(AutoAgentError):
    """A spec failed validation. ``problems`` holds all of them, one line each."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems), key=_problem_order)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def for_params(cls, mission: str, unknown: list[str], known: list[str]) -> SpecError:
        """Unknown ``--param`` names given to a mission."""
        have = ", ".join(known) or "none"
        return cls(
            [
                Problem(mission, None, f"params.{n}", f"unknown param (the mission has: {have})")
                for n in unknown
            ]
        )


def _problem_order(p: Problem) -> tuple:
    return (
        p.file or "",
        p.line if p.line is not None else 10**9,
        p.step or "",
        p.field or "",
        p.message,
    )


class ReadError(AutoAgentError):
    """The text cannot be read as a spec: a message and the (1-based) line where it was seen.
    Validation turns it into a Problem; a ``--param`` value into one line."""

    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.message = message
        self.line = line


class PlainError(ReadError):
    """A limit crossed while copying Python data: no line (data has none), but a location."""

    def __init__(self, message: str, loc: tuple[str | int, ...]):
        super().__init__(message, None)
        self.loc = loc


class ChildNotFound(AutoAgentError):
    """Why a child mission's file cannot be used (the message is for the user)."""


class ExpressionError(AutoAgentError):
    """An expression cannot be parsed, is unsafe, or failed while rendering."""


class StepError(AutoAgentError):
    """A step failed. ``kind`` classifies the failure for ``retry_on``; ``retryable`` is False for
    mistakes that another attempt cannot fix."""

    kind: str = "error"
    retryable: bool = True

    def __init__(self, message: str, *, kind: str | None = None, retryable: bool | None = None):
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        if retryable is not None:
            self.retryable = retryable


class StepTimeout(StepError):
    kind = "timeout"


class ExitCodeError(StepError):
    kind = "exit_code"

    def __init__(self, message: str, *, exit_code: int, stdout: str = "", stderr: str = ""):
        super().__init__(message)
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr


class HttpStatusError(StepError):
    kind = "http_status"

    def __init__(self, message: str, *, status_code: int, body: str = ""):
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class HttpTransportError(StepError):
    kind = "http_transport"


class AgentInputError(StepError):
    kind = "input"
    retryable = False


class ProviderError(StepError):
    """What the provider answered, as a kind ``retry_on`` can name."""


class PlanError(StepError):
    """A planner's output is not a valid list of steps (never retried: it would fail again)."""

    kind = "plan"
    retryable = False


class RunError(AutoAgentError):
    """An operation on a mission run was refused: unknown run, still alive, already finished."""


class MissionFailed(AutoAgentError):
    """Raised by a mission (or group) flow when one or more steps failed."""

    kind = "error"

    def __init__(self, scope: str, failed: list[Any], undone: list[Any] | None = None):
        lines = [f"{o.path}: {o.error}" for o in failed if o.state == "failed"]
        blocked = [o.path for o in failed if o.state == "blocked"]
        if blocked:
            lines.append(f"not run because a need failed: {', '.join(blocked)}")
        if undone:
            done = [o.path.removesuffix("#compensate") for o in undone if o.state == "completed"]
            lines.append(f"compensated (newest first): {', '.join(done) or 'none'}")
            lines.extend(f"{o.path}: {o.error}" for o in undone if o.state != "completed")
        super().__init__(f"{scope} failed: " + "; ".join(lines))


class UnknownAgentError(AutoAgentError, KeyError):
    """No agent has this name. Also a KeyError (a lookup that failed), whose message is readable
    (no extra quotes)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class BadToolCall(AutoAgentError):
    """A tool call an LLM agent got wrong (no such tool, arguments that are not JSON or do not
    fit): the message goes back to the model as the tool's answer, never out of the step."""


class BudgetReached(AutoAgentError):
    """A model request cut off by the budget's wall-clock timeout (not the provider's): the
    step ends as its budget says (kind ``budget``)."""

    def __init__(self, limit: str):
        super().__init__(f"budget {limit} reached during a model request")
        self.limit = limit


class SuspendedWait(AutoAgentError):
    """A wait inside a step (a tool call's approval) suspended the deployed root run: the step
    ends its attempt without a result and the mission ends its process."""

    def __init__(self, path: str):
        super().__init__(f"suspended: {path} waits")
        self.path = path


class ServerError(AutoAgentError):
    """No server to talk to: the configured one does not answer, or the local server cannot start
    (its port is taken, its process died, it never became healthy)."""


ERROR_KINDS: frozenset[str] = frozenset(
    {
        "error",
        "timeout",
        "exit_code",
        "http_status",
        "http_transport",
        "input",
        "fail",
        "expression",
        "rejected",
        "output",  # an agent's output does not fit its output model (any agent)
        "plan",  # a planner's output is not valid steps
        "crashed",  # the child run of a `runs_on` step died (its worker or machine)
        "cancelled",  # the run left its wait, or a `runs_on` step's child run was cancelled
        "interrupted",  # a compensation cut off by a crash: never run twice
        "budget",  # an LLM agent reached a limit of its budget (turns, tokens, cost, time)
        "refusal",  # the model refused to answer
        "tool_call",  # an LLM agent made more bad tool calls than it may
    }
)
"""Kinds that ``retry_on`` may name. Third-party agents may raise StepError with their own kind;
validation refuses any other kind unless a registered agent declares it in ``error_kinds``."""
