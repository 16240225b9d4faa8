"""What the realm's GRIP stand-in is configured with: the origin, CORS, bounds.

A leaf module (it imports nothing else from the realm), so that
:class:`~flask_fanout.realm._keys.Settings` can carry a :class:`GripOptions`
without an import cycle. Every value is checked here, once, so a bad
``--origin`` or ``--allow-origin`` fails at start-up with the culprit named
rather than as a 502 on the first stream request.
"""

from __future__ import annotations

import dataclasses
import urllib.parse


@dataclasses.dataclass(frozen=True)
class GripLimits:
    """Bounds of the stand-in; the defaults suit one developer's browser tabs.

    The ones that mirror a Pushpin default say so: an app that works under
    the stand-in then meets the same limits behind Pushpin.
    """

    #: Streams held open at once (``Grip-Hold: stream``). Past it, a new
    #: stream gets the app's first answer and then ends, so the browser
    #: reconnects after its ``retry:`` delay instead of failing for good.
    max_streams: int = 1000
    #: Long-polls held at once (``Grip-Hold: response``). Past it, the app's
    #: own (timeout) answer is sent at once.
    max_responses: int = 1000
    #: Channels one held request subscribes to; further channels are
    #: ignored with a warning. Pushpin's ``connection_subscription_max``
    #: default is 20 and it truncates the same way.
    max_channels_per_hold: int = 20
    #: Channel names longer than this in ``Grip-Channel`` are an
    #: instruction error (502).
    max_channel_length: int = 1024
    #: Bytes of unsent output a held stream may have before it is cut off, so
    #: a client that stopped reading never stalls the others.
    max_stream_buffer: int = 1 << 20
    #: Bytes of the app's answer to a GRIP request (the first stream content
    #: or the long-poll's timeout body); more is a 502.
    max_instruct_body: int = 1 << 20
    #: Requests to the app in flight at once; more wait for a free slot.
    max_origin_requests: int = 100
    #: Seconds to get a connection to the app (including the wait for a slot).
    origin_connect_timeout: float = 5.0
    #: Seconds the app may stay silent while answering before it is a 502.
    origin_read_timeout: float = 30.0
    #: Pushpin's ``message_wait``: seconds an item whose ``prev-id`` is not
    #: the channel's last id waits for its predecessor before it goes anyway.
    reorder_wait: float = 5.0
    #: Items waiting for a predecessor per channel (Pushpin: 100); past it,
    #: further out-of-order items are dropped and logged.
    max_pending_per_channel: int = 100
    #: Seconds between sweeps that notice hung-up clients and release
    #: out-of-order items whose wait is over.
    sweep_interval: float = 0.5
    #: Channels listed by name in the ``grip.subscribers`` stats gauge (the
    #: busiest first); the total is always given.
    max_stats_channels: int = 100

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"GripLimits.{field.name} must be a number")
            if value <= 0:
                raise ValueError(f"GripLimits.{field.name} must be positive")


def check_origin(url: str) -> str:
    """The app's base URL, normalised (no trailing slash), or a ``ValueError``.

    Only ``scheme://host[:port]``: the stand-in forwards the browser's path
    and query unchanged, as Pushpin's routes do, so a path here would be
    silently ignored or doubled.
    """
    if not isinstance(url, str):
        raise ValueError(f"origin must be a string URL, got {type(url).__name__}")
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"origin {url!r} must be an http:// or https:// URL with a host, "
            "such as http://127.0.0.1:5000"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"origin {url!r} must have no path, query or fragment: the browser's "
            "path and query are forwarded unchanged"
        )
    if parts.username or parts.password:
        raise ValueError(f"origin {url!r} must not carry credentials")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ValueError(f"origin {url!r} has an invalid port") from exc
    return f"{parts.scheme}://{parts.netloc}"


def check_allowed_origin(origin: str) -> str:
    """A web origin as browsers send it in ``Origin``, or a ``ValueError``."""
    if not isinstance(origin, str):
        raise ValueError(
            f"allowed origin must be a string, got {type(origin).__name__}"
        )
    text = origin.strip().rstrip("/")
    if text == "*":
        raise ValueError(
            "allowed origin '*' is not possible: the stream is read with "
            "credentials, and browsers refuse a wildcard with credentials"
        )
    parts = urllib.parse.urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise ValueError(
            f"allowed origin {origin!r} must look like http://host[:port], "
            "as a browser sends it in the Origin header"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


@dataclasses.dataclass(frozen=True)
class GripOptions:
    """How the stand-in is set up when the realm starts.

    :param origin: the app's base URL (``http://127.0.0.1:5000``) that
        stream requests are forwarded to; ``None`` until it is known (see
        :meth:`flask_fanout.realm.LocalRealm.set_origin`).
    :param allowed_origins: page origins granted CORS besides those on the
        realm's own host.
    :param limits: see :class:`GripLimits`.
    """

    origin: str | None = None
    allowed_origins: tuple[str, ...] = ()
    limits: GripLimits = dataclasses.field(default_factory=GripLimits)

    def __post_init__(self) -> None:
        if self.origin is not None:
            object.__setattr__(self, "origin", check_origin(self.origin))
        if isinstance(self.allowed_origins, str):
            raise ValueError("allowed_origins must be a list of origins, not a string")
        object.__setattr__(
            self,
            "allowed_origins",
            tuple(check_allowed_origin(o) for o in self.allowed_origins),
        )
