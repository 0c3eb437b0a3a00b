"""What a waiting step waits for, and the exact command that answers it, in words: shown by
``autoagent run`` and ``status``, and logged on the run for the Prefect UI. No Prefect import:
the commands that only look at runs use it."""

from __future__ import annotations

from typing import Any


def waits_for(marker: dict[str, Any]) -> str:
    """What a waiting step waits for, in one line."""
    kind = marker.get("kind")
    deadline = f" (until {marker['deadline']})" if marker.get("deadline") else ""
    if kind == "timer":
        return f"waits for the clock: until {marker.get('deadline')}"
    if kind == "event":
        return f"waits for the event {marker.get('key')!r}{deadline}"
    schema = marker.get("schema") or {}
    required = set(schema.get("required", []))
    to_approve = set(_required_fields(marker))
    form = ", ".join(
        f"{name}: {_type_of(spec)}{_need(name, required, to_approve)}"
        for name, spec in schema.get("properties", {}).items()
    )
    return f"waits for approval: {marker.get('title')!r}{deadline}; form: {form}"


def _need(name: str, required: set[str], to_approve: set[str]) -> str:
    if name in required:
        return ""
    return " (required to approve)" if name in to_approve else " (optional)"


def _type_of(spec: dict[str, Any]) -> str:
    if "enum" in spec:
        return "|".join(str(c) for c in spec["enum"])
    return str(spec.get("type", "any"))


def answer_command(run_id: str, path: str, asked: dict[str, Any]) -> str:
    """The exact command that answers a waiting step: every field of an approval's form, with
    its type or choices; those needed to approve first, the optional ones in brackets."""
    if asked.get("kind") == "timer":
        return f"until {asked.get('deadline')} (nothing to answer)"
    if "key" in asked and asked.get("kind", "event") == "event":
        return f"autoagent signal {run_id} {asked['key']} --data JSON"
    fields = _form_fields(asked)
    needed = "".join(f" --field {name}=<{kind}>" for name, kind, need in fields if need)
    optional = "".join(f" [--field {name}=<{kind}>]" for name, kind, need in fields if not need)
    rejecting = " (or --reject, which needs no fields)" if needed else " [--reject]"
    return f"autoagent approve {run_id} --step {path}{needed}{optional} [--comment TEXT]{rejecting}"


_ANSWER_KEYS = ("approved", "decision", "comment")
_JSON_TYPES = {"bool": "boolean", "str": "string", "int": "integer", "float": "number"}


def _form_fields(asked: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """An approval form's own fields: name, type (or choices), and whether approving needs it."""
    needed = set(_required_fields(asked))
    schema = asked.get("schema")
    if schema:
        return [
            (name, _type_of(spec), name in needed)
            for name, spec in schema.get("properties", {}).items()
            if name not in _ANSWER_KEYS
        ]
    fields = (asked.get("approval") or {}).get("fields") or {}
    return [
        (
            name,
            "|".join(map(str, f.get("choices") or [])) or _JSON_TYPES.get(f["type"], "any"),
            name in needed,
        )
        for name, f in fields.items()
    ]


def _required_fields(asked: dict[str, Any]) -> list[str]:
    """The fields an approval needs to approve (a rejection needs none)."""
    schema = asked.get("schema")
    if schema:
        needed = [*schema.get("required", []), *schema.get("then", {}).get("required", [])]
        return [n for n in needed if n not in _ANSWER_KEYS]
    approval = asked.get("approval") or {}
    fields = approval.get("fields") or {}
    return [n for n, f in fields.items() if f.get("default") is None]
