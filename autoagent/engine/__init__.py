"""The engine: missions run as Prefect flows, their steps as Prefect tasks.

Tasks first (``step``, ``ask``, ``timer``, ``compensation``, ``remote``), then what schedules them
(``scheduler`` with ``waiting`` and ``planning``) and the flows (``mission``: the spec runner and
its groups; ``remote_flow``: a step on another work pool; ``recover``: capped automatic resume).
Results persist on a saved block (``storage``, ``results``); what a run did in this process is
its ``journal``, returned to whoever drives it (``driving``); ``automations`` installs crash
detection on a server. The public API (autoagent.api) and the CLI are built on it.
"""
