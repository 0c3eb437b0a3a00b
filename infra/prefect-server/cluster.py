"""Prefect's self-hosted scale-out on one Linux machine: seven hosts, each a network namespace
with its own address and host name, joined by a switch (netns.py). Run as root.

    db         PostgreSQL and Redis of the cluster (its own, not the machine's)      .10
    api-1      Prefect API server (no services)                                      .11
    api-2      Prefect API server (no services)                                      .12
    lb         HAProxy in front of both APIs, health-checked every second          .20
    services   Prefect's background services (scheduler, triggers, recorders...)     .30
    worker-1   process worker on the pool autoagent-process                          .41
    worker-2   process worker on the same pool                                       .42

    python infra/prefect-server/cluster.py up              # from nothing to healthy; prints env
    python infra/prefect-server/cluster.py status          # each host: cable, processes, health
    python infra/prefect-server/cluster.py env             # export lines for clients
    python infra/prefect-server/cluster.py kill HOST       # kill -9 every process of a host
    python infra/prefect-server/cluster.py start HOST      # start a host's processes again
    python infra/prefect-server/cluster.py cut HOST        # unplug a host (a network split)
    python infra/prefect-server/cluster.py heal HOST       # plug it back
    python infra/prefect-server/cluster.py down [--purge]  # stop all; --purge: and its data

Clients on the machine reach the cluster through the load balancer (PREFECT_API_URL printed by
`up`). Settings (defaults in brackets): CLUSTER_DIR [~/.autoagent/cluster] holds each host's
pids, logs and home, the auth string and the shared result storage; CLUSTER_NAME [aa] prefixes
namespaces and links (at most 8 letters); CLUSTER_SUBNET [10.231.7] the /24 of the hosts;
CLUSTER_PGDATA [/var/tmp/autoagent-cluster-NAME/pgdata] the database's files (the postgres user
must reach them); CLUSTER_AUTH [generated once].
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import netns
import stack

HOSTS = {
    "db": 10,
    "api-1": 11,
    "api-2": 12,
    "lb": 20,
    "services": 30,
    "worker-1": 41,
    "worker-2": 42,
}
PORT = 4200
POOL = "autoagent-process"
WAIT = float(os.environ.get("CLUSTER_WAIT", "180"))


@dataclass
class Cluster:
    dir: Path
    net: netns.Net
    pgdata: Path

    @classmethod
    def from_env(cls) -> Cluster:
        home = Path(os.environ.get("AUTOAGENT_HOME", Path.home() / ".autoagent"))
        name = os.environ.get("CLUSTER_NAME", "aa")
        if not (name.isalnum() and name.islower() and 1 <= len(name) <= 8):
            raise SystemExit(f"CLUSTER_NAME must be 1-8 lowercase letters or digits: {name!r}")
        pgdata = os.environ.get("CLUSTER_PGDATA", f"/var/tmp/autoagent-cluster-{name}/pgdata")
        return cls(
            dir=Path(os.environ.get("CLUSTER_DIR", home / "cluster")).resolve(),
            net=netns.Net(name, os.environ.get("CLUSTER_SUBNET", "10.231.7")),
            pgdata=Path(pgdata),
        )

    def ip(self, host: str) -> str:
        return self.net.address(HOSTS[host])

    @property
    def api(self) -> str:
        return f"http://{self.ip('lb')}:{PORT}/api"

    def auth(self) -> str:
        return os.environ.get("CLUSTER_AUTH") or stack.kept_auth(self.dir / "auth")

    def hostname(self, host: str) -> str:
        return f"{self.net.name}-{host}"

    def env(self, host: str) -> dict[str, str]:
        """What each process of ``host`` runs with: the database and Redis on ``db``, the API
        through the load balancer, its own Prefect home, the results every host shares."""
        db, auth = self.ip("db"), self.auth()
        redis = f"redis://{db}:6379/0"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
            "PREFECT_HOME": str(self.dir / host / "prefect-home"),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://postgres@{db}:5432/prefect",
            "PREFECT_SERVER_API_AUTH_STRING": auth,
            "PREFECT_API_AUTH_STRING": auth,
            "PREFECT_API_URL": self.api,
            "PREFECT_UI_API_URL": self.api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": os.environ.get(
                "PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30"
            ),
            "PREFECT_WORKER_QUERY_SECONDS": os.environ.get("PREFECT_WORKER_QUERY_SECONDS", "5"),
            "DO_NOT_TRACK": "1",
            "PREFECT_CLIENT_RETRY_EXTRA_CODES": stack.CLIENT_RETRY_EXTRA_CODES,
            "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
            "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
            "PREFECT_REDIS_MESSAGING_URL": redis,
            "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
            "PREFECT_SERVER_DOCKET_URL": redis,
            "AUTOAGENT_HOME": str(self.dir / host / "autoagent-home"),
            "AUTOAGENT_RESULTS_PATH": str(self.dir / "results"),
        }
        # Task-run records commit one event at a time (Prefect's default), not in the native
        # stack's batches: a batch is acknowledged to Redis before it is written, so a services
        # host killed mid-batch lost the records of up to a second of steps (measured).
        env.update({k: os.environ[k] for k in stack.RECORDER_BATCHING if k in os.environ})
        if host.startswith("api-"):
            env["PREFECT_SERVER_API_HOST"] = self.ip(host)
            env["PREFECT_SERVER_API_PORT"] = str(PORT)
            # api-1 migrates the database on start; api-2 never races it
            env["PREFECT_API_DATABASE_MIGRATE_ON_START"] = str(host == "api-1").lower()
        return env

    def processes(self, host: str) -> dict[str, list[str]]:
        """The processes of ``host`` by name, in start order."""
        ip = self.ip(host)
        if host == "db":
            postgres = _pg_bin("postgres")
            pg_user = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
            return {
                "postgres": [
                    *pg_user,
                    postgres,
                    "-D",
                    str(self.pgdata),
                    "-p",
                    "5432",
                    "-c",
                    f"listen_addresses={ip}",
                    "-c",
                    f"unix_socket_directories={self.pgdata}",
                ],
                "redis": [
                    "redis-server",
                    "--bind",
                    ip,
                    "--port",
                    "6379",
                    "--protected-mode",
                    "no",
                    "--dir",
                    str(self.dir / "db"),
                    "--appendonly",
                    "yes",
                    "--save",
                    "",
                ],
            }
        if host == "lb":
            return {"haproxy": ["haproxy", "-W", "-db", "-f", str(self.dir / "lb" / "haproxy.cfg")]}
        # the API, the services and the worker are started as the native stack starts them
        config = stack.Config(self.dir / host, "", "prefect", ip, PORT, POOL, "")
        native = stack.components(config, docker=False)
        if host.startswith("api-"):
            return {"api": native["api"]}
        if host == "services":
            return {"services": native["services"]}
        worker = native["worker"]
        worker[worker.index("--name") + 1] = host  # one name per worker on the pool
        return {"worker": worker}

    def pid(self, host: str, name: str) -> int | None:
        path = self.dir / host / f"{name}.pid"
        if not path.exists():
            return None
        pid = int(path.read_text())
        return pid if _running(pid) else None

    def launch(self, host: str, name: str, argv: list[str]) -> None:
        """Start one process on ``host``, in a session of its own, logging to its host's dir."""
        if self.pid(host, name):
            return
        where = self.dir / host
        where.mkdir(parents=True, exist_ok=True)
        with (where / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                self.net.command(host, self.hostname(host), argv),
                env=self.env(host),
                cwd=stack.ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        (where / f"{name}.pid").write_text(str(process.pid))

    def start(self, host: str) -> None:
        """Start ``host``'s processes and wait until each answers."""
        if host == "db":
            self._init_db()
        elif host == "lb":
            self._write_lb_config()
        for name, argv in self.processes(host).items():
            self.launch(host, name, argv)
        self._wait_ready(host)

    def _wait_ready(self, host: str) -> None:
        checks = {
            "db": lambda: _pg_ready(self) and _redis_ready(self),
            "api-1": lambda: (
                stack.probe(f"http://{self.ip('api-1')}:{PORT}/api", self.auth()) == 200
            ),
            "api-2": lambda: (
                stack.probe(f"http://{self.ip('api-2')}:{PORT}/api", self.auth()) == 200
            ),
            "lb": lambda: stack.probe(self.api, self.auth()) == 200,
        }
        check = checks.get(host, lambda: True)
        deadline = time.monotonic() + WAIT
        while not check():
            dead = [name for name in self.processes(host) if not self.pid(host, name)]
            if dead or time.monotonic() > deadline:
                why = f"{', '.join(dead)} exited" if dead else f"not ready after {WAIT:.0f}s"
                raise SystemExit(f"{host}: {why}; see {self.dir / host}/*.log")
            time.sleep(0.5)
        if host == "db":
            _ensure_database(self)

    def _init_db(self) -> None:
        """The cluster's own PostgreSQL data directory, made once (initdb, trust on its subnet)."""
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        for part in [self.pgdata, *self.pgdata.parents][:2]:
            subprocess.run(["chown", "postgres:postgres", str(part)], check=True)
        pg_user = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
        argv = [
            *pg_user,
            _pg_bin("initdb"),
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"db: initdb failed: {done.stderr.strip()}")
        with (self.pgdata / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {self.net.address(0)}/24 trust\n")

    def _write_lb_config(self) -> None:
        """HAProxy: round robin over the APIs that pass /api/health (every second, out after
        two failures, back after two passes); a request that cannot connect goes to the other."""
        auth = stack._basic(self.auth())
        servers = "\n".join(
            f"    server {host} {self.ip(host)}:{PORT} check" for host in ("api-1", "api-2")
        )
        config = f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    retries 3
    option redispatch
    retry-on conn-failure
frontend api
    bind {self.ip("lb")}:{PORT}
    default_backend apis
frontend stats
    bind {self.ip("lb")}:8404
    stats enable
    stats uri /stats
backend apis
    balance roundrobin
    option httpchk
    http-check send meth GET uri /api/health hdr Authorization "Basic {auth}"
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
{servers}
"""
        (self.dir / "lb").mkdir(parents=True, exist_ok=True)
        (self.dir / "lb" / "haproxy.cfg").write_text(config)

    def kill(self, host: str) -> list[int]:
        """kill -9 every process of ``host``: its services and everything they started."""
        pids = self.net.pids(host)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_running(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        return pids

    def backends(self) -> dict[str, str]:
        """Each API as the load balancer sees it (UP, DOWN...); empty when it does not answer."""
        import urllib.request

        try:
            url = f"http://{self.ip('lb')}:8404/stats;csv"
            with urllib.request.urlopen(url, timeout=3) as response:
                rows = response.read().decode().splitlines()
        except OSError:
            return {}
        found = {}
        for row in rows[1:]:
            cells = row.split(",")
            if len(cells) > 17 and cells[0] == "apis" and cells[1].startswith("api-"):
                found[cells[1]] = cells[17]
        return found


def _pg_bin(tool: str) -> str:
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"))
    if not versions:
        raise SystemExit(f"PostgreSQL's {tool} not found under /usr/lib/postgresql")
    return str(versions[-1])


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def _pg_ready(cluster: Cluster) -> bool:
    argv = [_pg_bin("pg_isready"), "-h", cluster.ip("db"), "-p", "5432", "-q", "-t", "1"]
    return subprocess.run(argv).returncode == 0


def _redis_ready(cluster: Cluster) -> bool:
    import redis

    try:
        return bool(redis.Redis(host=cluster.ip("db"), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _ensure_database(cluster: Cluster) -> None:
    argv = [
        "psql",
        "-h",
        cluster.ip("db"),
        "-U",
        "postgres",
        "-tAc",
        "SELECT 1 FROM pg_database WHERE datname = 'prefect'",
    ]
    found = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    if not found:
        create = ["psql", "-h", cluster.ip("db"), "-U", "postgres", "-c", "CREATE DATABASE prefect"]
        subprocess.run(create, capture_output=True, check=True)


def up(cluster: Cluster) -> int:
    if os.geteuid() != 0:
        print("cluster.py makes network namespaces: run it as root", file=sys.stderr)
        return 1
    if not any(Path(d, "haproxy").exists() for d in os.environ.get("PATH", "").split(":")):
        print("haproxy not found: apt-get install haproxy", file=sys.stderr)
        return 1
    started = time.monotonic()
    cluster.dir.mkdir(parents=True, exist_ok=True)
    (cluster.dir / "results").mkdir(exist_ok=True)
    cluster.net.create(HOSTS)
    for host in HOSTS:
        cluster.start(host)
        if host == "lb":
            stack.ensure_pools(_pool_config(cluster), cluster.env("lb"))
        print(f"{host:9} up at {cluster.ip(host)} ({time.monotonic() - started:.1f}s)")
    print(f"healthy in {time.monotonic() - started:.1f}s: {cluster.api}")
    print(env_lines(cluster))
    return 0


def _pool_config(cluster: Cluster) -> stack.Config:
    """The work pools are the native stack's (the same job templates in deployments/)."""
    config = stack.Config.from_env()
    config.pool = POOL
    return config


def down(cluster: Cluster, purge: bool) -> int:
    for host in reversed(list(HOSTS)):
        if cluster.net.namespace(host) in netns.namespaces():
            for name in cluster.processes(host):
                pid = cluster.pid(host, name)
                if pid is not None:
                    os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while cluster.net.pids(host) and time.monotonic() < deadline:
                time.sleep(0.2)
            cluster.kill(host)
        for name in cluster.processes(host):
            (cluster.dir / host / f"{name}.pid").unlink(missing_ok=True)
        print(f"{host:9} stopped")
    cluster.net.destroy(HOSTS)
    if purge:
        import shutil

        shutil.rmtree(cluster.pgdata.parent, ignore_errors=True)
        shutil.rmtree(cluster.dir, ignore_errors=True)
        print(f"removed {cluster.dir} and {cluster.pgdata.parent}")
    return 0


def status(cluster: Cluster) -> int:
    ok = cluster.net.exists()
    backends = cluster.backends() if ok else {}
    for host, number in HOSTS.items():
        cable = "plugged" if ok and cluster.net.plugged(number) else "unplugged"
        procs = []
        for name in cluster.processes(host):
            pid = cluster.pid(host, name)
            ok &= pid is not None
            procs.append(f"{name} {'pid ' + str(pid) if pid else 'stopped'}")
        seen = f" (lb: {backends[host]})" if host in backends else ""
        print(f"{host:9} {cluster.ip(host):13} {cable:9} {', '.join(procs)}{seen}")
    code = stack.probe(cluster.api, cluster.auth()) if ok else None
    print(f"{'health':9} {code or 'no answer'} ({cluster.api})")
    return 0 if ok and code == 200 else 1


def env_lines(cluster: Cluster) -> str:
    return (
        f"export PREFECT_API_URL={cluster.api}\n"
        f"export PREFECT_API_AUTH_STRING='{cluster.auth()}'\n"
        f"export AUTOAGENT_RESULTS_PATH={cluster.dir / 'results'}"
    )


def main(argv: list[str]) -> int:
    cluster = Cluster.from_env()
    action, rest = (argv[0], argv[1:]) if argv else ("status", [])
    if action == "up":
        return up(cluster)
    if action == "down":
        return down(cluster, purge="--purge" in rest)
    if action == "status":
        return status(cluster)
    if action == "env":
        print(env_lines(cluster))
        return 0
    if action in ("kill", "start", "cut", "heal") and len(rest) == 1 and rest[0] in HOSTS:
        host = rest[0]
        if action == "kill":
            print(f"{host}: killed {len(cluster.kill(host))} processes")
        elif action == "start":
            cluster.start(host)
            print(f"{host}: up")
        elif action == "cut":
            cluster.net.cut(HOSTS[host])
            print(f"{host}: unplugged")
        else:
            cluster.net.heal(HOSTS[host])
            print(f"{host}: plugged back")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except netns.NetError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        sys.exit(1)
