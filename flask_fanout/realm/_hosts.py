"""Which ``Host`` headers the realm answers: protection from DNS rebinding.

A page on ``http://attacker.example`` can make the browser resolve that name
to ``127.0.0.1`` a moment later, and then talk to a loopback realm as if it
were its own origin. The browser still sends ``Host: attacker.example``, so
the realm answers only host names it knows it serves:

* any IP address literal (``127.0.0.1``, ``[::1]``, a LAN address): a page
  can only reach those through a URL naming the address itself, which no
  attacker's page has as its origin;
* ``localhost`` and ``*.localhost``, which browsers resolve to loopback
  without asking DNS;
* the name it was bound to, if it is a name;
* for a wildcard bind (``0.0.0.0``, ``::``, every interface), the machine's
  own host names, as a phone on the LAN would use them;
* every ``--allowed-host`` (``Settings.allowed_hosts``); ``*`` turns the
  check off.

Any other ``Host`` is answered ``421 Misdirected Request``, naming the option
that would allow it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

_WILDCARDS = frozenset({"", "0.0.0.0", "::", "*"})


def _normal(name: str) -> str:
    return name.strip().strip("[]").rstrip(".").lower()


def hostname_of(header: str) -> str:
    """The host name of a ``Host`` header value, without port or brackets."""
    header = header.strip()
    if header.startswith("["):
        return _normal(header.partition("]")[0])
    name, _, port = header.rpartition(":")
    if name and port.isdigit():
        header = name
    return _normal(header)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True


class HostRule:
    """The set of ``Host`` header names one realm answers."""

    def __init__(self, bind_host: str, allowed: Iterable[str] = ()) -> None:
        allowed = [_normal(a) for a in allowed]
        self.any = "*" in allowed
        names = {a for a in allowed if a and a != "*"}
        bind = _normal(bind_host)
        if bind not in _WILDCARDS and not _is_ip(bind):
            names.add(bind)
        if bind in _WILDCARDS:
            hostname = _normal(socket.gethostname())
            names.update(
                {hostname, _normal(socket.getfqdn()), f"{hostname.split('.')[0]}.local"}
            )
        self.names = frozenset(n for n in names if n)

    def allows(self, header: str | None) -> bool:
        """Whether a request with this ``Host`` header is for this realm."""
        if self.any or header is None:
            return True
        name = hostname_of(header)
        return (
            name in self.names
            or name == "localhost"
            or name.endswith(".localhost")
            or _is_ip(name)
        )
