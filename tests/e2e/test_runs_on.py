"""`runs_on: <pool>`: a step runs as a child deployment run on another work pool and its output
comes back to the parent mission. On the native stack: the process pool always, the Docker pool
where an engine runs (the image is built from a debootstrap rootfs first). A parent killed while
its child runs is resumed and finds the same child: the step's side effect happens once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.cli import kill_group, lines_in, run_id_in, start_autoagent, wait_for
from tests.stack import ROOT, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def _docker_reason() -> str | None:
    """None when the Docker pool can run steps here (building the image if the engine answers)."""
    import subprocess
    import sys

    sys.path.insert(0, str(ROOT / "infra" / "docker"))
    try:
        import image
    finally:
        sys.path.pop(0)
    reason = image.engine_ready()
    if reason is not None:
        return reason
    built = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "docker" / "image.py"), "build"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return None


@pytest.fixture(scope="module")
def docker_reason() -> str | None:
    return _docker_reason()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, docker_reason) -> Iterator[Stack]:
    made = Stack(
        tmp_path_factory.mktemp("runs-on"),
        redis_db=13,
        STACK_DOCKER="0" if docker_reason else "1",
        PREFECT_WORKER_QUERY_SECONDS="1",
    )
    try:
        made.bring_up(deploy=True)
        yield made
    finally:
        made.destroy()


def _spec(tmp_path: Path, name: str, steps: list[dict[str, Any]]) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "steps": steps}))
    return path


def _children(stack: Stack, run_id: str) -> list[Any]:
    """The remote-step runs started for the steps of mission run ``run_id``."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    env = stack.client_env
    settings = {
        PREFECT_API_URL: env["PREFECT_API_URL"],
        PREFECT_API_AUTH_STRING: env["PREFECT_API_AUTH_STRING"],
    }
    with temporary_settings(updates=settings), get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["remote-step"]))
        )
    return [r for r in runs if r.parameters.get("root_run_id") == run_id]


def test_a_step_runs_on_the_process_pool_and_its_output_comes_back(stack, tmp_path):
    marker = tmp_path / "ran"
    spec = _spec(
        tmp_path,
        "on-a-pool",
        [
            {"id": "ask", "agent": "echo", "input": {"value": "pool"}},
            {
                "id": "far",
                "agent": "shell",
                "needs": ["ask"],
                "runs_on": "autoagent-process",
                "input": {"command": f"echo x >> {marker}; echo {{{{ steps.ask.output }}}}-$$"},
            },
            {
                "id": "back",
                "agent": "shell",
                "needs": ["far"],
                "input": {"command": f"echo '{{{{ steps.far.output.stdout }}}}' > {tmp_path}/out"},
            },
        ],
    )
    ran = stack.autoagent("run", str(spec))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run_id = run_id_in(ran.stdout)
    children = _children(stack, run_id)
    assert len(children) == 1 and children[0].state.is_completed()
    assert children[0].work_pool_name == "autoagent-process"
    assert children[0].parent_task_run_id is not None  # linked to the parent's step in the UI
    status = stack.autoagent("status", run_id)
    assert "far  completed" in status.stdout, status.stdout
    assert lines_in(tmp_path, "ran") == 1
    assert (tmp_path / "out").read_text().startswith("pool-")  # the child's output, in the parent


def test_a_step_runs_in_a_container_on_the_docker_pool(stack, tmp_path, docker_reason):
    if docker_reason:
        pytest.skip(f"no Docker engine can be started here: {docker_reason}")
    spec = _spec(
        tmp_path,
        "in-a-container",
        [
            {
                "id": "inside",
                "agent": "shell",
                "runs_on": "autoagent-docker",
                "input": {"command": "test -f /.dockerenv && echo container-$(hostname)"},
            },
            {
                "id": "back",
                "agent": "shell",
                "needs": ["inside"],
                "input": {
                    "command": f"echo '{{{{ steps.inside.output.stdout }}}}' > {tmp_path}/out"
                },
            },
        ],
    )
    ran = stack.autoagent("run", str(spec), timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (tmp_path / "out").read_text().startswith("container-")
    children = _children(stack, run_id_in(ran.stdout))
    assert [c.work_pool_name for c in children] == ["autoagent-docker"]


def test_a_pool_without_its_deployment_is_refused_before_anything_runs(stack, tmp_path):
    marker = tmp_path / "first"
    spec = _spec(
        tmp_path,
        "nowhere",
        [
            {"id": "first", "agent": "shell", "input": {"command": f"touch {marker}"}},
            {"id": "far", "agent": "echo", "runs_on": "gpu-pool", "input": {"value": 1}},
        ],
    )
    ran = stack.autoagent("run", str(spec))
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "step 'far', field 'runs_on': no deployment 'remote-step/gpu-pool'" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert not marker.exists()


def test_a_parent_killed_while_its_child_runs_resumes_onto_the_same_child(stack, tmp_path):
    marker = tmp_path / "far"
    spec = _spec(
        tmp_path,
        "parent-crash",
        [
            {
                "id": "far",
                "agent": "shell",
                "runs_on": "autoagent-process",
                "input": {"command": f"echo x >> {marker}; sleep 8; echo done"},
            },
            {"id": "after", "agent": "echo", "needs": ["far"], "input": {"value": 1}},
        ],
    )
    out = tmp_path / "run.out"
    parent = start_autoagent("run", str(spec), env=stack.client_env, log=out)
    try:
        wait_for(lambda: lines_in(tmp_path, "far") == 1, timeout=120, what="far", process=parent)
    finally:
        kill_group(parent)
    run_id = run_id_in(out.read_text())
    resumed = stack.autoagent("resume", run_id, timeout=240)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert lines_in(tmp_path, "far") == 1  # the child went on alone; the resume waited for it
    children = _children(stack, run_id)
    assert len(children) == 1 and children[0].state.is_completed()
