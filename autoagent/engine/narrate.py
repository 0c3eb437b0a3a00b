"""What a mission run tells the people who watch it: one line per event, in the logs of its root
run on the server, where the Prefect UI shows them (a step of a group too, so one page tells the
whole story). Skipped and not run (and why), failed (kind, message, attempts), waiting (for what,
how to answer), answered (by whom when known, the values, the comment), run again after a crash or
a wait, compensating.

Prefect's own lines for the same events say less and repeat themselves (a failed step logged its
traceback twice, a skipped step looked like an error), so ``quiet_engine`` drops those for step
tasks and for a mission's expected failure; an unexpected error keeps its traceback.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging import get_logger
from prefect.logging.loggers import PrefectLogAdapter
from prefect.utilities.annotations import BaseAnnotation

from autoagent.errors import MissionFailed, StepError
from autoagent.server.answering import answer_command, waits_for


def _logger(root_run_id: str | UUID) -> PrefectLogAdapter:
    """Logs of the root mission run, whichever run (a group's) the code runs in; on the console,
    named as the run the code runs in."""
    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    extra = {
        "flow_run_id": str(root_run_id),
        "flow_run_name": run.name if run is not None else str(root_run_id),
        "flow_name": context.flow.name if context is not None and context.flow else "mission",
    }
    return PrefectLogAdapter(get_logger("prefect.flow_runs"), extra=extra)


def skipped(root_run_id: str, path: str, reason: str) -> None:
    _logger(root_run_id).info("%s %s", path, reason)


def not_run(root_run_id: str, path: str, reason: str) -> None:
    _logger(root_run_id).warning("%s %s", path, reason)


def failed(root_run_id: str, path: str, kind: str | None, error: str | None, tries: int) -> None:
    after = f" after {tries} attempts" if tries > 1 else ""
    _logger(root_run_id).error("%s failed (%s)%s: %s", path, kind or "error", after, error)


def waiting(root_run_id: str, path: str, marker: dict[str, Any]) -> None:
    """A step starts waiting: for what, and how to answer it."""
    said = f"{path} {waits_for(marker)}"
    if marker.get("kind") == "approval":
        command = answer_command(str(root_run_id), path, marker)
        said += f". Answer it in the Prefect UI (the run's Resume) or: {command}"
    elif marker.get("kind") == "event":
        said += f". Send it with: {answer_command(str(root_run_id), path, marker)}"
    _logger(root_run_id).info("%s", said)


def answered(root_run_id: str, path: str, output: dict[str, Any], by: str | None) -> None:
    """An approval's answer: the decision, who gave it (when known), the comment and the values."""
    verdict = "approved" if output.get("approved") else "rejected"
    who = f" by {by}" if by else ""
    comment = f": {output['comment']!r}" if output.get("comment") else ""
    values = ", ".join(
        f"{name}={value!r}"
        for name, value in output.items()
        if name not in ("approved", "comment", "answered_at")
    )
    shown = f" ({values})" if values else ""
    _logger(root_run_id).info("%s %s%s%s%s", path, verdict, who, comment, shown)


def turn(root_run_id: str, path: str, turn: dict[str, Any]) -> None:
    """One turn of an LLM agent: who, which model, tokens, cost, the tools it called, how long."""
    tools = ", ".join(turn["tools"]) if turn["tools"] else "no tool (answered)"
    _logger(root_run_id).info(
        "%s: %s on %s, %s+%s tokens, cost %.4g, %.2fs; called %s",
        path,
        turn["agent"],
        turn["model"],
        turn["input_tokens"],
        turn["output_tokens"],
        turn["cost"],
        turn["seconds"],
        tools,
    )


def budget(root_run_id: str, path: str, said: str) -> None:
    _logger(root_run_id).warning("%s: %s; it returns what it has", path, said)


def received(root_run_id: str, path: str, key: str) -> None:
    _logger(root_run_id).info("%s received the event %r", path, key)


def ran_again(root_run_id: str, attempt: int, why: str) -> None:
    _logger(root_run_id).info(
        "run again (%s, attempt %s): completed steps are read from their persisted results",
        why,
        attempt,
    )


def compensating(root_run_id: str, path: str) -> None:
    _logger(root_run_id).warning("compensating %s (newest first)", path)


def compensation_failed(root_run_id: str, path: str, error: str | None) -> None:
    _logger(root_run_id).error("the compensation of %s failed: %s", path, error)


def failed_hook(task: Any, task_run: Any, state: Any) -> None:
    """A task hook (``on_failure``): a step failed for good (no retry left), one line with its
    kind. The mission run is the step's call's, or the task's ``root_run_id`` argument."""
    context = TaskRunContext.get()
    parameters = context.parameters if context is not None else {}
    call, root = (_unquoted(parameters.get(name)) for name in ("call", "root_run_id"))
    root_run_id = getattr(call, "root_run_id", None) or root
    if not root_run_id:
        return
    error = state.result(raise_on_failure=False)
    kind = error.kind if isinstance(error, StepError) else "error"
    failed(root_run_id, task_run.name, kind, str(error), task_run.run_count)


def _unquoted(value: Any) -> Any:
    """A task's argument as given (the context holds them still quoted)."""
    return value.unwrap() if isinstance(value, BaseAnnotation) else value


class _QuietEngine(logging.Filter):
    """Prefect's lines that AutoAgent's say better: a step task's "Finished in state ..." and
    the "Task run failed with ..." of an expected step failure (a StepError of a known kind),
    a mission's "Encountered exception during execution: MissionFailed(...)", and the lines
    about running AutoAgent's own task hooks. Retries' lines stay, and so does the traceback of
    an unexpected error (kind "error")."""

    def __init__(self, quiet_tasks: tuple[str, ...]):
        super().__init__()
        self.quiet_tasks = quiet_tasks

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        error = record.exc_info[1] if record.exc_info else None
        if message.startswith(("Running hook '", "Hook '")) and any(
            f"'{hook}'" in message for hook in _OUR_HOOKS
        ):
            return False  # the engine saying it runs AutoAgent's own hooks
        if getattr(record, "task_name", None) in self.quiet_tasks:
            if message.startswith("Finished in state "):
                return False
            return not (isinstance(error, StepError) and error.kind != "error")
        return not (isinstance(error, MissionFailed) and message.startswith("Encountered"))


_OUR_HOOKS = {"failed_hook", "journal_task", "keep_run"}


def quiet_engine(*quiet_tasks: str) -> None:
    """Install the filter once; a later call adds its task names to it."""
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        engine = logging.getLogger(name)
        found = next((f for f in engine.filters if isinstance(f, _QuietEngine)), None)
        if found is None:
            engine.addFilter(_QuietEngine(quiet_tasks))
        else:
            found.quiet_tasks = tuple(dict.fromkeys([*found.quiet_tasks, *quiet_tasks]))
