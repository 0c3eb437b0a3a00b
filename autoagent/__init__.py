"""AutoAgent: long multi-agent missions on Prefect, durable across crashes.

The CLI (``autoagent``) and specs are the main entry points; from Python, ``approve`` and
``signal`` answer a waiting mission, and ``approval``, ``event`` and ``wait`` make any Prefect
flow wait durably for a person, another system or the clock.
"""

from autoagent.helpers import approval, event, wait
from autoagent.waits import approve, signal

__all__ = ["approval", "approve", "event", "signal", "wait"]
