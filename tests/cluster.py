"""The multi-host cluster (infra/prefect-server/cluster.py) for tests: its own namespaces, subnet
and database, brought up from nothing with crash detection and the project deployed, then
purged. Missions here are the repository's deployments, run by the cluster's two workers."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml

from tests.stack import _exports, client_command

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "infra" / "prefect-server" / "cluster.py"
BIN = Path(sys.executable).parent


def why_not() -> str | None:
    """Why this machine cannot run the cluster, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "unshare", "setpriv", "haproxy", "redis-server"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            return f"{tool} is not installed"
    return None


class Cluster:
    def __init__(self, workdir: Path, silence: int) -> None:
        name = f"t{secrets.token_hex(2)}"
        self.silence = silence
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
            "CLUSTER_DIR": str(workdir / "cluster"),
            "CLUSTER_NAME": name,
            "CLUSTER_SUBNET": f"10.231.{100 + secrets.randbelow(100)}",
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
            "PREFECT_WORKER_QUERY_SECONDS": "2",
        }
        self.name = name
        self.dir = workdir / "cluster"
        self.client_env: dict[str, str] = {}

    def cluster(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(CLUSTER), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def bring_up(self) -> None:
        made = self.cluster("up")
        assert made.returncode == 0, made.stdout + made.stderr
        self.client_env = {**self.env, **_exports(made.stdout)}
        setup = ["server", "setup", "--silence", str(self.silence), "--backoff", "2"]
        for argv in (
            [str(BIN / "autoagent"), *setup],
            [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"],
        ):
            done = self.client(*argv)
            assert done.returncode == 0, done.stdout + done.stderr

    def client(self, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return client_command(argv, self.client_env, timeout)

    def destroy(self) -> None:
        self.cluster("down", "--purge")

    def deploy_run(self, spec: dict[str, Any], where: Path) -> str:
        path = where / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(spec))
        argv = [
            str(BIN / "prefect"),
            "deployment",
            "run",
            "mission/run-mission",
            "-p",
            f"spec={path}",
        ]
        ran = self.client(*argv)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        return ran.stdout.split("UUID: ")[1].split()[0]

    def deploy_runs(self, specs: list[dict[str, Any]], where: Path) -> list[str]:
        """Start one run of the spec runner's deployment per spec, in one client session."""
        ids = []
        with self.prefect() as client:
            deployment = client.read_deployment_by_name("mission/run-mission")
            for spec in specs:
                path = where / f"{spec['name']}.yaml"
                path.write_text(yaml.safe_dump(spec))
                run = client.create_flow_run_from_deployment(
                    deployment.id, parameters={"spec": str(path)}
                )
                ids.append(str(run.id))
        return ids

    @contextlib.contextmanager
    def prefect(self) -> Iterator[Any]:
        from prefect import get_client
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        settings = {
            PREFECT_API_URL: self.client_env["PREFECT_API_URL"],
            PREFECT_API_AUTH_STRING: self.client_env["PREFECT_API_AUTH_STRING"],
        }
        with temporary_settings(updates=settings), get_client(sync_client=True) as client:
            yield client

    def flow_run(self, run_id: str) -> Any:
        with self.prefect() as client:
            return client.read_flow_run(UUID(run_id))

    def wait_run(self, run_id: str, done: Any, timeout: float, what: str) -> Any:
        """Poll the run until ``done(run)``; its last reading."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                run = self.flow_run(run_id)
                if done(run):
                    return run
            except Exception:  # an API host being killed: the next poll goes through the other
                run = None
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:.0f}s\n{self.history(run_id)}")
            time.sleep(1)

    def history(self, run_id: str) -> str:
        """The run's states and the hosts' logs that name it: what a failed wait needs."""
        name = run_id
        try:
            with self.prefect() as client:
                states = client.read_flow_run_states(UUID(run_id))
                name = f"'{client.read_flow_run(UUID(run_id)).name}'"
            said = [f"{s.timestamp:%H:%M:%S} {s.name}: {s.message or ''}"[:200] for s in states]
        except Exception as exc:
            said = [f"states not read: {exc}"]
        named = []
        for log in sorted(self.dir.glob("*/*.log")):
            lines = log.read_text(errors="replace").splitlines()
            found = [line for line in lines if run_id in line]
            named += [f"{log.parent.name}: {line[:240]}" for line in found[-15:]]
            for at, line in enumerate(lines):  # the traceback of an exception the run met
                if name in line and "Encountered exception" in line:
                    named += [f"{log.parent.name}| {t[:240]}" for t in lines[at : at + 60]]
                    break
        return "\n".join([f"run {run_id}:", *said, *named])

    def logs(self, tail: int = 30) -> str:
        found = []
        for log in sorted(self.dir.glob("*/*.log")):
            lines = log.read_text(errors="replace").splitlines()[-tail:]
            found.append(f"==> {log} <==\n" + "\n".join(lines))
        return "\n".join(found)


def counted_spec(name: str, where: Path, slow: str, seconds: float) -> dict[str, Any]:
    """Three steps, each appending "<step> <host>" to ``where``/side-effects; ``slow`` first
    writes "<slow>-start", and its first attempt sleeps ``seconds``: the step in flight when a
    host is lost (its run again, on the other host, does not wait)."""
    log = where / "side-effects"

    def step(sid: str, needs: list[str]) -> dict[str, Any]:
        command = f'echo "{sid} $(hostname)" >> {log}'
        if sid == slow:
            first = f"if mkdir {where / 'slept'} 2>/dev/null; then sleep {seconds}; fi"
            command = f'echo "{sid}-start $(hostname)" >> {log}; {first}; {command}'
        return {"id": sid, "agent": "shell", "needs": needs, "input": {"command": command}}

    steps = [step("one", []), step("two", ["one"]), step("three", ["two"])]
    return {"name": name, "steps": steps}


def side_effects(where: Path) -> list[tuple[str, str]]:
    path = where / "side-effects"
    if not path.exists():
        return []
    return [tuple(line.split()) for line in path.read_text().splitlines() if line.strip()]


def chain_spec(name: str, log: Path, steps: int, seconds: float) -> dict[str, Any]:
    """``steps`` shell steps in a row, each appending "<name>:<step>-start <host>", sleeping
    ``seconds``, then appending "<name>:<step> <host>" to ``log``."""

    def step(i: int) -> dict[str, Any]:
        mark = f"{name}:s{i}"
        command = (
            f'echo "{mark}-start $(hostname)" >> {log}; sleep {seconds};'
            f' echo "{mark} $(hostname)" >> {log}'
        )
        needs = [f"s{i - 1}"] if i else []
        return {"id": f"s{i}", "agent": "shell", "needs": needs, "input": {"command": command}}

    return {"name": name, "steps": [step(i) for i in range(steps)]}
