"""A local OpenAI-compatible chat completions server for tests: real HTTP, recorded answers.

Each test scripts what the next requests get (``reply``), and reads back what was sent
(``requests``), headers included, to check what the client did and did not send.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).parent / "fixtures" / "llm"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / f"{name}.json").read_text())


class LLMServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._script: deque[tuple[int, dict[str, Any]]] = deque()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    status, payload = (
                        server._script.popleft()
                        if server._script
                        else (500, {"error": {"message": "nothing scripted"}})
                    )
                if self.path != "/v1/chat/completions":
                    status, payload = 404, {"error": {"message": f"no route {self.path}"}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._http.server_address[1]}/v1"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def reply(self, *answers: tuple[int, str]) -> None:
        """Script the next answers: (HTTP status, name of a recorded answer)."""
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self._script.extend((status, recorded(name)) for status, name in answers)

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
