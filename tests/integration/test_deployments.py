"""prefect.yaml against the native stack: `prefect deploy --all` from the checkout, a spec mission
run with `prefect deployment run` on the process pool, and a scheduled run that runs."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.e2e.cli import wait_for
from tests.stack import stack_fixture

pytestmark = [pytest.mark.integration, pytest.mark.slow]


stack = stack_fixture(
    "deploy",
    redis_db=10,
    PREFECT_WORKER_QUERY_SECONDS="2",
    PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5",
)


def _run_to_completion(stack, deployment: str, *params: str) -> str:
    """`prefect deployment run --watch` with ``-p`` params; the status of the completed run."""
    flags = [flag for param in params for flag in ("-p", param)]
    ran = stack.client(stack.prefect, "deployment", "run", deployment, *flags, "--watch")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Completed" in ran.stdout
    run_id = ran.stdout.split("UUID: ")[1].split()[0]
    return stack.autoagent("status", run_id)


def test_deployment_run_of_a_spec_on_the_process_pool(stack):
    status = _run_to_completion(
        stack, "mission/run-mission", "spec=examples/demo.yaml", "auto_approve=true"
    )
    assert "publish  completed" in status.stdout, status.stdout  # the spec file was inlined


def test_a_mission_written_as_code_runs_from_its_deployment(stack):
    status = _run_to_completion(stack, "release/release", "auto_approve=true")
    assert "release-notes" in status.stdout and "cool-down" in status.stdout, status.stdout


def test_a_scheduled_run_runs(stack):
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.schedules import IntervalSchedule
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    env = stack.client_env
    settings = {
        PREFECT_API_URL: env["PREFECT_API_URL"],
        PREFECT_API_AUTH_STRING: env["PREFECT_API_AUTH_STRING"],
    }
    with temporary_settings(updates=settings), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("mission/demo-daily")
        client.create_deployment_schedules(
            deployment.id, [(IntervalSchedule(interval=timedelta(seconds=10)), True)]
        )
        started = time.monotonic()

        def completed_scheduled_run() -> bool:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
            )
            return any(r.state and r.state.is_completed() and r.auto_scheduled for r in runs)

        wait_for(completed_scheduled_run, timeout=150, what="a scheduled run to complete")
        print(f"first scheduled run completed {time.monotonic() - started:.0f}s after scheduling")
