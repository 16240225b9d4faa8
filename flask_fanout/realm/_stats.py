"""Counters the local realm keeps, served as JSON at ``GET /stats``.

They are plain integers bumped from the event loop's thread only, so no lock
is needed; readers in other threads take a snapshot through the loop (see
:meth:`flask_fanout.realm.LocalRealm.stats`). Tests wait on these numbers
instead of sleeping, and users read them to see whether anyone listens.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from typing import Any

#: The transport of a session that has handshaken but not connected yet.
PENDING = "handshake"


@dataclasses.dataclass
class RealmStats:
    """Totals since the realm started."""

    started: float = dataclasses.field(default_factory=time.time)
    #: Items accepted by the publish API plus messages published by clients.
    messages_published: int = 0
    #: One per (message, subscriber) handed to a transport.
    messages_delivered: int = 0
    handshakes: int = 0
    sessions_expired: int = 0
    #: TCP connections open now, refused at the cap so far, and the cap.
    connections_open: int = 0
    connections_refused: int = 0
    connections_limit: int = 0
    #: Error counts by kind, e.g. ``"publish_unauthorized"``, ``"bayeux_401"``:
    #: bumped where the error is raised, from its status or Bayeux code.
    errors: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )

    def error(self, kind: str) -> None:
        """Count one error of ``kind``."""
        self.errors[kind] += 1

    def snapshot(
        self,
        clients_by_transport: dict[str, int],
        subscribers: dict[str, int],
        *,
        channels: int,
        subscriptions: int,
        websockets_open: int,
    ) -> dict[str, Any]:
        """A JSON-ready copy, combined with the engine's live gauges.

        ``clients_by_transport`` counts only sessions that have connected at
        least once; those still between handshake and first connect (or
        abandoned there) are ``clients_pending``. ``clients`` counts both.
        ``subscribers`` is the engine's bounded selection of channels (the
        most subscribed); ``channels`` and ``subscriptions`` are the totals.
        """
        pending = clients_by_transport.pop(PENDING, 0)
        return {
            "uptime": round(time.time() - self.started, 3),
            "clients": sum(clients_by_transport.values()) + pending,
            "clients_by_transport": dict(sorted(clients_by_transport.items())),
            "clients_pending": pending,
            "websockets_open": websockets_open,
            "connections_open": self.connections_open,
            "connections_refused": self.connections_refused,
            "connections_limit": self.connections_limit,
            "subscribers": dict(sorted(subscribers.items())),
            "channels": channels,
            "subscriptions": subscriptions,
            "messages_published": self.messages_published,
            "messages_delivered": self.messages_delivered,
            "handshakes": self.handshakes,
            "sessions_expired": self.sessions_expired,
            "errors": dict(sorted(self.errors.items())),
            "errors_total": sum(self.errors.values()),
        }
