"""Hosts on one Linux machine: network namespaces joined by a bridge, each with its own address
and its own host name, for cluster.py.

The bridge lives in a namespace of its own (the "switch"), so the machine's firewall (Docker's
FORWARD policy, say) never sees the hosts' traffic; the machine itself is one more port on the
switch, at .1, which is how clients on the machine reach the load balancer. Cutting a host's
cable is setting its switch port down: the host keeps its address and its processes, and sees
nothing but silence, as on a real network split.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass


class NetError(RuntimeError):
    """A network command failed; the message names it and what it printed."""


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True)
    if check and done.returncode != 0:
        raise NetError(f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()}")
    return done


@dataclass(frozen=True)
class Net:
    """The namespaces and links of one cluster: ``name`` prefixes them all (a few letters,
    since a link's name has at most 15), ``subnet`` is the first three octets of its /24."""

    name: str
    subnet: str

    @property
    def switch(self) -> str:
        return f"{self.name}-switch"

    def namespace(self, host: str) -> str:
        return f"{self.name}-{host}"

    def address(self, number: int) -> str:
        return f"{self.subnet}.{number}"

    def _port(self, number: int) -> str:
        """The switch's end of the cable of the host at ``.number`` (the machine's is .1)."""
        return f"{self.name}p{number}"

    def exists(self) -> bool:
        return self.switch in namespaces()

    def create(self, hosts: dict[str, int]) -> None:
        """The switch, the machine's port on it and one namespace per host (idempotent)."""
        missing = [tool for tool in ("ip", "unshare") if shutil.which(tool) is None]
        if missing:
            raise NetError(f"{', '.join(missing)} not found: install iproute2 and util-linux")
        have = namespaces()
        if self.switch not in have:
            sh("ip", "netns", "add", self.switch)
            self._in(self.switch, "ip", "link", "add", "br0", "type", "bridge")
            self._in(self.switch, "ip", "link", "set", "br0", "up")
            self._in(self.switch, "ip", "link", "set", "lo", "up")
            self._cable(None, 1)
        for host, number in hosts.items():
            if self.namespace(host) not in have:
                sh("ip", "netns", "add", self.namespace(host))
                self._cable(host, number)

    def _cable(self, host: str | None, number: int) -> None:
        """A veth pair from the switch to ``host`` (None: the machine), addressed .number."""
        port, end = self._port(number), f"{self.name}e{number}"
        sh("ip", "link", "add", end, "type", "veth", "peer", "name", port)
        sh("ip", "link", "set", port, "netns", self.switch)
        self._in(self.switch, "ip", "link", "set", port, "master", "br0")
        self._in(self.switch, "ip", "link", "set", port, "up")
        cidr = f"{self.address(number)}/24"
        if host is None:
            sh("ip", "addr", "add", cidr, "dev", end)
            sh("ip", "link", "set", end, "up")
            return
        namespace = self.namespace(host)
        sh("ip", "link", "set", end, "netns", namespace)
        self._in(namespace, "ip", "link", "set", end, "name", "eth0")
        self._in(namespace, "ip", "addr", "add", cidr, "dev", "eth0")
        self._in(namespace, "ip", "link", "set", "eth0", "up")
        self._in(namespace, "ip", "link", "set", "lo", "up")

    def cut(self, number: int) -> None:
        """Unplug the host at ``.number``: its port on the switch goes down."""
        self._in(self.switch, "ip", "link", "set", self._port(number), "down")

    def heal(self, number: int) -> None:
        self._in(self.switch, "ip", "link", "set", self._port(number), "up")

    def plugged(self, number: int) -> bool:
        shown = self._in(self.switch, "ip", "-o", "link", "show", self._port(number), check=False)
        return shown.returncode == 0 and "state DOWN" not in shown.stdout and ",UP" in shown.stdout

    def pids(self, host: str) -> list[int]:
        """Every process in the host's namespace."""
        listed = sh("ip", "netns", "pids", self.namespace(host), check=False).stdout
        return [int(p) for p in listed.split()]

    def command(self, host: str, hostname: str, argv: list[str]) -> list[str]:
        """``argv`` run on ``host``: in its namespace, under its own host name (its own UTS
        namespace), so each host's processes name themselves as a real machine's would."""
        script = 'hostname "$0" && exec "$@"'
        namespace = self.namespace(host)
        return [
            "ip",
            "netns",
            "exec",
            namespace,
            "unshare",
            "--uts",
            "sh",
            "-c",
            script,
            hostname,
            *argv,
        ]

    def destroy(self, hosts: dict[str, int]) -> None:
        """Every namespace and cable of the cluster (their processes must be gone first)."""
        have = namespaces()
        for host in hosts:
            if self.namespace(host) in have:
                sh("ip", "netns", "del", self.namespace(host), check=False)
        if self.switch in have:
            sh("ip", "netns", "del", self.switch, check=False)
        sh("ip", "link", "del", f"{self.name}e1", check=False)

    def _in(
        self, namespace: str, *argv: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", namespace, *argv, check=check)


def namespaces() -> set[str]:
    listed = sh("ip", "netns", "list", check=False).stdout
    return {line.split()[0] for line in listed.splitlines() if line.strip()}
