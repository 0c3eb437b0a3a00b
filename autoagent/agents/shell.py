"""The ``shell`` agent: one command run by ``sh -c`` in its own process group.

The command gets its own session so a timeout (or any exception in the caller) kills everything
it started, background children included, not just the shell; and it dies with the mission
process, however that dies (autoagent.processes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from pydantic import BaseModel, Field

from autoagent import processes
from autoagent.agents.base import AgentContext, AgentInput, BaseAgent
from autoagent.errors import AgentInputError, ExitCodeError, StepTimeout

KILL_GRACE_SECONDS = 2.0
"""How long the process group gets between SIGTERM and SIGKILL."""

_STDERR_TAIL_LINES = 5


class ShellInput(AgentInput):
    command: str = Field(description="Run by `sh -c`.")
    env: dict[str, str] = Field(default_factory=dict, description="Merged over os.environ.")
    cwd: str | None = Field(None, description="Working directory; default: the worker's.")
    check: bool = Field(True, description="A non-zero exit fails the step (kind exit_code).")


class ShellOutput(BaseModel):
    stdout: str
    stderr: str
    exit_code: int


class ShellAgent(BaseAgent):
    """Runs a shell command; output ``{stdout, stderr, exit_code}``, trailing newlines stripped."""

    name = "shell"
    input_model = ShellInput
    output_model = ShellOutput
    idempotent = False
    error_kinds = frozenset({"exit_code", "timeout", "input"})

    def run(self, ctx: AgentContext, input: ShellInput) -> ShellOutput:
        if input.cwd is not None and not os.path.isdir(input.cwd):
            raise AgentInputError(f"shell: cwd {input.cwd!r} is not a directory")
        proc = subprocess.Popen(
            ["sh", "-c", input.command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=input.cwd,
            env=processes.step_env(input.env),
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        tracked = processes.track(ctx.process_run_id or ctx.run_id, ctx.step_path, proc.pid)
        finished = False
        try:
            stdout, stderr = proc.communicate(timeout=ctx.remaining())
            finished = True
        except subprocess.TimeoutExpired:
            raise StepTimeout(
                f"shell command {_short(input.command)} in step {ctx.step_path!r} "
                f"timed out after {ctx.timeout}s; its process group was killed"
            ) from None
        finally:
            if not finished:
                kill_process_group(proc)
            processes.untrack(tracked)
        result = ShellOutput(
            stdout=stdout.rstrip("\r\n"), stderr=stderr.rstrip("\r\n"), exit_code=proc.returncode
        )
        if input.check and result.exit_code != 0:
            raise ExitCodeError(
                _exit_message(input.command, result),
                exit_code=result.exit_code,
                stdout=result.stdout,
                stderr=result.stderr,
            )
        return result


def kill_process_group(proc: subprocess.Popen[str], grace: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM the whole group of ``proc``, SIGKILL what is left after ``grace``, reap the shell."""
    pgid = proc.pid  # start_new_session: the shell leads its own group
    if _signal_group(pgid, signal.SIGTERM):
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader so it does not keep the group alive as a zombie
            if not _signal_group(pgid, 0):
                break
            time.sleep(0.05)
        else:
            _signal_group(pgid, signal.SIGKILL)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    proc.wait()


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the group; False when no process of it is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def _exit_message(command: str, result: ShellOutput) -> str:
    if result.exit_code < 0:
        try:
            how = f"was killed by {signal.Signals(-result.exit_code).name}"
        except ValueError:
            how = f"was killed by signal {-result.exit_code}"
    else:
        how = f"exited with code {result.exit_code}"
    tail = " | ".join(result.stderr.splitlines()[-_STDERR_TAIL_LINES:])
    return f"shell command {_short(command)} {how}" + (f"; stderr: {tail}" if tail else "")


def _short(command: str, limit: int = 80) -> str:
    return repr(command if len(command) <= limit else command[: limit - 3] + "...")
