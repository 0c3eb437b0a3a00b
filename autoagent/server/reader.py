"""Reading mission runs back from the Prefect server, over its REST API, without Prefect's client.

Importing Prefect costs ~2.5 s on a small machine; ``autoagent status`` and ``list`` need four
or five small queries. So everything that reads runs to show them (status, list, reports, what a
run waits for) reads them here, as ``autoagent.server.records`` models, over one keep-alive
connection of the standard library's http.client (httpx would add ~0.15 s of imports to every such
command). Operations that change runs go through Prefect's client (autoagent.server.client).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from autoagent.errors import RunError, ServerError
from autoagent.server.connection import Access, access
from autoagent.server.records import (
    FlowRunRecord,
    TaskRunRecord,
    parse_run_id,
)

PAGE = 200
TRANSIENT = frozenset({500, 502, 503, 504})
"""Answers of an API that may answer otherwise a moment later."""
WAIT_PREFIX = "autoagent-wait-"
"""The flow run inputs that say a step waits (written by autoagent.server.inputs)."""


@dataclass(frozen=True)
class _Response:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class Reader:
    """A few queries on one HTTP connection to the API (and events sent, acknowledged)."""

    def __init__(self, api: Access, timeout: float = 30.0, patience: float = 0.0):
        """``patience``: seconds a request is tried again while the API cannot be reached or
        answers 500-504 (an API restarting, its database failing over); 0: fail at once."""
        self.api = api
        self._timeout = timeout
        self._patience = patience
        self._url = urllib.parse.urlsplit(api.url)
        self._http: http.client.HTTPConnection | None = None
        self._csrf: dict[str, str] = {}

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def post_events(self, events: list[dict[str, Any]]) -> None:
        """Send events and return once the server accepted them (Prefect's clients send them on
        a socket that does not say)."""
        self._call("POST", "/events", body=events)

    # -- runs --------------------------------------------------------------------------------
    def root_run(self, run_id: str | UUID) -> FlowRunRecord:
        """The root mission run with that id; RunError if there is none or it is a group's."""
        found = self.flow_run(parse_run_id(str(run_id)))
        if found.parent_task_run_id is not None:
            raise RunError(f"run {run_id} is a group or child run: use its root mission run")
        return found

    def flow_run(self, run_id: UUID) -> FlowRunRecord:
        response = self._call("GET", f"/flow_runs/{run_id}", missing_ok=True)
        if response is None:
            raise RunError(f"no mission run {run_id} on this server ({self.api.url})")
        return FlowRunRecord.model_validate(response.json())

    def descendants(self, root: UUID) -> list[FlowRunRecord]:
        """The root run and every group or child run under it."""
        found = [self.flow_run(root)]
        frontier = [root]
        while frontier:
            children = self.flow_runs({"parent_flow_run_id": {"any_": [str(i) for i in frontier]}})
            found.extend(children)
            frontier = [c.id for c in children]
        return found

    def flow_runs(
        self,
        flow_runs: dict[str, Any],
        flows: dict[str, Any] | None = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> list[FlowRunRecord]:
        """Flow runs matching a filter (the REST API's FlowRunFilter, as JSON), page by page."""
        found: list[FlowRunRecord] = []
        while True:
            size = PAGE if limit is None else min(PAGE, limit - len(found))
            page = self.flow_runs_page(flow_runs, flows, sort, limit=size, offset=len(found))
            found.extend(page)
            if len(page) < size or (limit is not None and len(found) >= limit):
                return found

    def flow_runs_page(
        self,
        flow_runs: dict[str, Any],
        flows: dict[str, Any] | None = None,
        sort: str | None = None,
        *,
        limit: int,
        offset: int = 0,
    ) -> list[FlowRunRecord]:
        """One page of the flow runs matching a filter."""
        body: dict[str, Any] = {"flow_runs": flow_runs, "limit": limit, "offset": offset}
        if flows:
            body["flows"] = flows
        if sort:
            body["sort"] = sort
        page = self._call("POST", "/flow_runs/filter", body=body).json()
        return [FlowRunRecord.model_validate(r) for r in page]

    def task_runs(
        self, flow_run_ids: list[UUID], only: list[UUID] | None = None
    ) -> list[TaskRunRecord]:
        """Every task run of these flow runs (``only``: those of these ids)."""
        found: list[TaskRunRecord] = []
        if not flow_run_ids:
            return found
        ids = [str(i) for i in flow_run_ids]
        while True:
            body: dict[str, Any] = {
                "flow_runs": {"id": {"any_": ids}},
                "limit": PAGE,
                "offset": len(found),
            }
            if only is not None:
                body["task_runs"] = {"id": {"any_": [str(i) for i in only]}}
            page = self._call("POST", "/task_runs/filter", body=body).json()
            found.extend(TaskRunRecord.model_validate(r) for r in page)
            if len(page) < PAGE:
                return found

    def tables(self, task_run_ids: list[UUID]) -> dict[UUID, list[dict[str, Any]]]:
        """The rows of the table artifacts of these task runs (a batch's items), by task run."""
        found: dict[UUID, list[dict[str, Any]]] = {}
        ids = [str(i) for i in task_run_ids]
        for start in range(0, len(ids), PAGE):
            body = {
                "artifacts": {
                    "task_run_id": {"any_": ids[start : start + PAGE]},
                    "type": {"any_": ["table"]},
                },
                "limit": PAGE,
            }
            for artifact in self._call("POST", "/artifacts/filter", body=body).json():
                rows = _json(artifact.get("data"))
                if isinstance(rows, list) and artifact.get("task_run_id"):
                    found.setdefault(UUID(artifact["task_run_id"]), []).extend(
                        r for r in rows if isinstance(r, dict)
                    )
        return found

    # -- what runs wait for, and what they recorded -------------------------------------------
    def waiting(self, run_id: UUID) -> list[dict[str, Any]]:
        """Every step of the run that waits now (its wait markers), oldest wait first."""
        body = {"prefix": WAIT_PREFIX, "limit": 500, "exclude_keys": []}
        found = self._call("POST", f"/flow_runs/{run_id}/input/filter", body=body).json()
        markers = [_json(item.get("value")) for item in found]
        return sorted((m for m in markers if isinstance(m, dict)), key=lambda m: m.get("since", ""))

    def run_input(self, run_id: UUID, key: str) -> Any | None:
        """A flow run input's decoded value, or None when there is none."""
        found = self._call("GET", f"/flow_runs/{run_id}/input/{key}", missing_ok=True)
        return None if found is None else _json(found.json())

    def events(self, event_filter: dict[str, Any]) -> list[dict[str, Any]]:
        """Every event matching a filter (the REST API's EventFilter, as JSON)."""
        page = self._call("POST", "/events/filter", body={"filter": event_filter, "limit": 50})
        data = page.json()
        found = list(data.get("events", []))
        while data.get("next_page"):
            data = self._call("GET", data["next_page"]).json()
            found.extend(data.get("events", []))
        return found

    # -- transport -----------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, missing_ok: bool = False, body: Any = None) -> Any:
        response = self._patiently(method, path, body)
        if response.status == 403 and "CSRF" in response.text and method != "GET":
            self._csrf = self._csrf_headers()
            response = self._send(method, path, body)
        if missing_ok and response.status == 404:
            return None
        if response.status in (401, 403):
            raise ServerError(
                f"the Prefect API at {self.api.url} refused the request ({response.status}):"
                " check PREFECT_API_AUTH_STRING or PREFECT_API_KEY"
            )
        if response.status >= 400:
            raise ServerError(
                f"the Prefect API at {self.api.url} answered {response.status} to"
                f" {method} {path}: {response.text[:300]}"
            )
        return response

    def _patiently(self, method: str, path: str, body: Any) -> _Response:
        """One request, tried again for ``patience`` seconds while the failure is transient
        (every request AutoAgent sends is a read, or events keyed by their ids)."""
        deadline, pause = time.monotonic() + self._patience, 0.25
        while True:
            try:
                response = self._send(method, path, body)
            except ServerError:
                if time.monotonic() + pause > deadline:
                    raise
            else:
                if response.status not in TRANSIENT or time.monotonic() + pause > deadline:
                    return response
            time.sleep(pause)
            pause = min(pause * 2, 4.0)

    def _send(self, method: str, path: str, body: Any = None) -> _Response:
        """One request; ``path`` is under the API's URL, or an absolute URL the API gave."""
        if "://" in path:  # a next page's link
            link = urllib.parse.urlsplit(path)
            target = link.path + (f"?{link.query}" if link.query else "")
        else:
            target = self._url.path.rstrip("/") + path
        headers = {"Accept": "application/json", **self.api.headers, **self._csrf}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                connection = self._connection()
                connection.request(method, target, body=data, headers=headers)
                response = connection.getresponse()
                return _Response(response.status, response.read().decode(errors="replace"))
            except (http.client.HTTPException, OSError) as exc:
                self.close()
                self._http = None
                kept_alive_too_long = isinstance(
                    exc, http.client.RemoteDisconnected | BrokenPipeError | ConnectionResetError
                )
                if attempt == 1 and kept_alive_too_long:
                    continue  # the server closed an idle keep-alive connection: once more
                raise ServerError(
                    f"cannot reach the Prefect API at {self.api.url}: {exc or type(exc).__name__}"
                ) from None
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        if self._http is None:
            host, port = self._url.hostname or "127.0.0.1", self._url.port
            if self._url.scheme == "https":
                self._http = http.client.HTTPSConnection(
                    host, port, timeout=self._timeout, context=_tls(self.api.verify)
                )
            else:
                self._http = http.client.HTTPConnection(host, port, timeout=self._timeout)
        return self._http

    def _csrf_headers(self) -> dict[str, str]:
        client = str(uuid.uuid4())
        response = self._send("GET", f"/csrf-token?client={client}")
        if response.status >= 400:
            return {}
        return {"Prefect-Csrf-Token": response.json()["token"], "Prefect-Csrf-Client": client}


def _tls(verify: bool | str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@contextlib.contextmanager
def open_reader(patience: float = 0.0) -> Iterator[Reader]:
    """A reader of the configured API (call ``autoagent.server.connection.ensure_api`` first)."""
    reader = Reader(access(), patience=patience)
    try:
        yield reader
    finally:
        reader.close()


def _json(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return None
