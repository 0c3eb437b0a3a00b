from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from autoagent.agents import AgentContext, run_agent
from autoagent.errors import AgentInputError, ExitCodeError, StepTimeout


def ctx(timeout: float | None = None) -> AgentContext:
    return AgentContext(mission="m", step_path="s", timeout=timeout)


def test_captures_and_strips_output() -> None:
    out = run_agent("shell", ctx(), {"command": "printf 'a\\nb\\n\\n'; printf 'oops\\n' >&2"})
    assert out == {"stdout": "a\nb", "stderr": "oops", "exit_code": 0}


def test_invalid_utf8_is_replaced() -> None:
    assert run_agent("shell", ctx(), {"command": "printf '\\377'"})["stdout"] == "\ufffd"


def test_non_zero_exit_raises_exit_code_error() -> None:
    command = "echo out; echo first >&2; echo last words >&2; exit 3"
    with pytest.raises(ExitCodeError) as info:
        run_agent("shell", ctx(), {"command": command})
    err = info.value
    assert err.kind == "exit_code"
    assert (err.exit_code, err.stdout, err.stderr) == (3, "out", "first\nlast words")
    assert "code 3" in str(err) and "last words" in str(err)


def test_non_zero_exit_without_check_is_output() -> None:
    out = run_agent("shell", ctx(), {"command": "exit 4", "check": False})
    assert out == {"stdout": "", "stderr": "", "exit_code": 4}


def test_env_is_merged_and_cwd_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOAGENT_PARENT_VAR", "inherited")
    out = run_agent(
        "shell",
        ctx(),
        {
            "command": 'echo "$FOO $AUTOAGENT_PARENT_VAR $(pwd)"',
            "env": {"FOO": "bar"},
            "cwd": str(tmp_path),
        },
    )
    assert out["stdout"] == f"bar inherited {tmp_path.resolve()}"


def test_missing_cwd_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(AgentInputError, match="cwd"):
        run_agent("shell", ctx(), {"command": "true", "cwd": str(tmp_path / "nope")})


def _alive(pid: int) -> bool:
    """Running or stopped; a zombie nobody reaped yet counts as gone."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    return state != "Z"


def _wait_gone(pids: list[int], within: float) -> list[int]:
    deadline = time.monotonic() + within
    while (alive := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


@pytest.mark.parametrize("prelude", ["", "trap '' TERM; "], ids=["term", "term-ignored-kill"])
def test_timeout_kills_the_whole_process_group(tmp_path: Path, prelude: str) -> None:
    pid_file = tmp_path / "pids"
    command = f"{prelude}sleep 60 & echo $! >> {pid_file}; sleep 60 & echo $! >> {pid_file}; wait"
    start = time.monotonic()
    with pytest.raises(StepTimeout) as info:
        run_agent("shell", ctx(timeout=0.5), {"command": command})
    assert info.value.kind == "timeout"
    assert time.monotonic() - start < 4.0
    pids = [int(line) for line in pid_file.read_text().split()]
    assert len(pids) == 2
    assert _wait_gone(pids, within=3.0) == []
