"""The mission spec as pydantic models: the data form of a mission (design.md section 4).

These models check the shape of one object at a time (unknown fields forbidden, types, exactly one
kind per step). Rules that span steps (ids, needs, cycles, references) live in ``validate.py``,
which walks the raw document so that every problem of a file is reported together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from autoagent.errors import SpecError
from autoagent.spec.agents import AgentDefinition

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
STEP_KINDS = ("agent", "steps", "mission", "approval", "wait", "event")
NO_KIND = "|".join(STEP_KINDS)  # the field a problem names when a step has no kind at all
RESERVED_ANSWER_FIELDS = ("approved", "decision", "comment", "answered_at")
KIND_ERROR = "step_kind"  # pydantic error type of the kind rule, which validate.py reports itself


def kind_problems(present: Iterable[str]) -> list[tuple[str, str]]:
    """(field, message) for each breach of "exactly one kind per step", given the fields set."""
    keys = set(present)
    kinds = [k for k in STEP_KINDS if k in keys]
    found: list[tuple[str, str]] = []
    if len(kinds) > 1:
        both = " and ".join(repr(k) for k in kinds)
        found.append((kinds[1], f"a step has exactly one kind, but this one has {both}: keep one"))
    elif not kinds:
        if "input" in keys:
            found.append(("agent", "missing: a step with 'input' needs 'agent: <name>'"))
        elif "params" in keys or "child" in keys:
            found.append(("mission", "missing: a step with 'params' needs 'mission: <file>'"))
        else:
            found.append((NO_KIND, f"a step needs exactly one of {', '.join(STEP_KINDS)}"))
    kind = kinds[0] if len(kinds) == 1 else None
    for extra, owner in (("input", "agent"), ("params", "mission"), ("child", "mission")):
        if extra in keys and kind is not None and kind != owner:
            found.append(
                (extra, f"{extra!r} belongs to {owner!r} steps, but this step is a {kind!r} step")
            )
    return found


def _is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryBackoff(Strict):
    """Exponential backoff: delay n = min(base_seconds * factor**(n-1), max_seconds), +jitter."""

    base_seconds: float = Field(1.0, ge=0)
    factor: float = Field(2.0, ge=1)
    max_seconds: float = Field(60.0, ge=0)
    jitter: float = Field(0.0, ge=0, le=1)

    def delays(self, retries: int) -> list[float]:
        return [min(self.base_seconds * self.factor**n, self.max_seconds) for n in range(retries)]


class Defaults(Strict):
    """Mission-wide step defaults; a step's own fields win."""

    retries: int = Field(0, ge=0, le=100)
    retry_backoff: RetryBackoff = RetryBackoff()
    retry_on: list[str] | None = None
    timeout: float | None = Field(None, gt=0)


class Compensate(Strict):
    agent: str
    input: dict[str, Any] = Field(default_factory=dict)


def _not_reserved(name: str) -> str:
    if name in RESERVED_ANSWER_FIELDS:
        raise ValueError(
            f"{name!r} is reserved: every answer has {', '.join(RESERVED_ANSWER_FIELDS)}"
        )
    return name


class ApprovalField(Strict):
    type: Literal["bool", "str", "int", "float", "enum"]
    choices: list[str | int | float] | None = None
    default: Any = None
    description: str | None = None

    @model_validator(mode="after")
    def _enum_needs_choices(self) -> ApprovalField:
        if self.type == "enum" and not self.choices:
            raise ValueError("an enum field needs 'choices'")
        if self.default is not None and not self._fits(self.default):
            raise ValueError(f"default {self.default!r} is not a valid {self.type}")
        return self

    def _fits(self, value: Any) -> bool:
        """Whether a value is one the form accepts (JSON types: a bool is not an int)."""
        if self.type == "enum":
            return value in (self.choices or [])
        if isinstance(value, bool):
            return self.type == "bool"
        expected = {"bool": (bool,), "str": (str,), "int": (int,), "float": (int, float)}
        return isinstance(value, expected[self.type])


class Approval(Strict):
    title: str
    description: str = ""
    # a reserved name is a key error, reported even when the field's own spec is wrong too
    fields: dict[Annotated[str, AfterValidator(_not_reserved)], ApprovalField] = Field(
        default_factory=dict
    )
    timeout: float | None = Field(None, gt=0)
    on_timeout: Literal["approve", "reject", "fail"] = "fail"
    on_reject: Literal["fail", "continue"] = "fail"


class Wait(Strict):
    """A durable timer. A string is a template rendered at run time; any other string must
    already be a number of seconds or an ISO 8601 time."""

    seconds: float | str | None = None
    until: datetime | str | None = None

    @field_validator("seconds")
    @classmethod
    def _seconds(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, str) and not _is_template(value):
            try:
                value = float(value)
            except ValueError:
                raise ValueError("must be a number of seconds (or a template)") from None
        if isinstance(value, float) and not value >= 0:
            raise ValueError(f"must be 0 or more seconds (got {value:g})")
        return value

    @field_validator("until")
    @classmethod
    def _until(cls, value: datetime | str | None) -> datetime | str | None:
        if isinstance(value, str) and not _is_template(value):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(
                    f"must be an ISO 8601 time such as 2030-01-31T09:00:00Z (got {value!r})"
                ) from None
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Wait:
        if self.seconds is not None and self.until is not None:
            raise ValueError("give exactly one of 'seconds' or 'until', not both")
        if self.seconds is None and self.until is None:
            raise ValueError("give one of 'seconds' or 'until'")
        return self


