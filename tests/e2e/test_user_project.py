"""AutoAgent installed beside a user's own Prefect project, which has its own ``flows`` and
``tasks`` packages (a common layout): the library brings only ``autoagent``, so nothing shadows
anything. A mission of that project calls ``autoagent.approval()``, ``autoagent.step()`` and
``autoagent.run_spec()`` and its own tasks; it runs in-process, and deployed (served by a
Runner), where it suspends at the approval and comes back when answered. Side effects counted."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from prefect import get_client

from autoagent.api import answers
from autoagent.server import inputs, status
from tests.e2e.cli import kill_group, lines_in, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

PIPELINE = '''
"""The user's own mission: their tasks, AutoAgent's approval, an agent step and a spec."""

import asyncio
import sys

import autoagent
from tasks.counting import count  # the user's package, not AutoAgent's

CHILD = {
    "name": "user-child",
    "params": {"n": 1},
    "steps": [{"id": "twice", "agent": "echo", "input": {"value": "{{ params.n * 2 }}"}}],
}


@autoagent.mission(name="NAME")
def pipeline(directory: str, auto_approve: bool = False) -> dict:
    count(directory, "before")
    answer = autoagent.approval("Go on?", step="gate", auto_approve=auto_approve)
    said = autoagent.step("shout", agent="echo", input={"value": "hello"})
    child = autoagent.run_spec(CHILD, {"n": 21})
    count(directory, "after")
    return {"approved": answer["approved"], "said": said, "twice": child["twice"]}


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        from prefect.runner import Runner

        runner = Runner(name="user-project", query_seconds=1, prefetch_seconds=1)
        runner.add_flow(pipeline, name="served")
        print("serving", flush=True)
        asyncio.run(runner.start())
    else:
        finished = autoagent.run(pipeline, directory=sys.argv[1], auto_approve=True)
        print(finished.run_id, finished.state.name, finished.outputs(), flush=True)
'''

COUNTING = '''
"""The user's own task (their ``tasks`` package)."""

from pathlib import Path

from prefect import task


@task(persist_result=True)
def count(directory: str, name: str) -> None:
    with (Path(directory) / name).open("a") as out:
        out.write("x\\n")
'''


@pytest.fixture()
def project(tmp_path: Path) -> tuple[Path, str]:
    """A user's project folder with packages named ``flows`` and ``tasks``."""
    name = f"user-pipeline-{uuid.uuid4().hex[:6]}"
    root = tmp_path / "project"
    for package in ("flows", "tasks"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "flows" / "pipeline.py").write_text(textwrap.dedent(PIPELINE).replace("NAME", name))
    (root / "tasks" / "counting.py").write_text(textwrap.dedent(COUNTING))
    return root, name


def _env(prefect_server) -> dict[str, str]:
    # the project's own folder on the path (as Prefect puts it), none of this repository's
    path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, **prefect_server.env(), "AUTOAGENT_SUSPEND_MIN_SECONDS": "2"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if Path(p).resolve() != _repo())
    return env


def _repo() -> Path:
    return Path(__file__).resolve().parents[2]


def test_the_library_brings_no_flows_or_tasks_package(project, prefect_server):
    root, _ = project
    probe = "import autoagent.engine.mission, flows, tasks; print(flows.__file__, tasks.__file__)"
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, env=_env(prefect_server), capture_output=True
    )
    assert found.returncode == 0, found.stderr.decode()
    assert found.stdout.decode().split() == [
        str(root / "flows" / "__init__.py"),
        str(root / "tasks" / "__init__.py"),
    ]


def test_a_user_mission_runs_in_process(project, prefect_server, tmp_path):
    root, _ = project
    ran = subprocess.run(
        [sys.executable, "-m", "flows.pipeline", str(tmp_path)],
        cwd=root,
        env=_env(prefect_server),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    _, state, *_ = ran.stdout.split()
    assert state == "Completed", ran.stdout
    assert "'twice': 42" in ran.stdout and "'said': 'hello'" in ran.stdout
    assert (lines_in(tmp_path, "before"), lines_in(tmp_path, "after")) == (1, 1)


def test_a_user_mission_deployed_suspends_and_resumes(
    project, prefect_server, prefect_api, tmp_path
):
    root, name = project
    log = tmp_path / "runner.log"
    with log.open("w") as out:
        runner = subprocess.Popen(
            [sys.executable, "-m", "flows.pipeline", "serve"],
            cwd=root,
            env=_env(prefect_server),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: "serving" in log.read_text(), timeout=60, what="the runner", process=runner
        )
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(f"{name}/served")
            flow_run = client.create_flow_run_from_deployment(
                deployment.id, parameters={"directory": str(tmp_path)}
            )

        def suspended() -> bool:
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(flow_run.id).state
            waiting = any(m["path"] == "gate" for m in inputs.waiting(flow_run.id))
            return bool(waiting and state is not None and state.name == "Suspended")

        wait_for(suspended, timeout=120, what="suspended at the approval", process=runner)
        answers.approve(str(flow_run.id), "gate", comment="go")

        def final() -> bool:
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(flow_run.id).state
            return bool(state is not None and state.is_final())

        wait_for(final, timeout=120, what="the end of the run", process=runner)
    finally:
        kill_group(runner)
    tree = status.load(str(flow_run.id)).status
    assert tree.state == "Completed", (tree.state, tree.message, log.read_text()[-3000:])
    paths = {s.path for s in tree.walk()}
    assert {"gate", "shout", "user-child/twice"} <= paths, paths
    assert (lines_in(tmp_path, "before"), lines_in(tmp_path, "after")) == (1, 1)
