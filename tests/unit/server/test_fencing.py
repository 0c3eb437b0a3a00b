"""The lease a mission process holds on its run: steps go on within it without a round trip,
past it only after a renewal that proves the run is still this process's, and a process that
lost its run stops (exit, no state proposed) before another step starts."""

from __future__ import annotations

import threading
from uuid import uuid4

import pytest
from prefect.client.schemas.objects import StateType
from prefect.states import Completed, Crashed, Paused, Running, Scheduled

from autoagent.server import fencing
from autoagent.server.fencing import GRACE, MARGIN, Lease, Reading
from autoagent.server.records import FlowRunRecord, StateRecord

ME = "worker-2:4242"


class Stopped(Exception):
    pass


def _state(state) -> StateRecord:
    return StateRecord(type=state.type, name=state.name)


class Fake:
    """A clock that moves when told, and a server that answers with ``run`` (or not at all)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.run = FlowRunRecord(
            id=uuid4(), name="run", state=_state(Running()), run_count=1, infrastructure_pid=ME
        )
        self.reachable = True
        self.renewals = 0
        self.stops: list[tuple[str, bool]] = []

    def clock(self) -> float:
        return self.now

    def renew(self) -> Reading:
        self.renewals += 1
        if not self.reachable:
            raise ConnectionError("no route to host")
        return Reading(self.now, self.run)

    def stop(self, reason: str, deployed: bool) -> None:
        self.stops.append((reason, deployed))
        raise Stopped(reason)

    def lease(self, window: float = 45.0, **options) -> Lease:
        return Lease("run-1", ME, window, self.renew, clock=self.clock, stop=self.stop, **options)


def test_within_the_lease_a_step_goes_on_without_asking_the_server() -> None:
    fake = Fake()
    lease = fake.lease()
    fake.now += 45.0 - MARGIN - 1
    lease.hold()
    assert fake.renewals == 0


def test_past_the_lease_a_step_waits_for_a_renewal_that_proves_ownership() -> None:
    fake = Fake()
    lease = fake.lease()
    fake.now += 45.0
    lease.hold()
    assert fake.renewals == 1
    assert lease.until == fake.now + 45.0 - MARGIN


def test_a_paused_run_is_still_this_processs() -> None:
    fake = Fake()
    lease = fake.lease()
    fake.run = fake.run.model_copy(update={"state": _state(Paused())})
    fake.now += 60
    lease.hold()
    assert fake.stops == []


@pytest.mark.parametrize(
    ("state", "owner", "count"),
    [
        (Crashed(), ME, 1),  # crash detection gave up on this process
        (Scheduled(), ME, 1),  # awaiting its automatic resume
        (Running(), "worker-1:77", 2),  # resumed elsewhere
        (Running(), ME, 2),  # resumed, and the new process has not recorded itself yet
    ],
    ids=["crashed", "awaiting-resume", "resumed-elsewhere", "resumed-not-recorded"],
)
def test_a_process_that_lost_its_run_stops_before_the_next_step(state, owner, count) -> None:
    fake = Fake()
    lease = fake.lease(deployed=True)
    assert lease.confirm() is True  # its first beat: attempt 1 is this process's
    fake.run = fake.run.model_copy(
        update={"state": _state(state), "infrastructure_pid": owner, "run_count": count}
    )
    fake.now += 60
    with pytest.raises(Stopped, match="no longer this process's"):
        lease.hold()
    assert fake.stops[0][1] is True  # started by a worker: exits 0


@pytest.mark.parametrize("recorded", ["4242", "unix:///var/run/docker.sock:3f2a9c"])
def test_a_worker_records_the_process_in_its_own_format(recorded) -> None:
    """A process worker writes the pid alone, a Docker worker its container: still this one's."""
    fake = Fake()
    lease = fake.lease()
    assert lease.confirm() is True
    fake.run = fake.run.model_copy(update={"infrastructure_pid": recorded})
    fake.now += 60
    lease.hold()
    assert fake.stops == []


def test_a_beat_that_finds_the_run_lost_ends_the_process_at_once() -> None:
    fake = Fake()
    lease = fake.lease()
    fake.run = fake.run.model_copy(update={"state": _state(Crashed())})
    with pytest.raises(Stopped, match="it is Crashed"):
        lease.confirm()


