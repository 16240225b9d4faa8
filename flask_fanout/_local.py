"""Defaults shared by the extension and the local realm.

When no realm or GRIP proxy is configured, the extension and the local realm
must agree on a realm id and key without any set-up, including across
processes (a standalone ``flask fanout realm`` in front of several gunicorn
workers). So the local realm uses a fixed development key, published in these
docs. That is only safe on loopback: anyone who can reach a realm bound
elsewhere can publish with it, so :func:`public_bind_problem` refuses that
unless the operator opts in.
"""

from __future__ import annotations

import base64
import ipaddress

LOCAL_REALM_ID = "local"
#: 32 raw bytes, so PyJWT does not warn about a short HMAC key.
LOCAL_REALM_KEY_BYTES = b"flask-fanout local realm dev key"
#: The same key as Fanout issues realm keys: base64.
LOCAL_REALM_KEY = base64.b64encode(LOCAL_REALM_KEY_BYTES).decode("ascii")
LOCAL_REALM_HOST = "127.0.0.1"
LOCAL_REALM_PORT = 7999

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps a server reachable from this machine only."""
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    """``0.0.0.0`` or ``::``: every interface of the machine."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def public_bind_problem(host: str, *, allowed: bool) -> str | None:
    """Why the development key must not be served on ``host``, or ``None``.

    :param allowed: the operator's explicit opt-in
        (``FANOUT_LOCAL_REALM_PUBLIC``, ``--allow-public-dev-key``).
    """
    if allowed or is_loopback(host):
        return None
    return (
        f"{host!r} is not a loopback address, and the local realm's development "
        "key is public: anyone who can reach it could publish. Bind 127.0.0.1, "
        "or opt in explicitly (FANOUT_LOCAL_REALM_PUBLIC = True) on a network "
        "you trust."
    )


def base_url(host: str, port: int) -> str:
    """``http://host:port`` for a realm bound on ``host`` (IPv6 bracketed)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
