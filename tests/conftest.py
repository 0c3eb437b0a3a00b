"""Session-wide test environment: isolated homes, and one real Prefect server on PostgreSQL.

Unit tests need no service. Integration and e2e tests share one server per session and isolate
themselves by fresh names (uuids), never by wiping the database.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="autoagent-tests-"))
os.environ["AUTOAGENT_HOME"] = str(_SESSION_DIR / "autoagent-home")
os.environ.setdefault("PREFECT_HOME", str(_SESSION_DIR / "prefect-home"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session", autouse=True)
def _stop_local_servers(session_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """At the end: stop every local Prefect server a test left running on a home of its own."""
    yield
    from tests.servers import stop_local_servers

    stop_local_servers(session_dir, tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator:
    """Each test leaves the environment as it found it: a CLI command run in-process sets
    AutoAgent's Prefect defaults in ``os.environ`` (its console logs off among them), and a later
    test's subprocess would inherit them (a mission's printed lines went missing)."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
        from autoagent.prefect_settings import refresh_prefect_settings

        refresh_prefect_settings()


@pytest.fixture(autouse=True)
def _no_lease_outlives_its_run() -> Iterator:
    """A run driven in this process leaves no lease behind: a stray one would renew for a run
    this process no longer drives, and end the whole test session when that run moves on."""
    yield
    from autoagent.server.liveness import LEASE_THREADS

    deadline = time.monotonic() + 10
    while stray := [t.name for t in threading.enumerate() if t.name in LEASE_THREADS]:
        if time.monotonic() > deadline:
            pytest.fail(f"lease threads outlived the test's runs: {stray}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def embedded_home(session_dir: Path) -> Path:
    """The Prefect home of the embedded default that the tests driving it share, as a user's
    commands share one: its local server starts on first use and is stopped at the end."""
    return session_dir / "embedded-prefect-home"


@pytest.fixture(scope="session")
def prefect_server(session_dir: Path) -> Iterator:
    from tests.servers import start_prefect_server

    server = start_prefect_server(session_dir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def prefect_api(prefect_server) -> Iterator[str]:
    """Point this process's Prefect client at the session's server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_server.url}):
        yield prefect_server.url


@pytest.fixture()
def batches_of_50(monkeypatch) -> Iterator[None]:
    """A for_each over more than 50 items runs in batch task runs of 50 (the setting)."""
    from autoagent.settings import get_settings

    monkeypatch.setenv("AUTOAGENT_FOR_EACH_BATCH", "50")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
