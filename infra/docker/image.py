"""Build AutoAgent's Docker image on a machine that cannot pull from a registry.

    python infra/docker/image.py build           # base (once), wheels, then the image
    python infra/docker/image.py build --infra   # also PostgreSQL + Redis for compose.yaml
    python infra/docker/image.py status          # what is there

1. The base, ``autoagent-base:bookworm``: a minimal Debian rootfs made by ``debootstrap``
   (with Python 3.11, matching the host's wheels) and brought in with ``docker import``.
2. Wheels of AutoAgent and everything it needs, built on the host with its pip (and its package
   index settings) into ``infra/docker/.build/wheels``, kept between builds.
3. ``docker build`` of infra/docker/Dockerfile: a venv with those wheels, no network inside.

The image is tagged ``autoagent:<version>`` and ``autoagent:latest``; the Docker work pool's job
template (deployments/docker-job-template.json) runs ``autoagent:latest``. ``--infra`` also builds
``autoagent-infra:bookworm`` (Debian's PostgreSQL 15 and Redis on the same base) for the compose
stack (infra/prefect-server/compose.yaml).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BUILD = HERE / ".build"
BASE = os.environ.get("AUTOAGENT_BASE_IMAGE", "autoagent-base:bookworm")
IMAGE = os.environ.get("AUTOAGENT_IMAGE", "autoagent:latest")
INFRA_IMAGE = "autoagent-infra:bookworm"
MIRROR = os.environ.get("AUTOAGENT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = "python3,python3-venv,ca-certificates,procps"
IMAGE_ONLY = ["async-timeout>=4.0.3"]
"""Wanted by the image's Python (Debian's 3.11.2) but not by a newer host Python's markers."""


def _run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(argv), flush=True)
    return subprocess.run(argv, check=True, **kwargs)


def engine_ready() -> str | None:
    """None when a Docker engine answers, else why not (for skips and errors)."""
    if shutil.which("docker") is None:
        return "no docker command (apt-get install docker.io)"
    found = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if found.returncode != 0:
        return "no Docker engine answers (start dockerd): " + found.stderr.strip()[-200:]
    return None


def has_image(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def build_base(force: bool = False) -> None:
    if has_image(BASE) and not force:
        print(f"{BASE}: present")
        return
    if shutil.which("debootstrap") is None:
        raise SystemExit("debootstrap is missing: apt-get install debootstrap")
    with tempfile.TemporaryDirectory(prefix="autoagent-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(
            "debootstrap",
            "--variant=minbase",
            f"--include={BASE_PACKAGES}",
            "bookworm",
            str(rootfs),
            MIRROR,
            stdout=subprocess.DEVNULL,
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*.deb"):
                item.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        _run("docker", "import", "-", BASE, stdin=tar.stdout)
        if tar.wait() != 0:
            raise SystemExit("tar of the rootfs failed")


def build_wheels() -> Path:
    wheels = BUILD / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("autoagent-*.whl"):
        old.unlink()  # always this checkout's code
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--wheel-dir",
        str(wheels),
        str(ROOT),
        "prefect-docker",
        *IMAGE_ONLY,
    )
    return wheels


def _sources(into: Path) -> None:
    """The checkout's tracked files (what a clean clone has), not the venv or build output."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        source = ROOT / raw.decode()
        if source.is_file():
            target = into / raw.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def build_infra() -> None:
    """PostgreSQL and Redis from Debian's packages (the build fetches them from the mirror)."""
    with tempfile.TemporaryDirectory(prefix="autoagent-infra-") as tmp:
        shutil.copy2(HERE / "postgres-entrypoint.sh", tmp)
        _run(
            "docker",
            "build",
            "--quiet",
            "-t",
            INFRA_IMAGE,
            "-f",
            str(HERE / "infra.Dockerfile"),
            tmp,
        )
    print(f"built {INFRA_IMAGE}")


def build_image(force_base: bool = False, infra: bool = False) -> None:
    reason = engine_ready()
    if reason:
        raise SystemExit(reason)
    build_base(force_base)
    if infra:
        build_infra()
    wheels = build_wheels()
    with tempfile.TemporaryDirectory(prefix="autoagent-image-") as tmp:
        context = Path(tmp)
        shutil.copytree(wheels, context / "wheels")
        _sources(context / "src")
        version = _version()
        _run(
            "docker",
            "build",
            "--quiet",
            "-t",
            IMAGE,
            "-t",
            f"{IMAGE.split(':')[0]}:{version}",
            "-f",
            str(HERE / "Dockerfile"),
            str(context),
        )
    # earlier builds of these images, now untagged: not kept to fill the disk
    _run("docker", "image", "prune", "-f", "--filter", "label=org.autoagent.image")
    print(f"built {IMAGE}")


def _version() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="Build the base (when missing) and the image.")
    build.add_argument("--rebuild-base", action="store_true", help="Make the rootfs again.")
    build.add_argument("--infra", action="store_true", help="Also PostgreSQL + Redis (compose).")
    sub.add_parser("status", help="Whether the engine, the base and the image are there.")
    args = parser.parse_args(argv)
    if args.command == "build":
        try:
            build_image(args.rebuild_base, args.infra)
        except subprocess.CalledProcessError as exc:
            print(f"failed ({exc.returncode}): {' '.join(map(str, exc.cmd))}", file=sys.stderr)
            return 1
        return 0
    reason = engine_ready()
    print(f"engine: {reason or 'ready'}")
    if reason is None:
        for name in (BASE, IMAGE, INFRA_IMAGE):
            print(f"{name}: {'present' if has_image(name) else 'missing'}")
    return 0 if reason is None and has_image(IMAGE) else 1


if __name__ == "__main__":
    sys.exit(main())
