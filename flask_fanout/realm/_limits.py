"""Every bound the local realm enforces, in one table.

Each field of :class:`Limits` is also a command-line option (``--`` plus the
field name with dashes, e.g. ``--max-sessions``) and a row of the "Limits"
table in ``docs/local-realm.md``; the option's help is the field's ``help``
metadata, and a test checks the docs against the fields. So adding a limit
is adding a field here.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def _limit(default: float, help: str, *, unit: str = "") -> Any:
    return dataclasses.field(default=default, metadata={"help": help, "unit": unit})


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds that keep one misbehaving client from hurting the others.

    The defaults suit a development realm on loopback; tests shrink the
    timeouts so that expiry can be observed within seconds.

    :raises ValueError: naming the field, for a value that is not positive
        or a combination that cannot work.
    """

    # -- Bayeux sessions ----------------------------------------------------
    connect_timeout: float = _limit(
        30.0, "Seconds a /meta/connect is held when nothing is delivered.", unit="s"
    )
    session_timeout: float = _limit(
        60.0,
        "Seconds after its last connect ended before a silent session expires.",
        unit="s",
    )
    max_sessions: int = _limit(
        50_000,
        "Bayeux sessions at once; a handshake past it gets Bayeux error 503.",
    )
    max_sessions_per_request: int = _limit(
        1,
        "Handshakes in one request or WebSocket frame; extra ones get Bayeux "
        "error 503.",
    )
    max_subscriptions: int = _limit(
        1000, "Channels one session may subscribe to (Bayeux error 403 past it)."
    )
    max_queue: int = _limit(
        1000,
        "Messages kept for a polling session between two connects; past it the "
        "session is dropped and the client re-handshakes (and refetches).",
    )
    # -- requests and messages ----------------------------------------------
    max_bayeux_body: int = _limit(
        64 * 1024,
        "Bytes in one Bayeux request body, WebSocket frame or JSONP message.",
        unit="bytes",
    )
    max_messages: int = _limit(100, "Bayeux messages in one request or frame.")
    max_publish_body: int = _limit(
        1 << 20, "Bytes in one publish API request body (413 past it).", unit="bytes"
    )
    max_items: int = _limit(1000, "Items in one publish API request (413 past it).")
    max_depth: int = _limit(
        32, "Nesting depth of a Bayeux message or a published value."
    )
    max_token_lifetime: float = _limit(
        3600.0,
        "Seconds ahead a publish token's exp may be (plus 60 s for clock skew); "
        "the extension signs tokens for 3600 s.",
        unit="s",
    )
    # -- connections ----------------------------------------------------------
    max_connections: int = _limit(
        16_384,
        "Open TCP connections; also capped by the open-file limit (ulimit -n). "
        "A connection past it is answered 503 and closed.",
    )
    request_timeout: float = _limit(
        10.0,
        "Seconds for a request's head to arrive (counted from when the "
        "connection opened or its previous response ended, so an idle "
        "keep-alive connection is closed after it) and, again, for its body.",
        unit="s",
    )
    websocket_heartbeat: float = _limit(
        10.0,
        "WebSocket: seconds between pings (a peer that has not answered within "
        "half of it is closed), and the longest a /meta/connect is held, so "
        "that a page sees a dead link within 1.2 times this.",
        unit="s",
    )
    websocket_idle_timeout: float = _limit(
        30.0,
        "Seconds a WebSocket may go without sending a frame before it is "
        "closed (Faye sends a connect at least every websocket-heartbeat).",
        unit="s",
    )
    max_ws_buffer: int = _limit(
        1 << 20,
        "Bytes of unsent WebSocket output before a subscriber that stopped "
        "reading is cut off and its sessions dropped.",
        unit="bytes",
    )
    # -- the GRIP stand-in ---------------------------------------------------------
    max_grip_holds: int = _limit(
        10_000,
        "Requests the GRIP stand-in holds at once, streams and long-polls "
        "together. Past it a stream gets the app's first answer and then ends "
        "(the browser reconnects after its retry delay), and a long-poll gets "
        "503 with Retry-After.",
    )
    max_grip_channels: int = _limit(
        20,
        "Channels one held request subscribes to, as Pushpin's "
        "connection_subscription_max (20): the rest are not subscribed, and a "
        "warning says so.",
    )
    max_stream_buffer: int = _limit(
        1 << 20,
        "Bytes of unsent output a held stream may have before a reader that "
        "stopped reading is cut off (its browser reconnects and refetches).",
        unit="bytes",
    )
    origin_timeout: float = _limit(
        10.0,
        "Seconds the app may take to answer a forwarded stream request in full "
        "(connecting, waiting for a free slot, headers and body); past it the "
        "browser gets 502.",
        unit="s",
    )
    max_origin_body: int = _limit(
        1 << 20,
        "Bytes in the app's answer to a forwarded stream request (502 past it).",
        unit="bytes",
    )
    max_origin_requests: int = _limit(
        100,
        "Stream requests forwarded to the app at once; more wait for a free "
        "slot, within origin-timeout.",
    )
    # -- what /stats shows ------------------------------------------------------
    stats_channels: int = _limit(
        100,
        "Channels listed in /stats (those with the most subscribers), for "
        "Bayeux and for the GRIP stand-in each.",
    )

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not value > 0
                or value == float("inf")
            ):
                raise ValueError(
                    f"Limits.{field.name} must be a positive number, got {value!r}"
                )
        if self.websocket_idle_timeout <= self.websocket_heartbeat:
            raise ValueError(
                "Limits.websocket_idle_timeout must be longer than "
                "websocket_heartbeat (a live client sends a frame every heartbeat)"
            )

    @property
    def websocket_hold(self) -> float:
        """Seconds a WebSocket ``/meta/connect`` is held at most."""
        return min(self.connect_timeout, self.websocket_heartbeat)


def option_name(field: dataclasses.Field[Any]) -> str:
    """The command-line option of a :class:`Limits` field."""
    return "--" + field.name.replace("_", "-")
