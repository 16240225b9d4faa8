"""The local realm embedded in the development server's process.

Under ``flask run`` the extension calls :func:`ensure_embedded` before the
first request, so a project needs no second process and no set-up. It is
process-wide and idempotent: every app in the process shares one realm, and
later calls return at once. If the port is already taken, most likely by a
standalone ``flask fanout realm`` (or by the previous reloader child that is
still shutting down), that realm is used instead: one warning, no error.

Once it listens, one line says where, next to Werkzeug's own
``* Running on`` banner.
"""

from __future__ import annotations

import errno
import logging
import threading

from flask_fanout._settings import FanoutConfig
from flask_fanout.realm import LocalRealm

log = logging.getLogger("flask_fanout.realm")

_lock = threading.Lock()
_realm: LocalRealm | None = None
_attempted: set[tuple[str, int]] = set()


def embedded_realm() -> LocalRealm | None:
    """The realm this process started, if any (for tests and diagnostics)."""
    return _realm


def _has_handler(logger: logging.Logger, level: int) -> bool:
    current: logging.Logger | None = logger
    while current is not None:
        if any(handler.level <= level for handler in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False


def announce(realm: LocalRealm) -> None:
    """Log, once, where the embedded realm listens, where it will be seen.

    At INFO, on the ``flask_fanout.realm`` logger, so an app that configures
    logging decides where it goes. With logging left unconfigured (the
    usual case under ``flask run``, where INFO would be swallowed), that
    logger gets a stderr handler at INFO first: the same thing Werkzeug does
    for its ``* Running on`` banner, which this line sits next to.
    """
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    if log.isEnabledFor(logging.INFO) and not _has_handler(log, logging.INFO):
        log.addHandler(logging.StreamHandler())
    if realm.origin is None:
        log.info(
            " * Flask-Fanout local realm: publish %s/publish/, Bayeux %s",
            realm.publish_url,
            realm.bayeux_url,
        )
    else:
        log.info(
            " * Flask-Fanout local realm: GRIP publish %s/publish/, streams "
            "%s/_fanout/events (forwarded to %s)",
            realm.url,
            realm.url,
            realm.origin,
        )


def ensure_embedded(
    config: FanoutConfig,
    *,
    allow_public_dev_key: bool = False,
    origin: str | None = None,
) -> None:
    """Start the local realm in a daemon thread unless it already runs.

    Returns once the realm is listening. The realm's identity comes from
    ``config`` (``realm_id``, ``realm_key``, ``local_realm_host``/``_port``),
    so publishes signed by the extension are accepted. A realm that cannot
    start (port taken, the development key on a non-loopback host without
    ``allow_public_dev_key``) is logged, never raised: the app still serves.

    :param origin: the development server's own ``http://host:port``, where
        the realm's GRIP stand-in forwards stream requests; given, it is also
        set on a realm this process already runs (the app learns its address
        from its first request, after the realm may have started).
    """
    global _realm
    address = (config.local_realm_host, config.local_realm_port)
    if _realm is not None or address in _attempted:
        _point_at(origin)
        return
    with _lock:
        if _realm is not None or address in _attempted:
            _point_at(origin)
            return
        _attempted.add(address)
        try:
            realm = LocalRealm(
                host=config.local_realm_host,
                port=config.local_realm_port,
                realm_id=config.realm_id or "local",
                key=config.realm_key,
                allow_public_dev_key=allow_public_dev_key,
                origin=origin,
            )
        except ValueError as exc:
            log.error("flask-fanout: not starting the embedded local realm: %s", exc)
            return
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
        announce(realm)


def _point_at(origin: str | None) -> None:
    realm = _realm
    if origin is None or realm is None or realm.origin == origin:
        return
    try:
        realm.set_origin(origin)
    except ValueError as exc:
        log.error("flask-fanout: the embedded realm cannot forward to the app: %s", exc)


def _reset() -> None:
    """Stop the embedded realm and forget every attempt (for tests)."""
    global _realm
    with _lock:
        if _realm is not None:
            _realm.stop()
        _realm = None
        _attempted.clear()
