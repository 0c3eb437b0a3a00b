"""Register what AutoAgent's missions need on the configured Prefect server, before a worker runs:
the results block every mission process persists to (saved once, shared by the workers that see
the same path), and the LLM provider block type, so the UI offers its form (Blocks → AutoAgent
LLM Provider; save one named ``default`` there, or with ``LLMProvider(...).save("default")``).

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m blocks.register
"""

from __future__ import annotations

import sys

from autoagent.agents.provider import LLMProvider
from autoagent.engine.storage import result_storage


def main() -> int:
    storage = result_storage()
    LLMProvider.register_type_and_schema()
    print(f"results block saved: {storage.basepath}; LLM provider block type registered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
