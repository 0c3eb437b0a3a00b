"""Access to the Prefect server, the layer between the core and the engine.

Which server and how to reach it (``connection``, ``local``), Prefect's client shared per session
(``client``), the REST reader and the records it returns for the commands that only look at runs
(``reader``, ``records``, ``status``, ``materializations``), what a run keeps as flow run inputs
(``inputs``: waits, answers, signals, markers; ``forms``: approval forms) and whether a run's
process is alive (``liveness``). Nothing here runs a mission: the engine does.
"""
