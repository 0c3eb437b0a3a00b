from __future__ import annotations

import socket

import pytest

from autoagent.agents import AgentContext, run_agent
from autoagent.errors import AgentInputError, HttpStatusError, HttpTransportError, StepTimeout


def ctx(timeout: float | None = None) -> AgentContext:
    return AgentContext(mission="m", step_path="s", timeout=timeout)


def test_get_json(http_server: str) -> None:
    out = run_agent("http", ctx(), {"url": f"{http_server}/json"})
    assert out["status_code"] == 200
    assert out["json"] == {"hello": "world"}
    assert out["headers"]["content-type"] == "application/json"
    assert out["text"] == '{"hello": "world"}'


def test_get_text_has_no_json(http_server: str) -> None:
    out = run_agent("http", ctx(), {"url": f"{http_server}/text"})
    assert (out["json"], out["text"]) == (None, "plain text\n")


def test_redirects_are_followed(http_server: str) -> None:
    out = run_agent("http", ctx(), {"url": f"{http_server}/redirect"})
    assert (out["status_code"], out["json"]) == (200, {"hello": "world"})


def test_post_json_params_and_headers(http_server: str) -> None:
    raw = {
        "url": f"{http_server}/echo",
        "method": "post",
        "json": {"n": 1},
        "params": {"q": "x"},
        "headers": {"X-Test": "yes"},
    }
    echoed = run_agent("http", ctx(), raw)["json"]
    assert echoed["method"] == "POST"
    assert echoed["body"] == '{"n":1}'
    assert echoed["query"] == {"q": ["x"]}
    assert echoed["x_test"] == "yes"
    assert echoed["content_type"] == "application/json"


def test_post_raw_body(http_server: str) -> None:
    raw = {"url": f"{http_server}/echo", "method": "POST", "body": "a=b"}
    assert run_agent("http", ctx(), raw)["json"]["body"] == "a=b"


def test_json_and_body_are_exclusive(http_server: str) -> None:
    with pytest.raises(AgentInputError, match="either json or body"):
        run_agent("http", ctx(), {"url": f"{http_server}/echo", "json": {}, "body": "x"})


def test_404_raises_http_status_error(http_server: str) -> None:
    url = f"{http_server}/missing"
    with pytest.raises(HttpStatusError) as info:
        run_agent("http", ctx(), {"url": url})
    err = info.value
    assert (err.kind, err.status_code) == ("http_status", 404)
    assert f"GET {url}" in str(err) and "404" in str(err) and "no such thing" in str(err)


def test_500_message_has_a_short_body_excerpt(http_server: str) -> None:
    with pytest.raises(HttpStatusError) as info:
        run_agent("http", ctx(), {"url": f"{http_server}/error"})
    assert info.value.status_code == 500
    assert len(info.value.body) <= 200
    assert "x" * 200 in str(info.value) and "x" * 201 not in str(info.value)


def test_expect_accepts_listed_statuses_only(http_server: str) -> None:
    out = run_agent("http", ctx(), {"url": f"{http_server}/missing", "expect": [404]})
    assert out["status_code"] == 404
    with pytest.raises(HttpStatusError):
        run_agent("http", ctx(), {"url": f"{http_server}/json", "expect": [201]})


def test_slow_response_is_a_step_timeout(http_server: str) -> None:
    with pytest.raises(StepTimeout) as info:
        run_agent("http", ctx(timeout=0.3), {"url": f"{http_server}/slow"})
    assert info.value.kind == "timeout"


def test_closed_port_is_a_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HttpTransportError) as info:
        run_agent("http", ctx(), {"url": f"http://127.0.0.1:{port}/"})
    assert info.value.kind == "http_transport"
    assert f"127.0.0.1:{port}" in str(info.value)


def test_unsupported_scheme_is_an_input_error() -> None:
    with pytest.raises(AgentInputError):
        run_agent("http", ctx(), {"url": "ftp://example.com/file"})
