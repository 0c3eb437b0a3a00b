"""The compose stack (compose.yaml beside this file) with one command per action.

    python infra/prefect-server/compose.py up       # images built when missing; waits healthy
    python infra/prefect-server/compose.py status   # the containers and the API's health
    python infra/prefect-server/compose.py env      # export lines for clients (URL, auth string)
    python infra/prefect-server/compose.py down [--volumes]   # --volumes also drops the data

Settings from the environment: COMPOSE_PROJECT_NAME [autoagent]; AUTOAGENT_PORT [4200], the
API's port on 127.0.0.1; AUTOAGENT_AUTH [generated once, kept in STACK_DIR/compose-auth];
STACK_DIR [~/.autoagent/stack]. Uses `docker compose` when the plugin is there, else
`docker-compose`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COMPOSE_FILE = HERE / "compose.yaml"
IMAGES = ("autoagent:latest", "autoagent-infra:bookworm")
HEALTH_TIMEOUT = float(os.environ.get("STACK_HEALTH_TIMEOUT", "240"))


def _folder() -> Path:
    home = Path(os.environ.get("AUTOAGENT_HOME", Path.home() / ".autoagent"))
    return Path(os.environ.get("STACK_DIR", home / "stack"))


def port() -> int:
    return int(os.environ.get("AUTOAGENT_PORT", "4200"))


def auth() -> str:
    given = os.environ.get("AUTOAGENT_AUTH")
    if given:
        return given
    path = _folder() / "compose-auth"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"admin:{secrets.token_urlsafe(24)}")
        path.chmod(0o600)
    return path.read_text().strip()


def compose_command() -> list[str]:
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise SystemExit("neither `docker compose` nor `docker-compose` is installed")


def compose(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "AUTOAGENT_AUTH": auth(),
        "AUTOAGENT_PORT": str(port()),
        "AUTOAGENT_CHECKOUT": str(ROOT),
        "COMPOSE_PROJECT_NAME": os.environ.get("COMPOSE_PROJECT_NAME", "autoagent"),
    }
    argv = [*compose_command(), "-f", str(COMPOSE_FILE), *args]
    return subprocess.run(argv, env=env, capture_output=capture, text=True)


def health(with_auth: bool = True) -> int | None:
    import base64

    request = urllib.request.Request(f"http://127.0.0.1:{port()}/api/health")
    if with_auth:
        request.add_header("Authorization", f"Basic {base64.b64encode(auth().encode()).decode()}")
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def env_lines() -> str:
    return (
        f"export PREFECT_API_URL=http://127.0.0.1:{port()}/api\n"
        f"export PREFECT_API_AUTH_STRING='{auth()}'"
    )


def up() -> int:
    started = time.monotonic()
    missing = [
        name
        for name in IMAGES
        if subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode
    ]
    if missing:
        print(f"building {', '.join(missing)}", flush=True)
        built = subprocess.run(
            [sys.executable, str(ROOT / "infra/docker/image.py"), "build", "--infra"]
        )
        if built.returncode:
            return built.returncode
    if compose("up", "-d").returncode:
        return 1
    while time.monotonic() - started < HEALTH_TIMEOUT:
        if health() == 200 and _workers_running():
            print(f"healthy in {time.monotonic() - started:.1f}s: http://127.0.0.1:{port()}/api")
            print(env_lines())
            return 0
        time.sleep(1)
    print(
        f"not healthy after {HEALTH_TIMEOUT:.0f}s: compose.py status, docker logs", file=sys.stderr
    )
    return 1


def _workers_running() -> bool:
    found = compose("ps", "--services", "--filter", "status=running", capture=True)
    running = set(found.stdout.split())
    return {"process-worker", "docker-worker", "services"} <= running


def status() -> int:
    compose("ps")
    code = health()
    print(f"health {code or 'no answer'} (http://127.0.0.1:{port()}/api)")
    return 0 if code == 200 and _workers_running() else 1


def down(volumes: bool) -> int:
    return compose("down", *(["--volumes"] if volumes else [])).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up")
    sub.add_parser("status")
    sub.add_parser("env")
    stop = sub.add_parser("down")
    stop.add_argument("--volumes", action="store_true", help="Also remove the database's volume.")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up()
    if args.command == "status":
        return status()
    if args.command == "env":
        print(env_lines())
        return 0
    return down(args.volumes)


if __name__ == "__main__":
    sys.exit(main())
