"""Approval forms: the RunInput model an approval step asks with, and the answer it becomes.

The model is generated from the step's ``fields`` so that the Prefect UI renders the form, the
server validates an answer against its JSON schema (wrong type, missing or unknown field), and the
CLI and Python checks an early answer against the very same schema.

The form starts with a required ``decision``, Approve or Reject, with no default: the UI shows an
empty choice and refuses a Submit without one, so nobody rejects by leaving a toggle untouched.
The step's output says ``approved`` (true or false), as before. A field without a default is
required only to approve: a person who says no need not fill in what matters for a yes. The schema
says so with ``if Approve then required`` (JSON Schema 2020-12, which the server checks), and the
field's description in the form says it too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import pydantic
from prefect.input import RunInput

from autoagent.spec.models import Approval, ApprovalField

_TYPES: dict[str, type] = {"bool": bool, "str": str, "int": int, "float": float}
TO_APPROVE = "required to approve"
APPROVE, REJECT = "Approve", "Reject"
DECISION = "decision"


def _required_to_approve(schema: dict[str, Any], model: type[Any]) -> None:
    """Fields without a default may be left empty (null, as the UI sends them) to reject; to
    approve, each must be given, and not null."""
    names = list(getattr(model, "approve_requires", ()))
    if not names:
        return
    typed: dict[str, Any] = {}
    for name in names:
        field = schema["properties"][name]
        field.pop("default", None)  # without one, the UI leaves the input empty and sends nothing
        typed[name] = {k: v for k, v in field.items() if k not in ("title", "description")}
    schema["if"] = {"properties": {DECISION: {"const": APPROVE}}, "required": [DECISION]}
    schema["then"] = {"required": names, "properties": typed}  # given, and of its type


class Form(RunInput):
    """Base of every approval form: its fields without a default are required to approve only."""

    model_config = pydantic.ConfigDict(json_schema_extra=_required_to_approve)
    approve_requires: ClassVar[tuple[str, ...]] = ()


def form_model(approval: Approval, title: str, description: str) -> type[RunInput]:
    """The RunInput subclass of one approval: ``decision``, ``comment`` and the step's fields,
    with the markdown shown above the form (Prefect's ``with_initial_data(description=...)``)."""
    choice = Literal[APPROVE, REJECT]  # type: ignore[valid-type]
    fields: dict[str, Any] = {
        DECISION: (choice, pydantic.Field(description="Approve or reject: choose one.")),
        "comment": (str, pydantic.Field("", description="Why, for the record.")),
    }
    for name, spec in approval.fields.items():
        fields[name] = (_annotation(spec), _field(spec))
    model = pydantic.create_model("Approval", __base__=Form, **fields)
    model.approve_requires = tuple(n for n, f in approval.fields.items() if f.default is None)
    return model.with_initial_data(description=form_description(title, description))


def asked(
    approval: Approval, title: str, description: str
) -> tuple[type[RunInput], dict[str, Any]]:
    """The form of one approval, and what the step's wait marker says about it."""
    model = form_model(approval, title, description)
    return model, {"kind": "approval", "title": title, "schema": form_schema(model)}


def form_description(title: str, description: str) -> str:
    """The markdown shown above the form: the title as a heading, then the description."""
    return f"## {title}\n\n{description}".rstrip() + "\n"


def form_schema(model: type[RunInput]) -> dict[str, Any]:
    """The JSON schema the server validates answers against, as ``RunInput.save`` stores it
    (pydantic's, with its references under ``#/definitions``; a test pins the equality)."""
    schema = model.model_json_schema(by_alias=True, ref_template="#/definitions/{model}")
    if "$defs" in schema:
        schema["definitions"] = schema["$defs"]
    return schema


def check_answer(schema: dict[str, Any], answer: dict[str, Any]) -> None:
    """Validate an answer as the server does; raise ValueError with the server's wording.

    The schema is taken as written (the server first lets fields that have no default be null,
    and then says of a wrong value only that it fits none of the types), so a wrong type is
    named; an answer this accepts the server accepts."""
    from prefect.utilities import schema_tools

    try:
        schema_tools.validate(answer, schema, raise_on_error=True, preprocess=False)
    except schema_tools.ValidationError as exc:
        raise ValueError(f"Reason: {exc}") from None


def answer(
    schema: dict[str, Any], approved: bool, comment: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """An answer to the form ``schema`` (a run that began before forms had a ``decision`` asks
    for ``approved``, true or false)."""
    said: dict[str, Any] = {"comment": comment, **fields}
    if "approved" in schema.get("properties", {}):
        return {"approved": approved, **said}
    return {DECISION: APPROVE if approved else REJECT, **said}


def approved(given: dict[str, Any]) -> bool:
    """Whether an answer approves (a ``decision``, or ``approved`` from an older form)."""
    if DECISION in given:
        return bool(given[DECISION] == APPROVE)
    return bool(given.get("approved"))


def with_defaults(approval: Approval, given: dict[str, Any]) -> dict[str, Any]:
    """An answer with the fields it leaves out at their defaults."""
    defaults = {name: spec.default for name, spec in approval.fields.items()}
    return {"comment": "", **defaults, **given}


def output(given: dict[str, Any], answered_at: datetime | None = None) -> dict[str, Any]:
    """The step's output: approved, comment, each field at the top level, answered_at."""
    moment = answered_at or datetime.now(UTC)
    fields = {k: v for k, v in given.items() if k not in (DECISION, "approved")}
    return {"approved": approved(given), "comment": "", **fields, "answered_at": moment.isoformat()}


def default_answer(approval: Approval, approve: bool, comment: str) -> dict[str, Any]:
    """An answer made of the fields' defaults (auto-approve, on_timeout)."""
    return with_defaults(approval, {DECISION: APPROVE if approve else REJECT, "comment": comment})


def _annotation(spec: ApprovalField) -> Any:
    if spec.type == "enum":
        return Literal[tuple(spec.choices or ())]  # type: ignore[misc]
    return _TYPES[spec.type]


def _field(spec: ApprovalField) -> Any:
    if spec.default is None:  # null until given; the schema's if/then requires it to approve
        told = f"{spec.description} ({TO_APPROVE})" if spec.description else TO_APPROVE.capitalize()
        return pydantic.Field(None, description=told)
    return pydantic.Field(spec.default, description=spec.description)
