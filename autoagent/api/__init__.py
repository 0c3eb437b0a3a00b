"""The public API, re-exported lazily by ``autoagent``: missions in code (``missions``, ``steps``,
``scope``), waits from Python (``waits``), answers from outside (``answers``), runs driven from
this process (``runs``) and the notebook helpers (``notebook``). Built on the engine; the CLI is
built on it."""
