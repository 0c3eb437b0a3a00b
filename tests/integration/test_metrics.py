"""The metrics exporter scraped by a real Prometheus (Debian's), on a server of its own: missions
complete, fail, retry a step, wait for an approval that a person answers, crash and resume, and
one still waits; Prometheus's HTTP API then says what the test ran."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from autoagent.server.metrics import Metrics
from tests.e2e.cli import autoagent, cli_env, kill_group, run_id_in, start_autoagent, wait_for
from tests.servers import free_port, start_prefect_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

if os.environ.get("AUTOAGENT_REQUIRE_PROMETHEUS") != "1" and not shutil.which("prometheus"):
    pytest.skip("Prometheus is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    """A fresh server, the exporter on it, Prometheus scraping the exporter every second."""
    where = tmp_path_factory.mktemp("metrics")
    server = start_prefect_server(where / "server")
    env = cli_env(server.env())
    port, web = free_port(), free_port()
    exporter = start_autoagent(
        "server", "metrics", "--port", str(port), "--every", "1", env=env, log=where / "exp.log"
    )
    config = where / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "autoagent",
                        "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                    }
                ],
            }
        )
    )
    prometheus = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={where / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{web}",
        ],
        stdout=(where / "prometheus.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        api = f"http://127.0.0.1:{web}/api/v1"
        wait_for(lambda: _up(api), timeout=60, what="Prometheus scraping the exporter")
        yield env, api, where
    finally:
        kill_group(exporter)
        kill_group(prometheus)
        server.stop()


def _up(api: str) -> bool:
    try:
        found = httpx.get(f"{api}/query", params={"query": "up"}).json()["data"]["result"]
    except (httpx.HTTPError, KeyError, ValueError):
        return False
    return any(r["value"][1] == "1" for r in found)


def _value(api: str, query: str) -> float:
    found = httpx.get(f"{api}/query", params={"query": query}).json()["data"]["result"]
    return sum(float(r["value"][1]) for r in found)


def _becomes(api: str, query: str, expected: float, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while (seen := _value(api, query)) != expected:
        assert time.monotonic() < deadline, f"{query} = {seen}, expected {expected}"
        time.sleep(1)


def _spec(where: Path, name: str, steps: list[dict]) -> str:
    path = where / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "steps": steps}))
    return str(path)


def test_prometheus_counts_what_the_missions_did(watched) -> None:
    env, api, where = watched
    tag = uuid.uuid4().hex[:6]
    ok, bad, flaky = f"ok-{tag}", f"bad-{tag}", f"flaky-{tag}"
    echo = {"id": "a", "agent": "echo", "input": {"value": 1}}
    for _ in range(2):
        assert autoagent("run", _spec(where, ok, [echo]), env=env).returncode == 0
    broken = {"id": "a", "agent": "shell", "input": {"command": "exit 3"}}
    assert autoagent("run", _spec(where, bad, [broken]), env=env).returncode == 1
    once = where / "failed-once"
    retried = {
        "id": "a",
        "agent": "shell",
        "retries": 1,
        "retry_backoff": {"base_seconds": 0},
        "input": {"command": f"mkdir {once} 2>/dev/null && exit 1; echo done"},
    }
    assert autoagent("run", _spec(where, flaky, [retried]), env=env).returncode == 0

    asked = f"asked-{tag}"
    approval = [{"id": "go", "approval": {"title": "Go?"}}]
    log = where / "asked.out"
    waiting = start_autoagent("run", _spec(where, asked, approval), env=env, log=log)
    try:
        wait_for(lambda: "⏸ go" in log.read_text(), timeout=60, what="the approval")
        run_id = run_id_in(log.read_text())
        _becomes(api, 'autoagent_missions_waiting{kind="approval"}', 1)
        time.sleep(1)
        assert autoagent("approve", run_id, env=env).returncode == 0
        waiting.wait(timeout=60)
    finally:
        kill_group(waiting)
    assert waiting.returncode == 0, log.read_text()

    crashed = f"crashed-{tag}"
    marks, first = where / "marks", where / "first-attempt"
    slow = [
        {"id": "one", "agent": "shell", "input": {"command": f"echo one >> {marks}"}},
        {
            "id": "two",
            "agent": "shell",
            "needs": ["one"],
            "input": {"command": f"echo two >> {marks}; if mkdir {first}; then sleep 600; fi"},
        },
    ]
    log = where / "crashed.out"
    dying = start_autoagent("run", _spec(where, crashed, slow), env=env, log=log)
    wait_for(lambda: "two" in (marks.read_text() if marks.exists() else ""), timeout=60, what="two")
    kill_group(dying)  # the process dies mid-step: its run is resumed by hand, on this machine
    resumed = autoagent("resume", run_id_in(log.read_text()), env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    still = start_autoagent("run", _spec(where, f"still-{tag}", approval), env=env, log=log)
    try:
        for query, expected in (
            (f'autoagent_missions_started_total{{mission="{ok}"}}', 2),
            (f'autoagent_missions_completed_total{{mission="{ok}"}}', 2),
            (f'autoagent_missions_failed_total{{mission="{bad}"}}', 1),
            (f'autoagent_steps_total{{mission="{bad}",agent="shell",state="failed"}}', 1),
            (f'autoagent_steps_total{{mission="{ok}",agent="echo",state="completed"}}', 2),
            (f'autoagent_step_retries_total{{mission="{flaky}",agent="shell"}}', 1),
            (f'autoagent_missions_completed_total{{mission="{flaky}"}}', 1),
            (f'autoagent_approvals_answered_total{{mission="{asked}",how="person"}}', 1),
            (f'autoagent_approval_answer_seconds_count{{mission="{asked}"}}', 1),
            (f'autoagent_missions_completed_total{{mission="{asked}"}}', 1),
            (f'autoagent_step_duration_seconds_count{{mission="{ok}",agent="echo"}}', 2),
            (f'autoagent_missions_started_total{{mission="{crashed}"}}', 1),
            (f'autoagent_missions_resumed_total{{mission="{crashed}"}}', 1),
            (f'autoagent_missions_completed_total{{mission="{crashed}"}}', 1),
            (f'autoagent_steps_total{{mission="{crashed}",agent="shell",state="completed"}}', 2),
        ):
            _becomes(api, query, expected)
        assert _value(api, f'autoagent_approval_answer_seconds_sum{{mission="{asked}"}}') >= 1
        _becomes(api, 'autoagent_missions_waiting{kind="approval"}', 1)
        assert _value(api, 'autoagent_wait_age_seconds_max{kind="approval"}') > 0
    finally:
        kill_group(still)


def test_every_query_of_the_grafana_dashboard_is_one_prometheus_runs(watched) -> None:
    """infra/grafana/autoagent.json: each panel's query parses in Prometheus and names only
    metrics the exporter serves (Prefect's own come from the API's /metrics)."""
    _, api, _ = watched
    dashboard = json.loads((ROOT / "infra" / "grafana" / "autoagent.json").read_text())
    served = set()
    for family in Metrics().registry.collect():
        parts = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
        served |= {family.name + end for end in parts.get(family.type, ("",))}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            answer = httpx.get(f"{api}/query", params={"query": target["expr"]}).json()
            assert answer["status"] == "success", (panel["title"], answer)
            used = set(re.findall(r"\bautoagent_[a-z_]+", target["expr"]))
            assert used <= served, (panel["title"], used - served)
