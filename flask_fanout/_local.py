"""What the extension and the local realm must agree on, and the rules that
keep the local realm's public key safe.

When no ``FANOUT_REALM_ID`` is configured, the extension and the local realm
must agree on a realm id and key without any set-up, including across
processes (a standalone ``flask fanout realm`` in front of several gunicorn
workers). So the local realm uses a fixed development key. That key is
printed in our own documentation, so it is no secret: anyone who can reach a
realm using it can publish to it. :func:`public_dev_key_problem` is the one
rule for when that is acceptable (loopback only), used by the realm at
start-up and by the extension's configuration check.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import socket

LOCAL_REALM_ID = "local"
#: The development key as bytes: 32 of them, so PyJWT does not warn about a
#: short HMAC key.
LOCAL_REALM_KEY_BYTES = b"flask-fanout local realm dev key"
#: The same key in base64, as Fanout issues realm keys (and as it is
#: documented).
LOCAL_REALM_KEY = base64.b64encode(LOCAL_REALM_KEY_BYTES).decode("ascii")
LOCAL_REALM_HOST = "127.0.0.1"
LOCAL_REALM_PORT = 7999


def decode_realm_key(text: str) -> bytes:
    """The raw bytes of a realm key given in base64, as Fanout issues them.

    This is the one place a base64 key (from a command line, an environment
    variable or a key file) becomes bytes; everything after it passes bytes
    along. Surrounding whitespace (a key file's final newline) is ignored.

    :raises ValueError: saying what is wrong (``"is empty"``, ``"is not
        valid base64"``), never quoting the value, which is a secret even when
        mistyped. Callers prefix where the key came from.

    .. versionadded:: 0.2
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("is empty")
    try:
        raw = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "is not valid base64 (value not shown; check its padding '=')"
        ) from None
    if not raw:
        raise ValueError("decodes to an empty key")
    return raw


def is_development_key(key: bytes) -> bool:
    """Whether ``key`` is the public development key.

    .. versionadded:: 0.2
    """
    return hmac.compare_digest(key, LOCAL_REALM_KEY_BYTES)


def is_loopback_host(host: str) -> bool:
    """Whether binding ``host`` listens on loopback interfaces only.

    ``localhost`` (and ``*.localhost``, which browsers resolve to loopback
    themselves) and loopback addresses (``127.0.0.0/8``, ``::1``, brackets
    allowed) are; the empty string and wildcard addresses (``0.0.0.0``,
    ``::``), which bind every interface, are not. Any other name is resolved
    as the bind would resolve it, and counts only if every address is
    loopback; a name that does not resolve does not count.

    .. versionadded:: 0.2
    """
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _ip(name)
    if address is not None:
        return _is_loopback(address)
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addresses = [_ip(str(info[4][0]).split("%", 1)[0]) for info in infos]
    return bool(addresses) and all(a is not None and _is_loopback(a) for a in addresses)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def public_dev_key_problem(host: str, key: bytes) -> str | None:
    """Why listening on ``host`` with realm key ``key`` is unsafe, or ``None``.

    It is unsafe when ``key`` is the public development key and ``host`` is
    not loopback-only (see :func:`is_loopback_host`): anyone who can reach
    the port could then publish. The message says so and names the fixes;
    callers add how to opt in anyway (a command-line flag, a
    :class:`~flask_fanout.realm.LocalRealm` argument or a setting), and warn
    loudly when the operator has.

    .. versionadded:: 0.2
    """
    if not is_development_key(key) or is_loopback_host(host):
        return None
    shown = host or "every interface"
    return (
        f"the local realm would listen on {shown} (beyond loopback) with the "
        "public development key, so anyone who can reach it could publish; "
        "bind it to 127.0.0.1, or give it a key of your own"
    )


def is_wildcard(host: str) -> bool:
    """``0.0.0.0``, ``::`` or empty: every interface of the machine."""
    name = host.strip().strip("[]")
    if not name:
        return True
    address = _ip(name)
    return address is not None and address.is_unspecified


def base_url(host: str, port: int) -> str:
    """``http://host:port`` for a realm bound on ``host`` (IPv6 bracketed)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
