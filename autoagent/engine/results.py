"""Persisted step results: the key every step's result is stored under, and direct reads and
writes for what the task engine need not redo.

The key is the root mission run id, the step path (group path and for_each index included) and a
hash of the resolved input (design.md section 6). A resumed mission finds each completed step's
record here instead of running it through the task engine again, and a completed fan-out or group
leaves one record of its whole output, so a resume skips it with one read instead of one per item
or a subflow.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

from prefect.filesystems import LocalFileSystem
from prefect.results import ResultStore
from prefect.serializers import JSONSerializer

from autoagent.engine.storage import result_storage

logger = logging.getLogger("autoagent.results")
MISSING = object()


def cache_key(root_run_id: str, path: str, resolved_input: Any) -> str:
    digest = hashlib.sha256(
        json.dumps(resolved_input, sort_keys=True, default=str).encode()
    ).hexdigest()[:24]
    return f"{root_run_id}/{path}/{digest}"


class Results:
    """The results block of this mission run, as a key-value store of JSON values."""

    def __init__(self, root_run_id: str):
        self.root_run_id = root_run_id
        self._store: ResultStore | None = None
        self._lock = threading.Lock()
        self._made: set[Path] = set()  # folders known to exist under a local results block

    def _results(self) -> ResultStore:
        with self._lock:
            if self._store is None:
                self._store = ResultStore(
                    result_storage=result_storage(),
                    serializer=JSONSerializer(),
                    cache_result_in_memory=False,
                )
            return self._store

    def read(self, path: str, basis: Any) -> Any:
        """The value recorded for ``path`` and ``basis`` in this run, or MISSING."""
        try:
            record = self._results().read(cache_key(self.root_run_id, path, basis))
        except Exception:  # no record: it never completed
            return MISSING
        return record.result

    def record(self, path: str, basis: Any, value: Any) -> None:
        """Record a unit's result now; an error if it could not be (the unit is not done)."""
        store = self._results()
        key = cache_key(self.root_run_id, path, basis)
        block = store.result_storage
        if not isinstance(block, LocalFileSystem) or not block.basepath:
            store.write(value, key=key)
            return
        # the record Prefect's store writes, in the same file, without the block's per-write path
        # resolution (a third of a batched item's own cost): keys are made here, under the base
        target = Path(block.basepath).expanduser() / key
        if target.parent not in self._made:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(target.parent)
        content = store.create_result_record(value, key=key).serialize()
        with open(target, "wb") as out:
            out.write(content)

    def write(self, path: str, basis: Any, value: Any) -> None:
        """Record a completed fan-out's or group's output; a failure only costs a later resume."""
        try:
            self._results().write(value, key=cache_key(self.root_run_id, path, basis))
        except Exception:
            logger.warning("could not record the output of %s", path, exc_info=True)
