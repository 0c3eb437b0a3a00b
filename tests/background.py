"""A mission running in a background thread of the test process, for tests that answer it."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from typing import Any

from prefect.states import State

from autoagent.api import runs
from autoagent.api.runs import Finished
from autoagent.server import inputs
from autoagent.server.client import read_run
from autoagent.spec import validate_data
from tests.missions import MissionRun, read_status


class Background:
    """Start a mission in a thread (with this context's Prefect settings) and watch it."""

    def __init__(self, data: dict[str, Any], params: dict[str, Any] | None = None, **options: Any):
        self.spec = validate_data(data)
        self.flow_run = runs.create(self.spec, params or {}, **options)
        self.id = str(self.flow_run.id)
        self.finished: Finished | None = None
        self.error: BaseException | None = None
        context = contextvars.copy_context()
        self.thread = threading.Thread(target=context.run, args=(self._run,), daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.finished = runs.execute(self.flow_run, spec=self.spec)
        except BaseException as exc:  # surfaced by finish()
            self.error = exc

    def waiting(self) -> list[dict[str, Any]]:
        return inputs.waiting(self.flow_run.id)

    def until(self, predicate: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = predicate()
            if value:
                return value
            if not self.thread.is_alive():
                raise AssertionError(f"the mission ended before {what or predicate}: {self.state}")
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what or predicate}")

    def until_waiting(self, path: str, timeout: float = 60) -> dict[str, Any]:
        """The marker of ``path`` once the step waits (and, for an approval, holds the form)."""

        def ready() -> dict[str, Any] | None:
            marker = next((m for m in self.waiting() if m["path"] == path), None)
            if marker is None or marker["kind"] != "approval":
                return marker
            state = read_run(self.id).state
            keyset = (state.state_details.run_input_keyset or {}) if state else {}
            paused = state is not None and state.is_paused()
            return (
                marker
                if paused and keyset.get("response") == inputs.keyset(path)["response"]
                else None
            )

        return self.until(ready, timeout, f"{path} waiting")

    def finish(self, timeout: float = 120) -> MissionRun:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the mission did not finish in time"
        if self.error is not None:
            raise self.error
        assert self.finished is not None
        runs.wait_for_records(self.flow_run.id, set(), 10)
        return MissionRun(self.flow_run, self.finished, read_status(self.id))

    @property
    def state(self) -> State | None:
        return self.finished.state if self.finished is not None else None
