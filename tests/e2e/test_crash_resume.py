"""Durability, proven by counting side effects: kill -9 mid-mission, resume, count each step.

Step 4 sleeps, then writes its side effect: a kill -9 of the CLI's whole process group while it
sleeps must take the step down with it (no orphan finishes the side effect unsupervised), and the
resume runs it once more. Run on both the embedded default (the local SQLite server of the shared
home) and the session's Prefect server on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen

import pytest
import yaml

from tests.e2e.cli import (
    autoagent,
    cli_env,
    kill_group,
    lines_in,
    run_id_in,
    start_autoagent,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def six_step_spec(tmp_path: Path, sleep: float = 30) -> Path:
    log = tmp_path / "side-effects.log"
    steps = []
    for n in range(1, 7):
        command = f"echo s{n} >> {log}"
        if n == 4:  # the shell leads its own process group: its pid is the group id
            done = tmp_path / "s4-done.log"
            command = f"echo $$ > {tmp_path / 's4.pid'}; {command}; sleep {sleep}; echo x >> {done}"
        step = {"id": f"s{n}", "agent": "shell", "input": {"command": command}}
        if n > 1:
            step["needs"] = [f"s{n - 1}"]
        steps.append(step)
    path = tmp_path / "six.yaml"
    path.write_text(yaml.safe_dump({"name": "six-steps", "steps": steps}))
    return path


def counts(tmp_path: Path) -> Counter:
    log = tmp_path / "side-effects.log"
    return Counter(log.read_text().split()) if log.exists() else Counter()


def step_four_alive(tmp_path: Path) -> bool:
    """Whether any process of step 4's group (its shell leads it) still runs (a zombie, dead
    and waiting to be reaped by init, does not)."""
    from autoagent.watchdog import live_members

    pid_file = tmp_path / "s4.pid"
    return pid_file.exists() and bool(live_members({int(pid_file.read_text())}))


def end_step_four(tmp_path: Path) -> None:
    pid_file = tmp_path / "s4.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)


@contextlib.contextmanager
def running_at_step_four(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[Popen, str]]:
    """`autoagent run` of the six steps, held while step 4 runs; everything ended afterwards."""
    out = tmp_path / "run.out"
    process = start_autoagent("run", str(six_step_spec(tmp_path)), env=env, log=out)
    try:
        wait_for(lambda: counts(tmp_path)["s4"] == 1, timeout=120, what="step 4", process=process)
        yield process, run_id_in(out.read_text())
    finally:
        kill_group(process)
        end_step_four(tmp_path)


def crash_and_resume(tmp_path: Path, env: dict[str, str]) -> None:
    sleep = 4.0
    spec = six_step_spec(tmp_path, sleep=sleep)
    out = tmp_path / "run.out"
    process = start_autoagent("run", str(spec), env=env, log=out)
    try:
        wait_for(lambda: counts(tmp_path)["s4"] == 1, timeout=120, what="step 4", process=process)
        wait_for(lambda: (tmp_path / "s4.pid").exists(), timeout=10, what="step 4's pid")
    finally:
        kill_group(process)  # the CLI's whole process group, while step 4 sleeps
    run_id = run_id_in(out.read_text())
    assert counts(tmp_path) == Counter({"s1": 1, "s2": 1, "s3": 1, "s4": 1})
    # step 4 runs in a process group of its own: it must die with the mission process anyway
    wait_for(lambda: not step_four_alive(tmp_path), timeout=2, what="step 4 to die with its CLI")
    time.sleep(sleep + 1)
    assert not (tmp_path / "s4-done.log").exists(), "an orphan finished step 4's side effect"

    resumed = autoagent("resume", run_id, env=env, timeout=240)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert run_id in resumed.stdout
    seen = counts(tmp_path)
    assert [seen[f"s{n}"] for n in (1, 2, 3, 5, 6)] == [1, 1, 1, 1, 1], seen
    assert seen["s4"] == 2, seen  # the step running at the kill: once more
    assert lines_in(tmp_path, "s4-done.log") == 1  # its side effect: by the resume only

    status = autoagent("status", run_id, env=env)
    assert status.returncode == 0, status.stderr
    assert "Completed" in status.stdout
    for n in range(1, 7):
        assert f"s{n}  completed" in status.stdout, status.stdout

    again = autoagent("resume", run_id, env=env)
    assert again.returncode == 3
    assert "already completed" in again.stderr
    assert "Traceback" not in again.stderr


def test_crash_and_resume_on_the_embedded_default(tmp_path, embedded_home):
    crash_and_resume(tmp_path, cli_env(home=embedded_home))


@pytest.mark.integration
def test_crash_and_resume_on_postgres_server(tmp_path, prefect_server):
    crash_and_resume(tmp_path, cli_env(prefect_server.env()))


@pytest.mark.integration
def test_resume_refuses_a_live_run(tmp_path, prefect_server):
    env = cli_env(prefect_server.env())
    with running_at_step_four(tmp_path, env) as (_process, run_id):
        refused = autoagent("resume", run_id, env=env)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "still alive" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert counts(tmp_path)["s5"] == 0


@pytest.mark.integration
def test_cancel_stops_a_live_run_and_its_steps(tmp_path, prefect_server):
    env = cli_env(prefect_server.env())
    with running_at_step_four(tmp_path, env) as (process, run_id):
        cancelled = autoagent("cancel", run_id, env=env)
        assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
        assert "Cancelled" in cancelled.stdout
        process.wait(timeout=30)
        assert process.returncode != 0
        assert not step_four_alive(tmp_path), "cancel left step 4 running"
        status = autoagent("status", run_id, env=env)
        assert "Cancelled" in status.stdout, status.stdout
    assert counts(tmp_path)["s5"] == 0


@pytest.mark.integration
def test_kill_during_a_plan_then_resume_never_plans_again(tmp_path, prefect_server):
    """kill -9 while the plan's second step runs; the resume reads the persisted plan and runs
    only what the plan had not finished."""
    from tests.e2e.cli import lines_in
    from tests.stack import ROOT

    planner = {
        "function": "tests.planners:three_steps",
        "kwargs": {"folder": str(tmp_path), "middle": "sleep 8"},
    }
    spec = tmp_path / "planned.yaml"
    spec.write_text(
        yaml.safe_dump(
            {"name": "planned", "steps": [{"id": "plan", "agent": "planner", "input": planner}]}
        )
    )
    env = cli_env({**prefect_server.env(), "PYTHONPATH": str(ROOT)})
    out = tmp_path / "run.out"
    process = start_autoagent("run", str(spec), env=env, log=out)
    run_id = _kill_at_step_two_then_resume(process, out, env)
    counts = [lines_in(tmp_path, n) for n in ("planned", "one", "two", "three")]
    assert counts[:2] == [1, 1] and counts[3] == 1, counts
    assert counts[2] == 2, counts  # the step running at the kill: again (at least once)
    status = autoagent("status", run_id, env=env)
    for path in ("plan/one", "plan/two", "plan/three"):
        assert path.split("/")[1] in status.stdout, status.stdout


@pytest.mark.integration
def test_kill_a_mission_written_as_code_then_resume_it_from_the_cli(tmp_path, prefect_server):
    """The CLI imports a code mission from where its first attempt recorded it."""
    import subprocess
    import sys

    from tests.e2e.cli import lines_in
    from tests.stack import ROOT

    env = cli_env({**prefect_server.env(), "PYTHONPATH": str(ROOT)})
    out = tmp_path / "script.out"
    with out.open("w") as log:
        script = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.code_mission", str(tmp_path)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    run_id = _kill_at_step_two_then_resume(script, out, env)
    assert [lines_in(tmp_path, n) for n in ("one", "two", "three")] == [1, 2, 1]
    status = autoagent("status", run_id, env=env)
    assert "three  completed" in status.stdout, status.stdout


def _kill_at_step_two_then_resume(process: Popen, out: Path, env: dict[str, str]) -> str:
    """kill -9 once step "two" (which appends to <folder>/two) has started; resume; the run id."""
    from tests.e2e.cli import lines_in

    folder = out.parent
    try:
        wait_for(lambda: lines_in(folder, "two") == 1, timeout=120, what="two", process=process)
    finally:
        kill_group(process)
    run_id = run_id_in(out.read_text())
    resumed = autoagent("resume", run_id, env=env, timeout=240)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    return run_id
