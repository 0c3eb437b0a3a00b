"""Approval forms: the generated model and schema, answers checked as the server checks them."""

from __future__ import annotations

import pytest

from autoagent.cli.render import summary
from autoagent.server import forms, inputs
from autoagent.spec.models import Approval


def _approval(**fields) -> Approval:
    return Approval.model_validate({"title": "Ship?", "fields": fields})


def test_form_has_a_decision_a_comment_and_the_fields():
    spec = _approval(
        region={"type": "enum", "choices": ["eu", "us"]},
        replicas={"type": "int", "default": 2, "description": "How many"},
        ratio={"type": "float", "default": 0.5},
        dry={"type": "bool", "default": False},
    )
    schema = forms.form_schema(forms.form_model(spec, "Ship?", "Why **now**"))
    props = schema["properties"]
    assert set(props) == {"decision", "comment", "region", "replicas", "ratio", "dry"}
    assert props["decision"]["enum"] == ["Approve", "Reject"]  # a choice to make: no default
    assert "default" not in props["decision"]
    assert props["region"]["enum"] == ["eu", "us"]
    assert "default" not in props["region"]  # the UI shows an empty input, sends no value
    assert props["replicas"] == {
        "default": 2,
        "description": "How many",
        "title": "Replicas",
        "type": "integer",
    }
    assert schema["required"] == ["decision"]  # a rejection needs no field
    assert schema["then"]["required"] == ["region"]  # an approval needs those without default
    assert props["region"]["description"] == "Required to approve"  # the form says so
    assert schema["additionalProperties"] is False


def test_form_description_is_title_then_markdown():
    model = forms.form_model(_approval(), "Ship v2?", "Built **v2**")
    assert model._description == "## Ship v2?\n\nBuilt **v2**\n"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"n": {"type": "int"}, "region": {"type": "enum", "choices": ["eu", "us"]}},
        {"ok": {"type": "bool", "default": True, "description": "d"}, "x": {"type": "float"}},
        {"s": {"type": "str", "default": "a"}},
    ],
)
def test_the_schema_is_the_one_prefect_saves_with_the_form(fields):
    """The wait marker and the CLI check answers against ``form_schema``; the server against
    the schema ``RunInput.save`` stores (built by a private helper of Prefect's, used here only
    to pin the two equal)."""
    from prefect._internal.pydantic.v2_schema import create_v2_schema

    model = forms.form_model(_approval(**fields), "Ship?", "")
    assert forms.form_schema(model) == create_v2_schema(model.__name__, model_base=model)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"decision": "yes", "n": 1}, "'yes' is not one of \\['Approve', 'Reject'\\]"),
        ({"decision": True, "n": 1}, "True is not one of"),
        ({"n": 1}, "'decision' is a required property"),
        ({"decision": "Approve"}, "'n' is a required property"),
        ({"decision": "Approve", "n": 1.5}, "1.5 is not of type 'integer'"),
        ({"decision": "Approve", "n": 1, "extra": 0}, "'extra' was unexpected"),
    ],
)
def test_answers_that_do_not_fit_are_refused_with_the_reason(answer, reason):
    schema = forms.form_schema(forms.form_model(_approval(n={"type": "int"}), "t", ""))
    with pytest.raises(ValueError, match=reason):
        forms.check_answer(schema, answer)


def test_an_answer_that_fits_passes():
    schema = forms.form_schema(forms.form_model(_approval(n={"type": "int"}), "t", ""))
    forms.check_answer(schema, {"decision": "Reject", "n": 3, "comment": "no"})
    forms.check_answer(schema, {"decision": "Approve", "n": 3})


def test_a_rejection_needs_no_field_an_approval_needs_each_without_default():
    spec = _approval(
        n={"type": "int", "description": "Ticket"}, kind={"type": "enum", "choices": ["a", "b"]}
    )
    schema = forms.form_schema(forms.form_model(spec, "t", ""))
    assert schema["properties"]["n"]["description"] == "Ticket (required to approve)"
    forms.check_answer(schema, {"decision": "Reject"})
    forms.check_answer(schema, {"decision": "Reject", "comment": "not now"})
    with pytest.raises(ValueError, match="None is not of type 'integer'"):
        forms.check_answer(schema, {"decision": "Approve", "n": None, "kind": "a"})
    with pytest.raises(ValueError, match="'x' is not of type 'integer'"):
        forms.check_answer(schema, {"decision": "Reject", "n": "x"})
    with pytest.raises(ValueError, match="'n' is a required property"):
        forms.check_answer(schema, {"decision": "Approve", "kind": "a"})
    with pytest.raises(ValueError, match="'kind' is a required property"):
        forms.check_answer(schema, {"decision": "Approve", "n": 1})


def test_default_answer_and_output():
    spec = _approval(level={"type": "str", "default": "low"}, n={"type": "int"})
    answer = forms.default_answer(spec, True, "auto-approved")
    assert answer == {"decision": "Approve", "comment": "auto-approved", "level": "low", "n": None}
    out = forms.output({"decision": "Approve", "n": 1})
    assert out["approved"] is True and "decision" not in out
    assert out["comment"] == "" and out["n"] == 1 and "answered_at" in out
    assert forms.output({"decision": "Reject"})["approved"] is False


def test_answers_fit_the_form_they_answer():
    """A run that began with an older form (``approved``, true or false) still takes answers."""
    spec = _approval(n={"type": "int"})
    schema = forms.form_schema(forms.form_model(spec, "t", ""))
    given = forms.answer(schema, True, "ok", {"n": 2})
    assert given == {"decision": "Approve", "comment": "ok", "n": 2}
    forms.check_answer(schema, given)
    older = {"properties": {"approved": {"type": "boolean"}, "comment": {"type": "string"}}}
    assert forms.answer(older, False, "no", {}) == {"approved": False, "comment": "no"}
    assert forms.approved({"approved": True}) and not forms.approved({"approved": False})


def test_input_keys_are_valid_stable_and_distinct():
    from prefect.client.schemas.objects import FlowRunInput

    paths = ["review", "deploy/review", "deploy/review[3]", "Deploy Review!", "ü"]
    keys = {inputs.wait_key(p) for p in paths} | {inputs.keyset(p)["response"] for p in paths}
    assert len(keys) == 2 * len(paths)
    for key in keys | {inputs.signal_key("payment:42 / eu")}:
        FlowRunInput(flow_run_id="00000000-0000-0000-0000-000000000000", key=key, value="1")
    assert inputs.keyset("review") == inputs.keyset("review")


def test_summary_of_waits():
    markers = [
        {"kind": "approval", "path": "review"},
        {"kind": "event", "path": "paid", "key": "invoice-7"},
        {"kind": "timer", "path": "cool", "deadline": "2030-01-01T00:00:00+00:00"},
    ]
    assert summary(markers) == (
        "approval review; event invoice-7; timer cool until 2030-01-01T00:00:00+00:00"
    )
