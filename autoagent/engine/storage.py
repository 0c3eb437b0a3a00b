"""The saved result-storage block: Prefect refuses to persist into an unsaved one."""

from __future__ import annotations

import threading

from prefect.filesystems import LocalFileSystem
from prefect.settings import PREFECT_API_URL

from autoagent.settings import get_settings

_lock = threading.Lock()
_cache: dict[str, LocalFileSystem] = {}


def result_storage() -> LocalFileSystem:
    """Load the results block, creating and saving it the first time (once per API, per process)."""
    settings = get_settings()
    key = f"{PREFECT_API_URL.value()}|{settings.results_block}"
    with _lock:
        if key not in _cache:
            try:
                block = LocalFileSystem.load(settings.results_block)
            except ValueError:
                settings.results_dir.mkdir(parents=True, exist_ok=True)
                block = LocalFileSystem(basepath=str(settings.results_dir))
                block.save(settings.results_block, overwrite=True)
                block = LocalFileSystem.load(settings.results_block)
            _cache[key] = block
        return _cache[key]