def test_a_process_that_cannot_renew_ends_itself_before_the_run_can_be_taken() -> None:
    fake = Fake()
    lease = fake.lease(window=45.0)
    fake.reachable = False
    fake.now += 45.0 - MARGIN + GRACE - 0.1
    assert not lease.expired()
    fake.now += 0.2
    assert lease.expired() and fake.now < 1000.0 + 45.0  # before crash detection can fire
    with pytest.raises(Stopped, match="could not reach the server"):
        lease.expire()


def test_while_the_server_cannot_be_reached_no_step_starts(monkeypatch) -> None:
    fake = Fake()
    lease = fake.lease()
    assert lease.confirm() is True
    fake.now += 60
    fake.reachable = False
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # the network comes back after a few tries
        sleeps.append(seconds)
        if len(sleeps) == 4:
            fake.reachable = True
            fake.run = fake.run.model_copy(
                update={"infrastructure_pid": "worker-1:9", "run_count": 2}
            )

    monkeypatch.setattr(fencing.time, "sleep", sleep)
    with pytest.raises(Stopped, match="recorded process worker-1:9"):
        lease.hold()
    assert sleeps == [0.25, 0.5, 1.0, 2.0]  # backing off, capped at RETRY_CAP


def test_before_its_run_is_running_a_lease_judges_nothing() -> None:
    """A process resuming a crashed run beats before the run leaves Crashed: not a loss."""
    fake = Fake()
    lease = fake.lease(armed=False)
    fake.run = fake.run.model_copy(update={"state": _state(Crashed())})
    assert lease.confirm() is True
    fake.now += 100
    lease.hold()
    assert fake.stops == []
    fake.run = fake.run.model_copy(update={"state": _state(Running())})
    lease.arm()
    lease.hold()
    assert fake.renewals == 1


def test_a_shorter_detection_window_shortens_the_lease() -> None:
    fake = Fake()
    lease = fake.lease(window=90.0)
    lease.narrow(30.0)
    fake.now += 30.0 - MARGIN + 0.1
    lease.hold()
    assert fake.renewals == 1


def test_after_the_body_the_lease_guards_the_final_state_until_the_server_holds_it() -> None:
    fake = Fake()
    lease = fake.lease(deployed=True)
    assert lease.confirm() is True
    lease.closing = True
    assert lease.confirm() is True and not lease.done  # still Running: the proposal is pending
    fake.run = fake.run.model_copy(update={"state": _state(Completed())})
    assert lease.confirm() is True and lease.done


def test_a_final_state_of_another_attempt_ends_a_closing_process() -> None:
    """Its own final state (Failed: it could not reach the server) must never land on the run
    another process completed."""
    fake = Fake()
    lease = fake.lease(deployed=True)
    assert lease.confirm() is True
    lease.closing = True
    fake.run = fake.run.model_copy(
        update={"state": _state(Completed()), "run_count": 2, "infrastructure_pid": "77"}
    )
    with pytest.raises(Stopped, match="it is Completed"):
        lease.confirm()


def test_a_flow_retry_of_this_process_is_not_a_loss() -> None:
    """A code mission's flow retry: the engine sets AwaitingRetry, then Running (one more entry)."""
    fake = Fake()
    engine = {"state": None}
    lease = fake.lease(engine_state=lambda: engine["state"])
    assert lease.confirm() is True
    waiting = StateRecord(id=uuid4(), type=StateType.SCHEDULED, name="AwaitingRetry")
    engine["state"] = waiting
    fake.run = fake.run.model_copy(update={"state": waiting})
    assert lease.confirm() is True
    running = StateRecord(id=uuid4(), type=StateType.RUNNING, name="Running")
    engine["state"] = running
    fake.run = fake.run.model_copy(update={"state": running, "run_count": 2})
    assert lease.confirm() is True
    fake.now += 60
    lease.hold()
    assert fake.stops == [] and lease.attempt == 2


def test_a_beat_that_reads_this_attempts_final_state_before_the_engine_noted_it_is_no_loss() -> (
    None
):
    """The engine's final state reached the server a moment before the engine recorded it."""
    fake = Fake()
    engine = {"state": StateRecord(id=uuid4(), type=StateType.RUNNING, name="Running")}
    lease = fake.lease(engine_state=lambda: engine["state"])
    assert lease.confirm() is True
    fake.run = fake.run.model_copy(update={"state": _state(Completed())})
    assert lease.confirm() is True and lease.done and fake.stops == []
    with pytest.raises(Stopped, match="has ended"):  # and no step may start after it
        lease.hold()


