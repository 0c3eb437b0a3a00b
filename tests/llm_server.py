"""A local OpenAI-compatible chat completions server for tests: real HTTP, recorded answers.

Each test scripts what the next requests get (``reply``), and reads back what was sent
(``requests``), headers included, to check what the client did and did not send.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from pathlib import Path
from typing import Any

from tests.model_server import JSONServer

RECORDED = Path(__file__).parent / "fixtures" / "llm"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / f"{name}.json").read_text())


class LLMServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._script: deque[tuple[int, dict[str, Any]]] = deque()
        self._lock = threading.Lock()
        self._http = JSONServer(self._answer)
        self.endpoint = self._http.endpoint

    def _answer(
        self, route: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], float]:
        with self._lock:
            self.requests.append({"path": route, "headers": headers, "body": body})
            status, payload = (
                self._script.popleft()
                if self._script
                else (500, {"error": {"message": "nothing scripted"}})
            )
        if route != "/v1/chat/completions":
            status, payload = 404, {"error": {"message": f"no route {route}"}}
        return status, payload, 0.0

    def reply(self, *answers: tuple[int, str]) -> None:
        """Script the next answers: (HTTP status, name of a recorded answer)."""
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self._script.extend((status, recorded(name)) for status, name in answers)

    def close(self) -> None:
        self._http.close()
