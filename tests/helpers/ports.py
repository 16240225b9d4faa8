"""Free loopback TCP ports for servers that must be told their port up front.

Most of our servers bind port 0 and report what they got. Pushpin can't: its
config names five ports (client HTTP, publish HTTP, three ZeroMQ sockets), and
a "Pushpin down, then back" test restarts it on the *same* ones. So ports are
picked here, below the kernel's ephemeral range: a port from that range could
be taken, between a stop and a restart, as the source port of some unrelated
outgoing connection, and the restart would then fail.
"""

from __future__ import annotations

import contextlib
import random
import socket
import time
from collections.abc import Iterable

#: Where :func:`free_ports` looks: clear of the well-known ports and of the
#: Linux ephemeral range (32768-60999 by default), which connect() draws from.
PORT_RANGE = (20000, 32000)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``host:port`` right now.

    The probe sets ``SO_REUSEADDR``, as every server we start does, so a port
    that only has connections in TIME_WAIT counts as free, and one with a
    listening socket does not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(1)
        except OSError:
            return False
    return True


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that are free at the time of the call.

    Random rather than sequential, so that several test processes on the
    machine (each picking for its own Pushpins) rarely pick the same one; the
    window between picking and binding is the caller's to keep short.
    """
    rng = random.SystemRandom()
    chosen: list[int] = []
    low, high = PORT_RANGE
    for _ in range(count * 50):
        port = rng.randrange(low, high)
        if port not in chosen and port_is_free(port, host):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError(
        f"found only {len(chosen)} of {count} free ports in {PORT_RANGE}"
    )


def wait_ports_free(
    ports: Iterable[int], timeout: float = 5.0, host: str = "127.0.0.1"
) -> list[int]:
    """Wait until every port is free; the ones still in use at the deadline."""
    pending = list(ports)
    deadline = time.monotonic() + timeout
    while True:
        pending = [port for port in pending if not port_is_free(port, host)]
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(0.02)


def wait_listening(port: int, timeout: float = 5.0, host: str = "127.0.0.1") -> bool:
    """Wait until something accepts TCP connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
