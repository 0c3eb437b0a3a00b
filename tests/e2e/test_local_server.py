"""The embedded default as a newcomer meets it: the first command on a fresh home starts one local
Prefect server that outlives it, every later command reuses it, `server stop` ends it; a stale
record and a taken port each get one clear line, never a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from autoagent.processes import alive
from autoagent.server import local as local_server
from tests.e2e.cli import AUTOAGENT, autoagent, cli_env, run_id_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _record(home: Path) -> dict:
    return json.loads((home / local_server.RECORD).read_text())


def _spec(tmp_path: Path) -> Path:
    path = tmp_path / "hello.yaml"
    steps = [{"id": "hello", "agent": "shell", "input": {"command": "echo hello"}}]
    path.write_text(yaml.safe_dump({"name": "hello", "steps": steps}))
    return path


@contextmanager
def _held(port: int) -> Iterator[bool]:
    """Hold ``port`` (True) unless something else holds it already (False)."""
    with socket.socket() as holder:
        try:
            holder.bind(("127.0.0.1", port))
        except OSError:
            yield False
            return
        holder.listen()
        yield True


def test_the_first_run_starts_the_local_server_and_later_commands_reuse_it(tmp_path):
    home = tmp_path / "fresh-home"
    env = cli_env(home=home)
    try:
        ran = autoagent("run", str(_spec(tmp_path)), env=env, timeout=300)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "local Prefect server ready" in ran.stderr
        assert "Traceback" not in ran.stdout + ran.stderr
        run_id = run_id_in(ran.stdout)
        first = _record(home)
        assert alive(first["pid"]), "the local server did not outlive the command"
        assert f"/runs/flow-run/{run_id}" in ran.stdout  # the run's page in the local UI

        status = autoagent("status", run_id, env=env)
        assert status.returncode == 0 and "hello  completed" in status.stdout, status.stdout
        assert "local Prefect server" not in status.stderr  # nothing started: reused
        again = autoagent("run", str(_spec(tmp_path)), env=env)
        assert again.returncode == 0, again.stderr
        assert _record(home)["pid"] == first["pid"]

        shown = autoagent("server", "status", env=env)
        assert shown.returncode == 0, shown.stderr
        assert f"pid {first['pid']}" in shown.stdout and "healthy" in shown.stdout
    finally:
        stopped = autoagent("server", "stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped the local Prefect server (pid {first['pid']}" in stopped.stdout
    assert not alive(first["pid"])
    assert not (home / local_server.RECORD).exists()
    after = autoagent("server", "status", env=env)
    assert after.returncode == 1 and "no local Prefect server runs" in after.stdout


def test_commands_started_together_share_one_server(tmp_path):
    home = tmp_path / "shared-home"
    env = cli_env(home=home)
    commands = [
        subprocess.Popen(
            [AUTOAGENT, "list"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    try:
        results = [c.communicate(timeout=300) for c in commands]
        assert [c.returncode for c in commands] == [0, 0, 0], results
        assert sum("local Prefect server ready" in err for _, err in results) == 1, results
        servers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _serves(p, home)]
        assert len(servers) == 1, servers
    finally:
        local_server.stop(home)


def _serves(proc: Path, home: Path) -> bool:
    try:
        return "uvicorn" in (proc / "cmdline").read_text() and (proc / "cwd").resolve() == home
    except OSError:
        return False


def test_a_stale_record_and_a_taken_port_each_get_one_line(tmp_path):
    home = tmp_path / "stale-home"
    home.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = {"pid": gone.pid, "started": "1", "port": 1, "home": str(home), "log": "x"}
    (home / local_server.RECORD).write_text(json.dumps(stale))
    env = cli_env(home=home)
    try:
        with _held(local_server.PREFERRED_PORT) as holding:
            started = autoagent("server", "start", env=env, timeout=300)
        assert started.returncode == 0, started.stdout + started.stderr
        assert "Traceback" not in started.stdout + started.stderr
        notice = [line for line in started.stderr.splitlines() if "is gone" in line]
        assert notice == [
            f"the local Prefect server recorded in {home / local_server.RECORD} (pid {gone.pid})"
            " is gone: starting a new one"
        ], started.stderr
        if holding:  # with 4200 held by this test, the server chose another port and said so
            assert f"port {local_server.PREFERRED_PORT} is taken" in started.stderr
            assert _record(home)["port"] != local_server.PREFERRED_PORT
        assert alive(_record(home)["pid"])
    finally:
        local_server.stop(home)


def test_a_port_asked_for_and_taken_is_refused_in_one_line(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = cli_env({"AUTOAGENT_SERVER_PORT": str(port)}, home=tmp_path / "port-home")
        refused = autoagent("list", env=env)
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"error: port {port} (AUTOAGENT_SERVER_PORT) is taken by another program: stop it, or"
        " set AUTOAGENT_SERVER_PORT to a free port"
    ]
    assert not (tmp_path / "port-home" / local_server.RECORD).exists()
