"""Step processes die with their mission process, and a resume ends what a dead run left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from autoagent import processes, watchdog
from autoagent.processes import alive

_MISSION = textwrap.dedent(
    """
    import sys
    from autoagent.agents import AgentContext, run_agent

    print("started", flush=True)
    run_agent("shell", AgentContext(mission="m", step_path="s"), {"command": sys.argv[1]})
    """
)


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOAGENT_HOME", str(tmp_path))
    from autoagent.settings import get_settings

    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _step_pids(mark_file: Path) -> list[int]:
    """The processes of the step: the ones whose environment names the file the test gave it."""
    return [pid for pid in watchdog.marked("STEP_MARKER", str(mark_file)) if alive(pid)]


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.parametrize("whole_group", [False, True], ids=["the-process", "its-whole-group"])
def test_a_step_dies_with_its_mission_process_killed(tmp_path, home, whole_group):
    marker = tmp_path / "marker"
    # the side effect comes after the sleep; a background child (left the shell's wait) too
    command = f"sleep 30 & sleep 3; echo done >> {marker}"
    mission = subprocess.Popen(
        [sys.executable, "-c", _MISSION, command],
        env={**os.environ, "STEP_MARKER": str(marker)},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert mission.stdout is not None and mission.stdout.readline() == "started\n"
        assert _wait(lambda: len(_step_pids(marker)) >= 3, 10), "the step never started"
        if whole_group:
            os.killpg(mission.pid, signal.SIGKILL)
        else:
            mission.kill()
        mission.wait(timeout=10)
        assert _wait(lambda: not _step_pids(marker), 2), _step_pids(marker)
        time.sleep(3.5)
        assert not marker.exists(), "the orphaned step finished its side effect"
    finally:
        for pid in _step_pids(marker):
            os.kill(pid, signal.SIGKILL)


def test_a_step_outlives_nothing_when_its_mission_ends_normally(tmp_path, home):
    marker = tmp_path / "marker"
    script = _MISSION.replace('print("started", flush=True)', "")
    done = subprocess.run(
        [sys.executable, "-c", script, "(sleep 30; echo late >> " + f"{marker}) >/dev/null 2>&1 &"],
        env={**os.environ, "STEP_MARKER": str(marker)},
        timeout=60,
    )
    assert done.returncode == 0
    assert _wait(lambda: not _step_pids(marker), 3), "a step's daemon outlived its mission"


def test_step_env_carries_the_owner_mark(home):
    env = processes.step_env({"X": "1"})
    assert env["X"] == "1"
    assert env[processes.OWNER_VARIABLE] == processes.owner_mark()
    assert processes.owner_mark().startswith(f"{os.getpid()}:")


def test_reap_ends_a_tracked_group_and_untrack_spares_it(home):
    left = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60"], start_new_session=True)
    done = subprocess.Popen(["sh", "-c", "sleep 60"], start_new_session=True)
    try:
        processes.track("run-1", "left", left.pid)
        processes.untrack(processes.track("run-1", "done", done.pid))

        assert processes.reap("run-1") == ["left"]
        left.wait(timeout=5)
        time.sleep(0.1)
        assert not alive(left.pid)
        assert alive(done.pid)
        assert processes.reap("run-1") == []
    finally:
        done.kill()
        done.wait()


def test_reap_never_kills_a_reused_group_id(home):
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        tracked = processes.track("run-2", "step", other.pid)
        assert tracked.token is not None
        tracked.token.write_text("1\nstep\n")  # a different start time: the id was reused
        assert processes.reap("run-2") == []
        assert alive(other.pid)
    finally:
        processes.untrack(tracked)
        other.kill()
        other.wait()
