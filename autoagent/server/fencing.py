"""Fencing: a mission process works on its run only while it holds the run's lease; a process
that lost its run (cut off by a network split while crash detection marked the run Crashed and
another process resumed it) stops before it can do anything more, on the server or off it.

The lease is earned by heartbeats the server acknowledged: crash detection marks a run Crashed
only after ``silence`` seconds without one (``autoagent resume`` from another machine waits 3
heartbeat periods), so for ``window - MARGIN`` seconds after an acknowledged beat no other
process can have taken the run. Each renewal also reads the run: it is still this process's
when it is in the state this process's engine last set (a flow retry's wait included), or
Running, Paused or Cancelling with the count of Running entries it had when this process took
it (every resume after a crash adds one; a wait answered does not).
The process the run records is no proof: workers write it in their own formats (a pid, a Docker
container id), after the process started.

Three rules follow. A renewal that finds the run lost ends the process at once. A step starts,
and its result counts, only within the lease (``hold`` renews a lapsed one first). A process
that cannot renew ends itself GRACE seconds after its lease lapsed, still before the run can be
taken: a cut-off process is gone before the split heals, so nothing it had in flight (a state, a
result, a log) reaches the server afterwards. That holds after the mission's body too, while the
engine proposes the run's final state (``closing``), until the server shows that state as this
attempt's. Clocks of the hosts must agree within MARGIN.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from prefect.client.schemas.objects import StateType

from autoagent.server.records import FlowRunRecord

logger = logging.getLogger("autoagent.fencing")

MARGIN = 10.0
"""Seconds kept between the end of a lease and the earliest moment the run could be taken:
room for clock skew between hosts and for the detector's evaluation period."""
GRACE = 5.0
"""Seconds a process that cannot renew outlives its lease (renewal requests time out sooner)."""
RENEW_TIMEOUT = 2.0
"""Seconds each request of a renewal may take."""
OWNED_STATES = {StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING}
FINAL_STATES = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
RETRY_CAP = 2.0
"""Longest pause between two renewals while a step waits for one."""
FENCED_EXIT = 75
"""Exit code of a fenced process started from the command line (EX_TEMPFAIL). One started by a
worker exits 0: the worker would otherwise mark Crashed the run its new owner holds."""


@dataclass(frozen=True)
class Reading:
    """What one renewal learned: when its beat was sent (monotonic), and the run as read after
    the server acknowledged that beat."""

    sent: float
    run: FlowRunRecord


class EngineState(Protocol):
    """What the lease reads of the state an engine last set (a Prefect State)."""

    @property
    def id(self) -> object: ...

    @property
    def type(self) -> StateType: ...


Renew = Callable[[], Reading]
"""Send a heartbeat and wait for the server's acknowledgement, then read the run."""


