"""The mission spec as pydantic models: the data form of a mission (design.md section 4).

These models check the shape of one object at a time (unknown fields forbidden, types, exactly one
kind per step). Rules that span steps (ids, needs, cycles, references) live in ``validate.py``,
which walks the raw document so that every problem of a file is reported together.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
STEP_KINDS = ("agent", "steps", "mission", "approval", "wait", "event")


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


class ApprovalField(Strict):
    type: Literal["bool", "str", "int", "float", "enum"]
    choices: list[str | int | float] | None = None
    default: Any = None
    description: str | None = None

    @model_validator(mode="after")
    def _enum_needs_choices(self) -> ApprovalField:
        if self.type == "enum" and not self.choices:
            raise ValueError("an enum field needs 'choices'")
        return self


class Approval(Strict):
    title: str
    description: str = ""
    fields: dict[str, ApprovalField] = Field(default_factory=dict)
    timeout: float | None = Field(None, gt=0)
    on_timeout: Literal["approve", "reject", "fail"] = "fail"
    on_reject: Literal["fail", "continue"] = "fail"

    @field_validator("fields")
    @classmethod
    def _no_reserved(cls, value: dict[str, ApprovalField]) -> dict[str, ApprovalField]:
        reserved = {"approved", "comment", "answered_at"} & set(value)
        if reserved:
            raise ValueError(f"field names {sorted(reserved)} are reserved")
        return value


class Wait(Strict):
    seconds: float | str | None = None
    until: datetime | str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Wait:
        if (self.seconds is None) == (self.until is None):
            raise ValueError("give exactly one of 'seconds' or 'until'")
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
    retries: int | None = Field(None, ge=0, le=100)
    retry_backoff: RetryBackoff | None = None
    retry_on: list[str] | None = None
    timeout: float | None = Field(None, gt=0)
    compensate: Compensate | None = None
    concurrency: str | None = None
    runs_on: str | None = None
    asset: str | None = None

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
        kinds = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                f"a step needs exactly one of {', '.join(STEP_KINDS)} (found: {found})"
            )
        if self.input is not None and self.agent is None:
            raise ValueError("'input' belongs to an 'agent' step")
        if self.params is not None and self.mission is None:
            raise ValueError("'params' belongs to a 'mission' step")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)


class Step(StepFields):
    """A validated step; groups and child missions hold validated children."""

    steps: list[Step] | None = None  # type: ignore[assignment]
    child: MissionSpec | None = None  # a 'mission:' step's spec, inlined by the loader


class MissionFields(Strict):
    name: str
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    defaults: Defaults = Defaults()
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

    def walk(self) -> list[tuple[str, Step]]:
        """Every step with its path ("group/child"), parents before children."""
        out: list[tuple[str, Step]] = []

        def visit(steps: list[Step], prefix: str) -> None:
            for step in steps:
                path = f"{prefix}{step.id}"
                out.append((path, step))
                if step.steps:
                    visit(step.steps, path + "/")

        visit(self.steps, "")
        return out


Step.model_rebuild()
