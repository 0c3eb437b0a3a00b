"""Versions of in-flight missions: a mission written as code, killed, its source edited: `autoagent
resume` refuses, naming the change and the steps that would meet new code, until
`--allow-changed-code`; an unchanged one resumes without asking; a run again outside the CLI
(crash recovery) follows AUTOAGENT_CHANGED_CODE and says so in the run's log; status shows the
version of spec and code missions alike."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from uuid import UUID

import pytest

from tests.e2e.cli import autoagent, cli_env, kill_group, lines_in, run_id_in, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODULE = '''
"""A mission the test edits while a run of it is in flight."""

import sys
from pathlib import Path

from prefect.runtime import flow_run

from autoagent import mission, step


@step
def counted(folder: str, name: str) -> str:
    with (Path(folder) / name).open("a") as out:
        out.write("x\\n")
    if name == "two" and not (Path(folder) / "slept").exists():
        (Path(folder) / "slept").touch()
        import time

        time.sleep(600)
    return name


def finish(done: list[str]) -> str:
    return "+".join(done)


@mission(name="{name}")
def versioned(folder: str) -> str:
    print(f"mission run {{flow_run.id}}")
    done = [counted.named(n)(folder, n) for n in ("one", "two", "three")]
    return finish(done)


if __name__ == "__main__":
    state = versioned(folder=sys.argv[1], return_state=True)
    sys.exit(0 if state.is_completed() else 1)
'''


def _write(where: Path, module: str, name: str, finish: str | None = None) -> Path:
    text = MODULE.format(name=name)
    if finish is not None:
        text = text.replace('return "+".join(done)', finish)
    path = where / f"{module}.py"
    path.write_text(textwrap.dedent(text))
    return path


def _killed_at_two(where: Path, module: str, env: dict) -> str:
    out = where / "run.out"
    with out.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", module, str(where)],
            cwd=where,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: lines_in(where, "two") == 1, timeout=120, what="two", process=process)
    finally:
        kill_group(process)
    return run_id_in(out.read_text())


@pytest.fixture()
def code_env(prefect_server, tmp_path):
    return cli_env({**prefect_server.env(), "PYTHONPATH": str(tmp_path)})


def _resume(run_id: str, env: dict, where: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "autoagent"), "resume", run_id, *flags],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_resume_on_edited_code_is_refused_until_allowed(tmp_path, code_env) -> None:
    module, name = f"edited_{uuid.uuid4().hex[:6]}", f"edited-{uuid.uuid4().hex[:6]}"
    _write(tmp_path, module, name)
    run_id = _killed_at_two(tmp_path, module, code_env)
    _write(tmp_path, module, name, finish='return "-".join(done)')

    refused = _resume(run_id, code_env, tmp_path)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    said = " ".join(refused.stderr.split())
    assert f"{module}.py" in said and "definitions changed: finish" in said, said
    assert "Steps that would run on the new code: two (running)" in said, said
    assert "--allow-changed-code" in said and "Traceback" not in said
    assert lines_in(tmp_path, "three") == 0  # nothing ran

    allowed = _resume(run_id, code_env, tmp_path, "--allow-changed-code")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "warning: on changed code" in allowed.stderr
    assert [lines_in(tmp_path, n) for n in ("one", "two", "three")] == [1, 2, 1]
    shown = autoagent("status", run_id, env=code_env)
    assert f"version: code {module}.py" in shown.stdout, shown.stdout


def test_resume_on_the_same_code_does_not_ask_and_comments_are_no_change(
    tmp_path, code_env
) -> None:
    module, name = f"same_{uuid.uuid4().hex[:6]}", f"same-{uuid.uuid4().hex[:6]}"
    path = _write(tmp_path, module, name)
    run_id = _killed_at_two(tmp_path, module, code_env)
    path.write_text(path.read_text().replace("def finish", "# only a comment\ndef finish"))
    resumed = _resume(run_id, code_env, tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "changed" not in resumed.stderr
    assert [lines_in(tmp_path, n) for n in ("one", "two", "three")] == [1, 2, 1]


@pytest.mark.parametrize("setting", ["refuse", "proceed"])
def test_a_run_again_outside_the_cli_follows_the_setting_and_logs_it(
    tmp_path, prefect_api, monkeypatch, setting
) -> None:
    """What crash recovery does (its worker runs the flow again on the same run id)."""
    from prefect import get_client
    from prefect.flow_engine import run_flow
    from prefect.flows import load_flow_from_entrypoint
    from prefect.states import Pending

    from autoagent.settings import get_settings

    module, name = f"again_{uuid.uuid4().hex[:6]}", f"again-{uuid.uuid4().hex[:6]}"
    path = _write(tmp_path, module, name)
    (tmp_path / "slept").touch()  # no step sleeps here
    first = load_flow_from_entrypoint(f"{path}:versioned")
    state = first(folder=str(tmp_path), return_state=True)
    assert state.is_completed()
    run_id = state.state_details.flow_run_id
    _write(tmp_path, module, name, finish='return "-".join(done)')
    monkeypatch.setenv("AUTOAGENT_CHANGED_CODE", setting)
    get_settings.cache_clear()
    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(run_id, Pending(), force=True)
            flow_run = client.read_flow_run(run_id)
        again = load_flow_from_entrypoint(f"{path}:versioned")
        ended = run_flow(
            again, flow_run=flow_run, parameters=flow_run.parameters, return_type="state"
        )
    finally:
        get_settings.cache_clear()
    logs = _logs(run_id)
    if setting == "refuse":
        assert ended.is_failed(), ended
        assert (
            "definitions changed: finish" in ended.message
            and "--allow-changed-code" in ended.message
        )
        assert "refused: AUTOAGENT_CHANGED_CODE=refuse" in logs
    else:
        assert ended.is_completed() and ended.result() == "one-two-three"
        assert "going on: AUTOAGENT_CHANGED_CODE=proceed" in logs


def _logs(run_id: UUID) -> str:
    import time

    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + 20
    while True:
        with get_client(sync_client=True) as client:
            found = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        text = "\n".join(log.message for log in found)
        if "AUTOAGENT_CHANGED_CODE" in text or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def test_status_names_the_version_of_a_spec_mission(prefect_api) -> None:
    from autoagent.server.tags import spec_tag
    from tests.missions import run_mission

    data = {
        "name": f"v-{uuid.uuid4().hex[:6]}",
        "steps": [{"id": "a", "agent": "echo", "input": {"value": 1}}],
    }
    run = run_mission(data)
    assert run.state.is_completed()
    assert run.status.version is not None and run.status.version.startswith("spec ")
    pinned = run.flow_run.parameters["spec"]
    assert run.status.version == "spec " + spec_tag(pinned).removeprefix("spec:")
