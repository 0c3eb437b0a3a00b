"""Shared fixtures for the agent tests: import paths and a real local HTTP server."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
for path in (str(ROOT), str(HERE)):  # the project and the test tool module
    if path not in sys.path:
        sys.path.insert(0, path)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/json":
            self._send(200, json.dumps({"hello": "world"}), "application/json")
        elif url.path == "/text":
            self._send(200, "plain text\n", "text/plain; charset=utf-8")
        elif url.path == "/missing":
            self._send(404, "no such thing", "text/plain")
        elif url.path == "/error":
            self._send(500, "x" * 500, "text/plain")
        elif url.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/json")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/slow":
            time.sleep(2)
            self._send(200, "late", "text/plain")
        elif url.path == "/echo":
            length = int(self.headers.get("Content-Length") or 0)
            echoed = {
                "method": self.command,
                "query": parse_qs(url.query),
                "body": self.rfile.read(length).decode(),
                "x_test": self.headers.get("X-Test"),
                "content_type": self.headers.get("Content-Type"),
            }
            self._send(200, json.dumps(echoed), "application/json")
        else:
            self._send(404, "unknown route", "text/plain")

    def _send(self, status: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def http_server() -> Iterator[str]:
    """Base URL of a real HTTP server running in a thread for the whole session."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
