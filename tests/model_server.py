"""The recorded model server of the examples, scripted by the tests (examples/model_replay.py)."""

from examples.model_replay import JSONServer, ModelServer, Turn, call, refuse, say

__all__ = ["JSONServer", "ModelServer", "Turn", "call", "refuse", "say"]