class Lease:
    """This process's hold on one mission run (the root run of the mission it runs)."""

    def __init__(
        self,
        run_id: str,
        process: str,
        window: float,
        renew: Renew,
        *,
        deployed: bool = False,
        armed: bool = True,
        engine_state: Callable[[], EngineState | None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        stop: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.run_id = run_id
        self.process = process
        self.window = window
        self.deployed = deployed
        self.armed = armed
        """Whether the run is Running for this process: until then nothing is judged (a run
        being resumed is still Crashed when its new process's first beat reads it)."""
        self.attempt: int | None = None
        """The run's count of Running entries when this process took it (a resume elsewhere
        adds one; a wait answered does not)."""
        self._renew = renew
        self._engine_state = engine_state
        """The state this process's engine last set on the run (None: unknown)."""
        self._clock = clock
        self._stop = stop or _exit
        self._lock = threading.Lock()
        self.until = clock() + self.term
        self.closing = False
        """The mission's body has ended; the engine is proposing the run's final state."""
        self.done = False
        """This attempt's final state is on the server, or the process released the run: nothing
        left to renew or guard."""
        self._handed: EngineState | None = None
        """The state this process left the run waiting in (suspended, or rescheduled)."""

    @property
    def term(self) -> float:
        return max(0.0, self.window - MARGIN)

    def arm(self, engine_state: Callable[[], EngineState | None] | None = None) -> None:
        """The run entered Running for this process just now: it holds the run for one term."""
        with self._lock:
            self.armed = True
            self.until = self._clock() + self.term
            if engine_state is not None:
                self._engine_state = engine_state

    def narrow(self, window: float) -> None:
        """The server's crash detection is quicker than assumed: the lease ends that much
        sooner."""
        with self._lock:
            if window < self.window:
                self.until -= self.window - window
                self.window = window

    def held(self) -> bool:
        return not self.armed or self._clock() < self.until

    def settled(self) -> bool:
        """After the body, the engine has moved the run out of Running: the server accepted the
        state that ends this process's part (final, suspended, or a retry's wait, after which a
        new body takes a lease of its own). Nothing is left to guard, server or not: a process
        that lives on (a library caller, a test) keeps no lease for a run it no longer drives."""
        if self.closing and not self.done:
            state = self._engine_state()
            if state is not None and state.type != StateType.RUNNING:
                self.done = True
        return self.done

    def hand_over(self, state: EngineState) -> None:
        """This process left the run waiting in ``state`` (suspended, or rescheduled for a
        timer), which the server accepted: the run stays this process's only while it stays in
        that state. Whoever resumes it takes it, even with the same count of Running entries (a
        suspension does not add one), and this process, still finishing the steps it had
        started, stops at its next renewal."""
        with self._lock:
            self._handed = state

    def release(self, announce: Callable[[], None]) -> None:
        """This process is done with a run it leaves waiting: no beat follows ``announce``,
        which tells crash detection that the silence after it is not a death (beats sent after
        the run's state changed would otherwise open a window nothing closes)."""
        with self._lock:  # a beat in flight is acknowledged first
            self.done = True
            announce()

    def confirm(self) -> bool:
        """Renew once; False when the server could not be reached. A run found lost ends the
        process."""
        if self.settled():
            return True
        with self._lock:
            if self.done:  # released meanwhile: no beat after its announcement
                return True
            try:
                reading = self._renew()
            except Exception as exc:
                logger.debug("lease of run %s not renewed: %s", self.run_id, exc)
                return False
            lost = self._judge(reading) if self.armed else None
        if lost is not None:
            self._stop(lost, self.deployed)
        return True

    def hold(self) -> None:
        """Return only while this process holds the run: at once within the lease, else after a
        renewal. While the server cannot be reached this waits, and ``expired`` ends the
        process GRACE seconds past the lease."""
        pause, warned = 0.25, False
        while True:
            if self.done and not self.closing:  # a renewal may find the attempt ended
                self._stop(f"run {self.run_id} has ended: no step starts after it", self.deployed)
            if self.held():
                return
            if self.confirm():
                continue  # renewed (held now), or the attempt ended; a loss ended the process
            if not warned:
                logger.warning("run %s: lease lapsed and the server does not answer", self.run_id)
                warned = True
            time.sleep(pause)
            pause = min(pause * 2, RETRY_CAP)

    def expired(self) -> bool:
        """Past the lease by GRACE without a renewal: the run may be taken any moment now."""
        return self.armed and not self.settled() and self._clock() >= self.until + GRACE

    def expire(self) -> None:
        """End the process: it could not renew its lease in time."""
        self._stop(
            f"run {self.run_id}: this process ({self.process}) could not reach the server for"
            f" {self.window - MARGIN + GRACE:.0f}s, so crash detection may resume the run"
            " elsewhere; it stops without doing anything more",
            self.deployed,
        )

    def _judge(self, reading: Reading) -> str | None:
        """Renew from ``reading``, or say why the run is no longer this process's."""
        run = reading.run
        state = run.state.type if run.state is not None else None
        engine = self._handed or self._engine_state()
        own = engine is not None and run.state is not None and run.state.id == engine.id
        if self._handed is not None and not own:
            return self._lost(run)
        if own:  # the run is in the state this process's engine set: a retry's wait included
            self.attempt = run.run_count
        elif self.attempt is None and state in OWNED_STATES:
            self.attempt = run.run_count  # its first reading since the run became this process's
        same = own or run.run_count == self.attempt
        if state in FINAL_STATES and state != StateType.CRASHED and same:
            self.done = True  # this attempt ended (its engine's final state, read before the
            return None  # engine noted it; or a cancel): nothing left to renew
        if same and (own or state in OWNED_STATES):
            self.until = max(self.until, reading.sent + self.term)
            return None
        return self._lost(run)

    def _lost(self, run: FlowRunRecord) -> str:
        name = run.state.name if run.state is not None else "without a state"
        by = f", recorded process {run.infrastructure_pid}" if run.infrastructure_pid else ""
        return (
            f"run {self.run_id} is no longer this process's ({self.process}, attempt"
            f" {self.attempt}): it is {name} (attempt {run.run_count}{by}); this process stops"
            " without doing anything more"
        )


def _exit(reason: str, deployed: bool) -> None:
    """End the process now: no state proposed, no result written, no hook run, and nothing it
    had queued to send. Its step processes end with it (the watchdog's job)."""
    logger.error(reason)
    with contextlib.suppress(Exception):
        print(f"fenced: {reason}", file=sys.stderr, flush=True)
    _abort_sockets()
    os._exit(0 if deployed else FENCED_EXIT)


def _abort_sockets() -> None:
    """Make every socket of this process close with a reset: the kernel drops what it still
    holds to send. Measured on a split: a state the engine had queued on a kept-alive connection
    while the network was down reached the server when it healed, after the process had exited,
    and overwrote the final state of the attempt that had resumed the run."""
    abort = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets and discards
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError, ValueError):
            fd = int(name)
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                sock = socket.socket(fileno=fd)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, abort)
                sock.detach()


_current: ContextVar[Lease | None] = ContextVar("autoagent_lease", default=None)


def current_lease() -> Lease | None:
    return _current.get()


def hold() -> None:
    """Before a step starts and before its result counts: go on only while this process holds
    its run (nothing to hold outside a mission's heartbeat)."""
    lease = _current.get()
    if lease is not None:
        lease.hold()


def hand_over(state: EngineState) -> None:
    """The current mission process left its run waiting in ``state`` (``Lease.hand_over``)."""
    lease = _current.get()
    if lease is not None:
        lease.hand_over(state)


@contextlib.contextmanager
def holding(lease: Lease) -> Iterator[Lease]:
    token = _current.set(lease)
    try:
        yield lease
    finally:
        _current.reset(token)
