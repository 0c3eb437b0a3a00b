"""A recorded model server: real HTTP on loopback, both wire formats (OpenAI chat completions at
``/v1/chat/completions``, Anthropic Messages at ``/v1/messages``), answering turn by turn from a
script, so missions with LLM agents run offline (the examples, the tests)::

    python examples/model_replay.py examples/research.recorded.json --port 8765

A conversation is recognised by a key its system prompt or first user message contains; its turn
is the number of assistant messages it already holds, plus one. So a resumed conversation that
asks again for a turn gets the same answer, and ``seen`` tells how many times each turn was asked
(a finished turn asked twice is a durability bug). Turns can call tools (several at once), send
malformed arguments, refuse, be rate limited a number of times first, or be slow. ``GET
/notes/<name>`` serves the files of a notes folder (what the example's http tool reads). Only the
standard library: run it anywhere.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Answer = Callable[[str, dict[str, str], dict[str, Any]], tuple[int, dict[str, Any], float]]


class JSONServer:
    """JSON over HTTP on loopback: each POST answered by ``answer(route, headers, body)`` (the
    status, the JSON payload, a delay); GET ``/notes/<name>`` reads ``notes``, when given."""

    def __init__(self, answer: Answer, port: int = 0, notes: Path | None = None) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, payload, delay = answer(self.path, dict(self.headers), body)
                time.sleep(delay)
                self._send(status, json.dumps(payload).encode(), "application/json")

            def do_GET(self) -> None:
                name = self.path.removeprefix("/notes/")
                found = notes / name if notes and name.isascii() and "/" not in name else None
                if found is None or not found.is_file():
                    self._send(404, b"no such note", "text/plain")
                else:
                    self._send(200, found.read_bytes(), "text/markdown")

            def _send(self, status: int, data: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self.endpoint = f"{self.url}/v1"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@dataclass
class Turn:
    text: str = ""
    calls: list[tuple[str, Any]] = field(default_factory=list)
    """(tool name, arguments: a dict, or a string sent as is, malformed or not)."""
    refusal: bool = False
    rate_limited: int = 0
    """Answer HTTP 429 this many times before the real answer."""
    delay: float = 0.0
    tokens: tuple[int, int] = (100, 20)
    echo_key: bool = False
    """Answer HTTP 401 with the key the request carried in the message (a careless provider)."""


def say(text: str, **options: Any) -> Turn:
    return Turn(text=text, **options)


def call(*calls: tuple[str, Any], text: str = "", **options: Any) -> Turn:
    return Turn(text=text, calls=list(calls), **options)


def refuse(text: str) -> Turn:
    return Turn(text=text, refusal=True)


class ModelServer:
    """Answers each conversation from its script; keeps every request it was sent."""

    def __init__(self, port: int = 0, notes: Path | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self._scripts: dict[str, list[Turn]] = {}
        self._limited: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()
        self._http = JSONServer(self._answer, port, notes)
        self.url, self.endpoint = self._http.url, self._http.endpoint

    def script(self, key: str, *turns: Turn) -> None:
        """What the conversation whose system prompt or first message holds ``key`` is told."""
        with self._lock:
            self._scripts[key] = list(turns)

    def seen(self, key: str) -> Counter[int]:
        """How many times each turn of the conversation ``key`` was asked (rate limits too)."""
        with self._lock:
            return Counter(r["turn"] for r in self.requests if r["key"] == key)

    def of(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["key"] == key]

    def close(self) -> None:
        self._http.close()

    # -- answering -------------------------------------------------------------------------
    def _answer(
        self, route: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], float]:
        anthropic = route == "/v1/messages"
        if route not in ("/v1/messages", "/v1/chat/completions"):
            return 404, {"error": {"message": f"no route {route}"}}, 0.0
        messages = body.get("messages") or []
        opening = _opening(body, anthropic)
        turn = 1 + sum(1 for m in messages if m.get("role") == "assistant")
        with self._lock:
            key = next((k for k in self._scripts if k in opening), None)
            self.requests.append(
                {"route": route, "headers": headers, "body": body, "key": key, "turn": turn}
            )
            script = self._scripts.get(key or "", [])
            if key is None or turn > len(script):
                return 500, {"error": {"message": f"nothing scripted for turn {turn}"}}, 0.0
            said = script[turn - 1]
            if said.echo_key:
                given = headers.get("x-api-key") or headers.get("Authorization", "")
                return 401, {"error": {"message": f"invalid key {given}"}}, 0.0
            if self._limited[(key, turn)] < said.rate_limited:
                self._limited[(key, turn)] += 1
                return 429, {"error": {"message": "rate limited, slow down"}}, 0.0
        model = body.get("model", "?")
        if anthropic:
            return 200, _anthropic(said, turn, model), said.delay
        return 200, _openai(said, turn, model), said.delay


def _opening(body: dict[str, Any], anthropic: bool) -> str:
    """The system prompt and the first user message: where a conversation's key is."""
    messages = body.get("messages") or []
    first = next((m for m in messages if m.get("role") == "user"), {})
    content = first.get("content", "")
    if isinstance(content, list):
        content = " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    system = body.get("system", "") if anthropic else ""
    if not anthropic and messages and messages[0].get("role") == "system":
        system = messages[0]["content"]
    return f"{system}\n{content}"


def _openai(said: Turn, turn: int, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": said.text or None}
    if said.refusal:
        message = {"role": "assistant", "content": None, "refusal": said.text}
    if said.calls:
        message["tool_calls"] = [
            {
                "id": f"call_{turn}_{i}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
            for i, (name, args) in enumerate(said.calls, start=1)
        ]
    return {
        "id": f"chatcmpl-{turn}",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if said.calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": said.tokens[0],
            "completion_tokens": said.tokens[1],
            "total_tokens": sum(said.tokens),
        },
    }


def _anthropic(said: Turn, turn: int, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": said.text}] if said.text else []
    for i, (name, args) in enumerate(said.calls, start=1):
        value = args if not isinstance(args, str) else {"raw": args}
        content.append(
            {"type": "tool_use", "id": f"toolu_{turn}_{i}", "name": name, "input": value}
        )
    reason = "refusal" if said.refusal else "tool_use" if said.calls else "end_turn"
    return {
        "id": f"msg_{turn}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "usage": {"input_tokens": said.tokens[0], "output_tokens": said.tokens[1]},
    }


def load(path: Path, url: str) -> dict[str, list[Turn]]:
    """A recording: ``{"conversations": [{"key", "turns": [{text, calls, ...}]}]}``; ``{url}``
    in a call's arguments is this server's address (the example's http tool reads from it)."""
    data = json.loads(path.read_text().replace("{url}", url))
    return {
        c["key"]: [
            Turn(**{**t, "calls": [tuple(call) for call in t.get("calls", [])]}) for t in c["turns"]
        ]
        for c in data["conversations"]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", type=Path)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--notes", type=Path, default=None)
    args = parser.parse_args()
    server = ModelServer(args.port, args.notes)
    for key, turns in load(args.recording, server.url).items():
        server.script(key, *turns)
    print(f"model replay at {server.endpoint} (notes at {server.url}/notes/)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.close()


if __name__ == "__main__":
    main()