@pytest.mark.parametrize(
    "left",
    [
        StateRecord(id=uuid4(), type=StateType.COMPLETED, name="Completed"),
        StateRecord(id=uuid4(), type=StateType.PAUSED, name="Suspended"),
        StateRecord(id=uuid4(), type=StateType.SCHEDULED, name="AwaitingRetry"),
    ],
)
def test_once_its_engine_moved_the_run_out_of_running_a_closing_lease_ends_without_the_server(
    left,
) -> None:
    """A process that lives on (a library caller, a test session) keeps no lease for a run it no
    longer drives: a suspended run resumed elsewhere later, or a server gone, must not end it."""
    fake = Fake()
    running = StateRecord(id=uuid4(), type=StateType.RUNNING, name="Running")
    engine = {"state": running}
    lease = fake.lease(engine_state=lambda: engine["state"])
    fake.run = fake.run.model_copy(update={"state": running})
    assert lease.confirm() is True
    lease.closing = True
    assert not lease.settled()  # the engine has not proposed its state yet
    engine["state"] = left
    fake.reachable = False
    fake.now += 3600
    assert lease.settled() and not lease.expired()
    fake.run = fake.run.model_copy(update={"state": _state(Running()), "run_count": 2})
    renewals = fake.renewals
    assert lease.confirm() is True and fake.renewals == renewals and fake.stops == []


def test_before_the_body_ends_a_lease_does_not_settle_on_its_engines_state() -> None:
    """A blocking pause inside the body is still this process's run: it stays guarded."""
    fake = Fake()
    lease = fake.lease(
        engine_state=lambda: StateRecord(id=uuid4(), type=StateType.PAUSED, name="Paused")
    )
    assert not lease.settled()
    fake.reachable = False
    fake.now += 3600
    assert lease.expired()


@pytest.mark.parametrize("name", ["Suspended", "AwaitingTimer"])
def test_a_run_this_process_left_waiting_is_its_own_only_while_it_waits(name) -> None:
    """A suspension or a timer's reschedule, while other steps of the attempt still finish: the
    run stays this process's in that state, and whoever resumes it takes it, even with the same
    count of Running entries (a suspension does not add one)."""
    fake = Fake()
    lease = fake.lease(
        engine_state=lambda: StateRecord(id=uuid4(), type=StateType.RUNNING, name="Running")
    )
    assert lease.confirm() is True
    kind = StateType.PAUSED if name == "Suspended" else StateType.SCHEDULED
    waiting = StateRecord(id=uuid4(), type=kind, name=name)
    lease.hand_over(waiting)
    fake.run = fake.run.model_copy(update={"state": waiting})
    assert lease.confirm() is True and fake.stops == []
    fake.now += 60
    lease.hold()  # renewed in the waiting state
    resumed = StateRecord(id=uuid4(), type=StateType.RUNNING, name="Running")
    fake.run = fake.run.model_copy(update={"state": resumed, "infrastructure_pid": "worker-1:7"})
    with pytest.raises(Stopped, match="it is Running"):
        lease.confirm()


def test_a_released_lease_sends_no_beat_after_its_announcement() -> None:
    """The announcement is the process's last word on the run: a renewal in flight is
    acknowledged before it, and none starts after it."""
    fake = Fake()
    lease = fake.lease()
    said: list[str] = []

    def announce() -> None:
        said.append(f"released after {fake.renewals} beats")

    assert lease.confirm() is True
    lease.release(announce)
    assert said == ["released after 1 beats"] and lease.done
    fake.reachable = False
    fake.now += 3600
    assert lease.confirm() is True and fake.renewals == 1
    assert lease.settled() and not lease.expired()


def test_a_release_waits_for_the_beat_in_flight() -> None:
    fake = Fake()
    in_flight, go_on = threading.Event(), threading.Event()
    order: list[str] = []

    def slow_renew() -> Reading:
        in_flight.set()
        go_on.wait(5)
        order.append("beat acknowledged")
        return Reading(fake.now, fake.run)

    lease = Lease("run-1", ME, 45.0, slow_renew, clock=fake.clock, stop=fake.stop)
    beat = threading.Thread(target=lease.confirm)
    beat.start()
    in_flight.wait(5)
    releasing = threading.Thread(target=lease.release, args=(lambda: order.append("released"),))
    releasing.start()
    go_on.set()
    beat.join(5)
    releasing.join(5)
    assert order == ["beat acknowledged", "released"]
