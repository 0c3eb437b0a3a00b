"""The compose stack (infra/prefect-server/compose.py, compose.yaml) from nothing: images built
locally, healthy, auth enforced, `prefect deploy --all` from the checkout, then a spec mission on
the process worker's container with a step on the Docker pool. Skips where no engine runs."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.servers import free_port
from tests.stack import PREFECT, ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

COMPOSE = ROOT / "infra" / "prefect-server" / "compose.py"


def _engine_reason() -> str | None:
    sys.path.insert(0, str(ROOT / "infra" / "docker"))
    try:
        import image
    finally:
        sys.path.pop(0)
    reason = image.engine_ready()
    if (
        reason is None
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode
    ):
        import shutil

        if shutil.which("docker-compose") is None:
            reason = "no docker compose plugin and no docker-compose"
    return reason


@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> Iterator[dict[str, str]]:
    reason = _engine_reason()
    if reason:
        pytest.skip(f"no Docker engine can be started here: {reason}")
    folder = tmp_path_factory.mktemp("compose")
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": f"autoagent-test-{uuid.uuid4().hex[:6]}",
        "AUTOAGENT_PORT": str(free_port()),
        "AUTOAGENT_METRICS_PORT": str(free_port()),
        "STACK_DIR": str(folder),
    }
    env.pop("PREFECT_API_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(COMPOSE), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    # this checkout's code in the image: build it again rather than trust an older one
    built = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "docker" / "image.py"), "build", "--infra"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    try:
        started = run("up")
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in started.stdout.splitlines()
            if line.startswith("export ")
        )
        yield {**env, **{k: v.strip("'") for k, v in exports.items()}}
    finally:
        run("down", "--volumes")


def test_the_compose_stack_comes_up_healthy_with_auth_enforced(compose):
    import httpx

    url = compose["PREFECT_API_URL"]
    assert httpx.post(f"{url}/flows/filter", json={}).status_code == 401
    user, password = compose["PREFECT_API_AUTH_STRING"].split(":", 1)
    assert httpx.post(f"{url}/flows/filter", json={}, auth=(user, password)).status_code == 200


def test_a_deployed_mission_runs_with_a_step_in_a_container(compose):
    def client(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(argv), env=compose, capture_output=True, text=True, cwd=ROOT, timeout=300
        )

    deployed = client(PREFECT, "--no-prompt", "deploy", "--all")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    spec = {
        "name": "compose-mission",
        "steps": [
            {"id": "here", "agent": "shell", "input": {"command": "hostname"}},
            {
                "id": "far",
                "agent": "shell",
                "needs": ["here"],
                "runs_on": "autoagent-docker",
                "input": {"command": "test -f /.dockerenv && echo in-a-container"},
            },
        ],
    }
    # a path in the checkout: the process worker's container mounts it at the same path
    path = ROOT / ".autoagent" / f"compose-{uuid.uuid4().hex[:6]}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(spec))
    try:
        ran = client(
            PREFECT,
            "deployment",
            "run",
            "mission/run-mission",
            "-p",
            f"spec={path.relative_to(ROOT)}",
            "--watch",
        )
    finally:
        path.unlink()
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "Completed" in ran.stdout
    run_id = ran.stdout.split("UUID: ")[1].split()[0]
    status = client(str(Path(sys.executable).parent / "autoagent"), "status", run_id)
    assert "far  completed" in status.stdout, status.stdout
    _counted_by_the_exporter(compose, "compose-mission")


def _counted_by_the_exporter(compose: dict[str, str], mission: str) -> None:
    """The stack's exporter counted the mission; Prefect's own API metrics answer too."""
    import time

    import httpx

    metrics = f"http://127.0.0.1:{compose['AUTOAGENT_METRICS_PORT']}/metrics"
    wanted = f'autoagent_missions_completed_total{{mission="{mission}"}} 1.0'
    deadline = time.monotonic() + 60
    while wanted not in (shown := httpx.get(metrics).text):
        assert time.monotonic() < deadline, shown[-2000:]
        time.sleep(1)
    user, password = compose["PREFECT_API_AUTH_STRING"].split(":", 1)
    prefects = httpx.get(f"{compose['PREFECT_API_URL']}/metrics", auth=(user, password))
    assert prefects.status_code == 200 and "prefect_events_observed_total" in prefects.text
