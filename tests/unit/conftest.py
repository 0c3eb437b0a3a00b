"""Unit tests need no server: any that reaches for one meets a dead address and fails at once,
instead of starting the local server (autoagent.server.local) behind the test's back."""

from __future__ import annotations

import pytest

DEAD_API = "http://127.0.0.1:9/api"


@pytest.fixture(autouse=True)
def _no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", DEAD_API)
