"""The local realm embedded in the development server's process.

Under ``flask run`` the extension calls :func:`ensure_embedded` before the
first request, so a project needs no second process and no set-up. It is
process-wide and idempotent: every app in the process shares one realm, and
later calls return at once. If the port is already taken, most likely by a
standalone ``flask fanout realm`` (or by the previous reloader child that is
still shutting down), that realm is used instead: one warning, no error.
"""

from __future__ import annotations

import base64
import errno
import logging
import threading

from flask_fanout import _local
from flask_fanout._config import FanoutConfig
from flask_fanout.realm import LocalRealm

log = logging.getLogger("flask_fanout.realm")

_lock = threading.Lock()
_realm: LocalRealm | None = None
_attempted: set[tuple[str, int]] = set()


def embedded_realm() -> LocalRealm | None:
    """The realm this process started, if any (for tests and diagnostics)."""
    return _realm


def ensure_embedded(config: FanoutConfig) -> None:
    """Start the local realm in a daemon thread unless it already runs.

    Returns once the realm is listening. The realm's identity comes from
    ``config`` (``realm_id``, ``realm_key``, ``local_realm_host``/``_port``),
    so publishes signed by the extension are accepted.
    """
    global _realm
    address = (config.local_realm_host, config.local_realm_port)
    if _realm is not None or address in _attempted:
        return
    with _lock:
        if _realm is not None or address in _attempted:
            return
        _attempted.add(address)
        realm = LocalRealm(
            host=config.local_realm_host,
            port=config.local_realm_port,
            realm_id=config.realm_id or _local.LOCAL_REALM_ID,
            key=base64.b64encode(config.realm_key).decode("ascii"),
        )
        try:
            realm.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                log.warning(
                    "flask-fanout: %s:%s is already in use; not starting the embedded "
                    "local realm (a standalone `flask fanout realm`, probably).",
                    *address,
                )
            else:
                log.warning(
                    "flask-fanout: cannot start the embedded local realm on %s:%s: %s",
                    *address,
                    exc,
                )
            return
        _realm = realm
        log.info("flask-fanout: embedded local realm listening on %s", realm.url)


def _reset() -> None:
    """Stop the embedded realm and forget every attempt (for tests)."""
    global _realm
    with _lock:
        if _realm is not None:
            _realm.stop()
        _realm = None
        _attempted.clear()
