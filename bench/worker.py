"""One system's worker process: runs the scenarios it is told to, reports times as JSON lines.

``overhead.py`` starts one long-lived worker per system, so imports and connections are warm
like in a real long-running process, and no system's threads share an interpreter with another
system's. Commands arrive one JSON object per line on stdin; answers leave on a private copy of
the original stdout, while fd 1 itself is pointed at stderr (a log file) so that nothing a
library prints can corrupt the protocol.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import traceback


def _peak_rss_mb() -> float:
    """The worker process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(system: str) -> int:
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def answer(**payload: object) -> None:
        answers.write(json.dumps(payload) + "\n")
        answers.flush()

    from systems import SYSTEMS

    instance = None
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        try:
            if op == "setup":
                instance = importlib.import_module(SYSTEMS[system]).make()
                instance.setup()
                answer(ok=True)
            elif op == "chain":
                answer(ok=True, seconds=instance.chain(command["n"]))
            elif op == "fanout":
                seconds = instance.fanout(command["n"], command["nap"])
                answer(ok=True, seconds=seconds, peak_rss_mb=_peak_rss_mb())
            elif op == "empty":
                answer(ok=True, seconds=instance.empty())
            elif op == "resume":
                first, resumed = instance.resume(command["n"], command["marker"])
                answer(ok=True, first=first, resume=resumed)
            elif op == "wide_resume":
                first, resumed = instance.wide_resume(
                    command["n"], command["nap"], command["marker"]
                )
                answer(ok=True, first=first, resume=resumed)
            elif op == "missions":
                answer(ok=True, **instance.missions(command["n"], command["steps"]))
            elif op == "quit":
                break
            else:
                answer(ok=False, error=f"unknown op {op!r}")
        except BaseException as exc:
            traceback.print_exc()
            answer(ok=False, error=f"{type(exc).__name__}: {exc}"[:2000])
            if isinstance(exc, KeyboardInterrupt):
                break
    if instance is not None:
        try:
            instance.close()
        except Exception:
            traceback.print_exc()
    answers.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