class Event(Strict):
    key: str
    timeout: float | None = Field(None, gt=0)


class StepFields(Strict):
    """The fields of one step, its children left raw (validated one by one by the walker)."""

    id: str
    description: str | None = None
    agent: str | None = None
    input: dict[str, Any] | None = None
    steps: list[Any] | None = None
    mission: str | None = None
    params: dict[str, Any] | None = None
    approval: Approval | None = None
    wait: Wait | None = None
    event: Event | None = None
    needs: list[str] = Field(default_factory=list)
    when: str | bool | None = None
    for_each: str | list[Any] | None = None
    for_each_batch: int | None = Field(None, ge=1, le=10_000)
    """Items per batch task run of this step's fan-out (1: one task run per item); unset, the
    setting ``for_each_batch`` decides (engine/batches.py)."""
    retries: int | None = Field(None, ge=0, le=100)
    retry_backoff: RetryBackoff | None = None
    retry_on: list[str] | None = None
    timeout: float | None = Field(None, gt=0)
    compensate: Compensate | None = None
    concurrency: str | None = None
    runs_on: str | None = None
    asset: str | None = None
    child: dict[str, Any] | None = None  # a 'mission:' step's spec, inlined (a dumped spec)

    @field_validator("id")
    @classmethod
    def _id_is_slug(cls, value: str) -> str:
        if not STEP_ID.match(value):
            raise ValueError(
                "must start with a letter or '_' and hold only letters, digits, '_' and '-'"
                " (at most 63 characters)"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> StepFields:
        present = [
            k for k in (*STEP_KINDS, "input", "params", "child") if getattr(self, k) is not None
        ]
        problems = kind_problems(present)
        if problems:
            message = "; ".join(f"{fld}: {msg}" for fld, msg in problems)
            raise PydanticCustomError(KIND_ERROR, message)
        return self

    @property
    def kind(self) -> str:
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)


class Step(StepFields):
    """A validated step; groups and child missions hold validated children."""

    steps: list[Step] | None = None  # type: ignore[assignment]
    child: MissionSpec | None = None  # type: ignore[assignment]  # inlined by the validator


class MissionFields(Strict):
    name: str
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    defaults: Defaults = Defaults()
    concurrency: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    """Global concurrency limits (name → slots) that steps name in their ``concurrency``."""
    agents: dict[str, AgentDefinition] = Field(default_factory=dict)
    """LLM agents (spec/agents.py) that steps run by name, ahead of registered agents."""
    steps: list[Any]

    @field_validator("name")
    @classmethod
    def _name_is_slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError(
                "must be a slug: lowercase letters, digits, '-' and '_', starting with a letter"
                " or digit"
            )
        return value

    @field_validator("steps")
    @classmethod
    def _not_empty(cls, value: list[Any]) -> list[Any]:
        if not value:
            raise ValueError("a mission needs at least one step")
        return value


class MissionSpec(MissionFields):
    """A validated mission: build it with ``autoagent.spec.load`` or ``validate_data``."""

    steps: list[Step]  # type: ignore[assignment]
    # set by validation once every rule held (a model built directly has only its field checks)
    _checked: bool = PrivateAttr(default=False)
    _warnings: list[Any] = PrivateAttr(default_factory=list)

    @property
    def checked(self) -> bool:
        """Whether every validation rule of design.md §4 held for this spec."""
        return self._checked

    def __eq__(self, other: object) -> bool:
        """Equal specs hold the same fields; where their warnings' lines point does not count."""
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, MissionSpec)
        return self.__dict__ == other.__dict__ and self._checked == other._checked

    __hash__ = MissionFields.__hash__

    @property
    def warnings(self) -> list[Any]:
        """Problems that do not stop the mission (``autoagent.errors.Problem``), e.g. a shell
        command that interpolates a value unquoted; ``validate --strict`` refuses them."""
        return self._warnings

    def walk(self) -> list[tuple[str, Step]]:
        """Every step with its path ("group/child"), parents before children."""
        out: list[tuple[str, Step]] = []

        def visit(steps: list[Step], prefix: str) -> None:
            for step in steps:
                path = f"{prefix}{step.id}"
                out.append((path, step))
                children = step.child.steps if step.child is not None else step.steps
                if children:
                    visit(children, path + "/")

        visit(self.steps, "")
        return out

    def check_params(self, given: Iterable[str]) -> None:
        """Every param given to the mission is one it declares; else a SpecError naming each."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise SpecError.for_params(self.name, unknown, sorted(self.params))


Step.model_rebuild()
