"""Several "hosts" on this machine: network namespaces on a private switch of their own.

Each host is a network namespace with one veth link to a switch (a bridge in yet another
namespace), with an address in ``10.200.77.0/24`` that exists only inside these namespaces:
no route, address or interface is added to the machine's own namespace, so no packet can
leave it. Cutting a host's link is setting its switch port down. Needs root and ``ip``.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import pytest

SUBNET = "10.200.77"
CLONE_NEWNET = 0x40000000  # setns(2): join a network namespace
T = TypeVar("T")


def require() -> None:
    """Skip unless root with ``ip`` (fail instead in CI, where it must run)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    if shutil.which("ip") is None:
        missing.append("the ip command (iproute2)")
    if missing:
        message = f"network namespaces need {' and '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run this test")
        pytest.skip(message)


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass(frozen=True)
class Host:
    namespace: str
    address: str
    port_name: str  # its port on the switch

    @property
    def exec(self) -> list[str]:
        """The prefix that runs a command on this host."""
        return ["ip", "netns", "exec", self.namespace]


class Network:
    """Hosts on one switch; ``tag`` keeps these namespaces apart from any others."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.switch = f"jl{tag}-sw"
        self.namespaces: list[str] = []

    def open(self) -> None:
        self._add(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")

    def _add(self, namespace: str) -> None:
        ip("netns", "add", namespace)
        self.namespaces.append(namespace)

    def host(self, name: str, number: int) -> Host:
        host = Host(f"jl{self.tag}-{name}", f"{SUBNET}.{number}", f"p{name}")
        self._add(host.namespace)
        ip("-n", host.namespace, "link", "add", "eth0", "type", "veth", "peer", "name",
           host.port_name, "netns", self.switch)  # fmt: skip
        ip("-n", self.switch, "link", "set", host.port_name, "master", "br0", "up")
        ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
        ip("-n", host.namespace, "link", "set", "eth0", "up")
        ip("-n", host.namespace, "link", "set", "lo", "up")
        return host

    def cut(self, host: Host) -> None:
        """Unplug ``host``: its packets go nowhere, and nothing reaches it."""
        ip("-n", self.switch, "link", "set", host.port_name, "down")

    def mend(self, host: Host) -> None:
        ip("-n", self.switch, "link", "set", host.port_name, "up")

    def close(self) -> None:
        for namespace in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        self.namespaces.clear()


@contextmanager
def network(tag: str) -> Iterator[Network]:
    """A private network, torn down (every namespace deleted) when the block ends."""
    require()
    made = Network(tag)
    try:
        made.open()
        yield made
    finally:
        made.close()


def _enter(namespace: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{namespace}") as handle:
        if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace}")


@contextmanager
def inside(host: Host) -> Iterator[Callable[[Callable[[], T]], T]]:
    """A way to run calls on ``host``: ``on_host(lambda: client.get(job))``. The calls run on
    one thread that joined the host's network namespace (a thread may join its own), so the
    sockets they open are the host's."""
    with ThreadPoolExecutor(1, initializer=_enter, initargs=(host.namespace,)) as pool:

        def run(call: Callable[[], T]) -> T:
            return pool.submit(call).result()

        yield run
