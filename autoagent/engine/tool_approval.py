"""A person approves a tool call before it runs: the same durable wait as an approval step.

The form shows the agent, the tool and its arguments, and holds the arguments as a field a person
may edit; the answer is persisted under ``<call path>/approval``, so a resumed conversation never
asks twice. A rejection (with its reason) becomes the tool's answer to the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from autoagent.agents import AgentContext
from autoagent.engine.ask import answered, ask, basis, begin_wait
from autoagent.engine.graph import quoted
from autoagent.engine.journal import current_journal
from autoagent.engine.outcome import COMPLETED, WAITING, Outcome
from autoagent.engine.results import MISSING, Results
from autoagent.engine.storage import result_storage
from autoagent.engine.suspend import suspend_for
from autoagent.errors import SuspendedWait
from autoagent.spec.models import Approval, ApprovalField


def _tell(outcome: Outcome) -> None:
    """The mission's journal hears of the wait and its answer: the CLI's progress, the report."""
    journal = current_journal()
    if journal is not None:
        journal.record(outcome)


@dataclass(frozen=True)
class Verdict:
    approved: bool
    comment: str
    arguments: str
    """The arguments to call with, as JSON text (a person may have edited them)."""


def approve_call(
    ctx: AgentContext,
    path: str,
    tool: str,
    arguments: dict[str, Any],
    *,
    agent: str,
    auto_approve: bool,
    suspends: bool,
) -> Verdict:
    """A person's answer about one call of ``agent`` (``auto_approve``: approved as asked). A
    deployed run (``suspends``) suspends until it is answered (SuspendedWait); a local one waits
    here."""
    given = json.dumps(arguments, sort_keys=True)
    title = f"{agent} wants to call {tool}"
    shown = json.dumps(arguments, indent=2, sort_keys=True)
    description = (
        f"At `{path}` the agent **{agent}** asks to call the tool **{tool}** with:\n\n"
        f"```json\n{shown}\n```\n\n"
        "Approve to run it (edit `arguments` to change the call), or reject it with a reason:"
        " the agent is told the reason."
    )
    spec = Approval(
        title=title,
        description=description,
        fields={
            "arguments": ApprovalField(
                type="str",
                default=given,
                description="The call's arguments, as JSON: edit them to change the call.",
            )
        },
        on_reject="continue",
    )
    where = f"{path}/approval"
    params = {
        "approval": spec.model_dump(mode="json"),
        "title": title,
        "description": description,
        "auto_approve": auto_approve,
    }
    answer = Results(ctx.run_id).read(where, basis(params))
    if answer is MISSING:
        if not auto_approve and not answered(ctx.run_id, where, params):
            if suspends:
                suspend_for(ctx.run_id, where, params)
                raise SuspendedWait(where)
            marker = begin_wait(ctx.run_id, where, params)
            _tell(Outcome(where, WAITING, output=marker))  # `autoagent run` says how to answer
        answer = ask.with_options(result_storage=result_storage())(
            **quoted(root_run_id=ctx.run_id, path=where, **params)
        )
        _tell(Outcome(where, COMPLETED, output=answer))
    edited = answer.get("arguments")
    return Verdict(
        approved=bool(answer.get("approved")),
        comment=str(answer.get("comment") or ""),
        arguments=edited if isinstance(edited, str) and edited.strip() else given,
    )
