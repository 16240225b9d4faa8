"""The Bayeux 1.0 engine: sessions, subscriptions, held connects, fan-out.

This module knows nothing about HTTP. The transports in ``_transports.py``
decode requests into lists of messages, call :meth:`Engine.handle`, and write
out what it returns; the publish API calls :meth:`Engine.publish`. Everything
here runs on the realm's event loop thread, so there are no locks.

Why the engine does its own WebSocket frame writes: one publish to N
WebSocket subscribers is encoded once (JSON and the frame header) and the same
bytes are handed to N transports without awaiting anything. A subscriber that
stops reading can therefore never stall the others; once its unsent output
passes a bound it is cut off and its sessions are dropped, so that the
client re-handshakes rather than silently missing what was discarded.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import itertools
import json
import re
import secrets
import struct
import time
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

from flask_fanout.realm._stats import PENDING
from flask_fanout.realm._stats import RealmStats

BAYEUX_VERSION = "1.0"
#: What the realm can speak, in the order Faye prefers them.
CONNECTION_TYPES = (
    "websocket",
    "long-polling",
    "cross-origin-long-polling",
    "callback-polling",
)
META_CHANNELS = frozenset(
    {
        "/meta/handshake",
        "/meta/connect",
        "/meta/subscribe",
        "/meta/unsubscribe",
        "/meta/disconnect",
    }
)

_SEGMENT = r"[A-Za-z0-9\-_!~()$@]+"
_CHANNEL_RE = re.compile(rf"(?:/{_SEGMENT})+")
_PATTERN_RE = re.compile(rf"(?:/{_SEGMENT})*/(?:\*\*?|{_SEGMENT})")
MAX_CHANNEL_LENGTH = 256

# Faye's error codes (the Bayeux spec leaves them to servers).
VERSION_MISMATCH = 300
CONNTYPE_MISMATCH = 301
BAD_REQUEST = 400
CLIENT_UNKNOWN = 401
PARAMETER_MISSING = 402
CHANNEL_FORBIDDEN = 403
CHANNEL_UNKNOWN = 404
CHANNEL_INVALID = 405


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds that keep one misbehaving client from hurting the others.

    The defaults suit a development realm on loopback; tests shrink the
    timeouts so that expiry can be observed within seconds.
    """

    #: Seconds a ``/meta/connect`` is held when nothing is delivered.
    connect_timeout: float = 30.0
    #: Seconds after its last connect ended before a silent session is dropped.
    session_timeout: float = 60.0
    #: Messages kept for a polling client between two connects; past it the
    #: session is dropped, so the client re-handshakes (and refetches).
    max_queue: int = 1000
    #: Bytes of unsent WebSocket output before a subscriber is cut off.
    max_ws_buffer: int = 1 << 20
    #: Bytes in one Bayeux request body or WebSocket frame.
    max_bayeux_body: int = 64 * 1024
    #: Bytes in one publish API request body.
    max_publish_body: int = 1 << 20
    #: Items in one publish API request.
    max_items: int = 1000
    #: Messages in one Bayeux request.
    max_messages: int = 100
    #: Channels one client may be subscribed to.
    max_subscriptions: int = 1000
    #: Nesting depth of any JSON document the realm accepts.
    max_depth: int = 32


class BayeuxError(Exception):
    """A Bayeux-level error, rendered as Faye renders it: ``code:params:message``."""

    def __init__(self, code: int, params: Iterable[str], message: str) -> None:
        super().__init__(message)
        self.code = code
        self.params = list(params)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}:{','.join(self.params)}:{self.message}"


def json_depth_ok(value: Any, max_depth: int) -> bool:
    """Whether ``value`` nests containers no deeper than ``max_depth``.

    Iterative, so a hostile document cannot exhaust the Python stack here.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str | bytes) -> Any:
    """``json.loads`` without the ``NaN``/``Infinity`` extension.

    Python accepts them, but a browser's ``JSON.parse`` does not: one such
    value in a published hint would make every subscriber's client throw on
    the frame or response that carries it, losing whatever else it held.
    """
    return json.loads(text, parse_constant=_refuse_constant)


def is_channel_name(name: object) -> bool:
    """A concrete (non-wildcard) Bayeux channel such as ``/comments-1``."""
    return (
        isinstance(name, str)
        and len(name) <= MAX_CHANNEL_LENGTH
        and _CHANNEL_RE.fullmatch(name) is not None
    )


def is_channel_pattern(name: object) -> bool:
    """A channel or a pattern ending in ``/*`` or ``/**``."""
    return (
        isinstance(name, str)
        and len(name) <= MAX_CHANNEL_LENGTH
        and _PATTERN_RE.fullmatch(name) is not None
    )


def expand(channel: str) -> list[str]:
    """Every subscription pattern that matches the concrete ``channel``.

    ``/a/b`` is matched by ``/a/b``, ``/a/*``, ``/a/**`` and ``/**``: ``*``
    stands for one last segment, ``**`` for one or more.
    """
    segments = channel[1:].split("/")
    patterns = [channel, "/" + "/".join([*segments[:-1], "*"])]
    patterns.extend("/" + "/".join([*segments[:i], "**"]) for i in range(len(segments)))
    return patterns


def ws_text_frame(payload: bytes) -> bytes:
    """An unmasked, final, uncompressed WebSocket text frame (RFC 6455 §5.2)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


def dumps(value: Any) -> str:
    """Compact JSON, ASCII only.

    ASCII because strings from clients and publishers may hold lone
    surrogates (``"\\ud800"`` is valid JSON): escaped, they stay valid JSON
    that browsers parse; left raw, they cannot be encoded as UTF-8 and the
    request or frame that carries them fails.
    """
    return json.dumps(value, separators=(",", ":"))


class WsLink:
    """One open WebSocket, as the engine sees it: somewhere to write frames."""

    __slots__ = ("closed", "dropped", "limit", "sessions", "transport")

    def __init__(self, transport: asyncio.WriteTransport, limit: int) -> None:
        self.transport = transport
        self.limit = limit
        self.closed = False
        #: Cut off because its peer stopped reading.
        self.dropped = False
        self.sessions: set[str] = set()

    def write(self, frame: bytes) -> bool:
        """Queue ``frame``; cut the link off if the peer has stopped reading."""
        if self.closed or self.transport.is_closing():
            return False
        if self.transport.get_write_buffer_size() > self.limit:
            self.closed = self.dropped = True
            self.transport.abort()
            return False
        self.transport.write(frame)
        return True

    def send_json(self, messages: list[dict[str, Any]]) -> bool:
        """Send ``messages`` as one frame holding a JSON array."""
        return self.write(ws_text_frame(dumps(messages).encode()))


class Session:
    """A handshaken client, alive for as long as it keeps connecting."""

    __slots__ = (
        "client_id",
        "connection_type",
        "held_reply",
        "last_seen",
        "link",
        "queue",
        "subscriptions",
        "timer",
        "waiter",
    )

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.subscriptions: set[str] = set()
        #: Serialised messages waiting for a polling connect.
        self.queue: collections.deque[str] = collections.deque()
        #: A held polling connect waits on this.
        self.waiter: asyncio.Future[None] | None = None
        #: The WebSocket that messages are pushed to, if any.
        self.link: WsLink | None = None
        #: A held WebSocket connect: its reply and the timer that sends it.
        self.held_reply: dict[str, Any] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.connection_type = PENDING
        self.last_seen = time.monotonic()

    @property
    def held(self) -> bool:
        """A connect is held, or answered but not yet written out.

        A polling connect counts until its handler calls
        :meth:`Engine.end_connect`, whether or not it wrote a response.
        """
        return self.timer is not None or self.waiter is not None


@dataclasses.dataclass
class Held:
    """A polling ``/meta/connect`` that the transport must wait on."""

    session: Session
    reply: dict[str, Any]
    future: asyncio.Future[None]


@dataclasses.dataclass
class Batch:
    """What :meth:`Engine.handle` produced for one request or frame."""

    replies: list[dict[str, Any]]
    held: Held | None = None


class Engine:
    """Sessions and subscriptions of one realm."""

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        allow_client_publish: bool = False,
        stats: RealmStats | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.allow_client_publish = allow_client_publish
        self.stats = stats or RealmStats()
        self.sessions: dict[str, Session] = {}
        #: Subscription pattern -> client ids.
        self.index: dict[str, set[str]] = {}
        self.links: set[WsLink] = set()
        self._ids = itertools.count(1)
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start expiring silent sessions (call on the running loop)."""
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def close(self) -> None:
        """Stop the sweeper and release every held connect."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for session in list(self.sessions.values()):
            self._release(session)

    async def _sweep_forever(self) -> None:
        period = max(0.05, min(self.limits.session_timeout / 4, 5.0))
        while True:
            await asyncio.sleep(period)
            self.expire()

    def expire(self, now: float | None = None) -> int:
        """Drop sessions that have not connected for ``session_timeout``."""
        now = time.monotonic() if now is None else now
        cutoff = now - self.limits.session_timeout
        dead = [
            s for s in self.sessions.values() if not s.held and s.last_seen < cutoff
        ]
        for session in dead:
            self._destroy(session)
        self.stats.sessions_expired += len(dead)
        return len(dead)

    # -- gauges ------------------------------------------------------------

    def clients_by_transport(self) -> dict[str, int]:
        counts: collections.Counter[str] = collections.Counter(
            s.connection_type for s in self.sessions.values()
        )
        return dict(counts)

    def subscriber_counts(self) -> dict[str, int]:
        return {pattern: len(ids) for pattern, ids in self.index.items()}

    def snapshot(self) -> dict[str, Any]:
        return self.stats.snapshot(
            self.clients_by_transport(), self.subscriber_counts(), len(self.links)
        )

    # -- links -------------------------------------------------------------

    def open_link(self, transport: asyncio.WriteTransport) -> WsLink:
        link = WsLink(transport, self.limits.max_ws_buffer)
        self.links.add(link)
        return link

    def close_link(self, link: WsLink) -> None:
        """The socket is gone: its sessions fall back to queueing.

        Unless it was cut off for not reading: ``abort()`` threw away frames
        already counted as delivered, so its sessions are dropped instead and
        the client's next connect gets ``401`` and re-handshakes (and the app
        refetches). Keeping them would lose those hints without a trace.
        """
        if link not in self.links:
            return
        link.closed = True
        self.links.discard(link)
        if link.dropped:
            self.stats.error("slow_client_dropped")
        for client_id in link.sessions:
            session = self.sessions.get(client_id)
            if session is not None and session.link is link:
                session.link = None
                if link.dropped:
                    self._destroy(session)
                else:
                    self._cancel_timer(session)
                    session.last_seen = time.monotonic()
        link.sessions.clear()

    # -- publishing --------------------------------------------------------

    def publish(self, channel: str, data: Any) -> int:
        """Deliver ``data`` on the concrete ``channel``; return the recipients."""
        self.stats.messages_published += 1
        recipients: set[str] | None = None
        matched: list[set[str]] = [
            ids for p in expand(channel) if (ids := self.index.get(p))
        ]
        if not matched:
            return 0
        recipients = matched[0] if len(matched) == 1 else set().union(*matched)
        text = dumps(
            {"channel": channel, "data": data, "id": format(next(self._ids), "x")}
        )
        frame: bytes | None = None
        delivered = 0
        overflowed: list[Session] = []
        for client_id in list(recipients):
            session = self.sessions.get(client_id)
            if session is None:
                continue
            link = session.link
            if link is not None and not link.closed:
                if frame is None:
                    frame = ws_text_frame(("[" + text + "]").encode())
                if link.write(frame):
                    delivered += 1
                    continue
                self.close_link(link)
                if link.dropped:
                    continue
            if len(session.queue) >= self.limits.max_queue:
                overflowed.append(session)
                continue
            session.queue.append(text)
            delivered += 1
            if session.waiter is not None and not session.waiter.done():
                session.waiter.set_result(None)
        for session in overflowed:
            self.stats.error("queue_overflow")
            self._destroy(session)
        self.stats.messages_delivered += delivered
        return delivered

    # -- the protocol ------------------------------------------------------

    def handle(
        self, messages: list[Any], *, link: WsLink | None, connection_type: str
    ) -> Batch:
        """Process one request's messages, in order."""
        batch = Batch([])
        if len(messages) > self.limits.max_messages:
            self.stats.error("bayeux_400")
            batch.replies.append(
                {
                    "successful": False,
                    "error": f"{BAD_REQUEST}::Too many messages in one request",
                }
            )
            return batch
        for message in messages:
            reply = self._handle_one(message, batch, link, connection_type)
            if reply is not None:
                if not reply.get("successful", False):
                    self.stats.error(
                        f"bayeux_{str(reply.get('error', '400')).split(':', 1)[0]}"
                    )
                batch.replies.append(reply)
        return batch

    def _handle_one(
        self, message: Any, batch: Batch, link: WsLink | None, connection_type: str
    ) -> dict[str, Any] | None:
        if not isinstance(message, dict):
            return {
                "successful": False,
                "error": f"{BAD_REQUEST}::Message is not an object",
            }
        channel = message.get("channel")
        reply: dict[str, Any] = {
            "channel": channel if isinstance(channel, str) else None
        }
        msg_id = message.get("id")
        if isinstance(msg_id, str | int) and not isinstance(msg_id, bool):
            reply["id"] = msg_id
        try:
            if not isinstance(channel, str):
                raise BayeuxError(PARAMETER_MISSING, ["channel"], "Missing channel")
            if channel == "/meta/handshake":
                self._handshake(message, reply)
                return reply
            session = self._session_for(message, reply)
            if link is not None:
                self._attach(session, link)
            if channel == "/meta/connect":
                return self._connect(
                    session, message, reply, batch, link, connection_type
                )
            if channel == "/meta/subscribe":
                self._subscribe(session, message, reply)
            elif channel == "/meta/unsubscribe":
                self._unsubscribe(session, message, reply)
            elif channel == "/meta/disconnect":
                self._destroy(session)
                reply["successful"] = True
            elif channel.startswith("/meta/"):
                raise BayeuxError(CHANNEL_UNKNOWN, [channel], "Unknown meta channel")
            else:
                self._client_publish(message, channel, reply)
        except BayeuxError as exc:
            reply["successful"] = False
            reply["error"] = str(exc)
            if exc.code == CLIENT_UNKNOWN:
                reply["advice"] = {"reconnect": "handshake", "interval": 0}
        return reply

    def _handshake(self, message: dict[str, Any], reply: dict[str, Any]) -> None:
        reply["version"] = BAYEUX_VERSION
        reply["supportedConnectionTypes"] = list(CONNECTION_TYPES)
        if "version" not in message:
            raise BayeuxError(PARAMETER_MISSING, ["version"], "Missing version")
        types = message.get("supportedConnectionTypes")
        if not isinstance(types, list) or not types:
            raise BayeuxError(
                PARAMETER_MISSING,
                ["supportedConnectionTypes"],
                "Missing supportedConnectionTypes",
            )
        if not any(t in CONNECTION_TYPES for t in types if isinstance(t, str)):
            raise BayeuxError(
                CONNTYPE_MISMATCH,
                [t for t in types if isinstance(t, str)][:4],
                "Connection types not supported",
            )
        client_id = secrets.token_hex(16)
        self.sessions[client_id] = Session(client_id)
        self.stats.handshakes += 1
        reply["clientId"] = client_id
        reply["successful"] = True
        reply["advice"] = self._advice()

    def _advice(self) -> dict[str, Any]:
        return {
            "reconnect": "retry",
            "interval": 0,
            "timeout": int(self.limits.connect_timeout * 1000),
        }

    def _session_for(self, message: dict[str, Any], reply: dict[str, Any]) -> Session:
        client_id = message.get("clientId")
        if not isinstance(client_id, str):
            raise BayeuxError(PARAMETER_MISSING, ["clientId"], "Missing clientId")
        reply["clientId"] = client_id
        session = self.sessions.get(client_id)
        if session is None:
            raise BayeuxError(CLIENT_UNKNOWN, [client_id[:64]], "Unknown client")
        return session

    def _attach(self, session: Session, link: WsLink) -> None:
        if session.link is link:
            return
        if session.link is not None:
            self._cancel_timer(session)
            session.link.sessions.discard(session.client_id)
        session.link = link
        link.sessions.add(session.client_id)
        self._release(session)
        if session.queue:
            pending = "[" + ",".join(session.queue) + "]"
            if link.write(ws_text_frame(pending.encode())):
                session.queue.clear()

    def _connect(
        self,
        session: Session,
        message: dict[str, Any],
        reply: dict[str, Any],
        batch: Batch,
        link: WsLink | None,
        connection_type: str,
    ) -> dict[str, Any] | None:
        declared = message.get("connectionType")
        if not isinstance(declared, str):
            raise BayeuxError(
                PARAMETER_MISSING, ["connectionType"], "Missing connectionType"
            )
        if declared not in CONNECTION_TYPES:
            raise BayeuxError(
                CONNTYPE_MISMATCH, [declared[:64]], "Connection type not supported"
            )
        session.connection_type = "websocket" if link is not None else connection_type
        if link is None and session.link is not None:
            # The client moved to polling (its socket died or was refused).
            session.link.sessions.discard(session.client_id)
            self._cancel_timer(session)
            session.link = None
        self._release(session)
        session.last_seen = time.monotonic()
        reply["successful"] = True
        reply["advice"] = self._advice()
        timeout = _requested_timeout(message.get("advice"), self.limits.connect_timeout)
        loop = asyncio.get_running_loop()
        if link is not None:
            if timeout <= 0:
                return reply
            session.held_reply = reply
            session.timer = loop.call_later(timeout, self._answer_ws_connect, session)
            return None
        if timeout <= 0 or session.queue:
            batch.held = Held(session, reply, loop.create_future())
            batch.held.future.set_result(None)
            return None
        future: asyncio.Future[None] = loop.create_future()
        session.waiter = future
        loop.call_later(timeout, _resolve, future)
        batch.held = Held(session, reply, future)
        return None

    def _answer_ws_connect(self, session: Session) -> None:
        session.timer = None
        reply, session.held_reply = session.held_reply, None
        session.last_seen = time.monotonic()
        if reply is not None and session.link is not None:
            session.link.send_json([reply])

    def _cancel_timer(self, session: Session) -> None:
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None
            reply, session.held_reply = session.held_reply, None
            if reply is not None and session.link is not None:
                session.link.send_json([reply])

    def _release(self, session: Session) -> None:
        """Answer a held connect now (another connect or a disconnect came)."""
        self._cancel_timer(session)
        if session.waiter is not None and not session.waiter.done():
            session.waiter.set_result(None)
        session.waiter = None
        session.last_seen = time.monotonic()

    def drain(self, session: Session) -> list[str]:
        """Take a polling session's queued messages (serialised)."""
        session.last_seen = time.monotonic()
        items = list(session.queue)
        session.queue.clear()
        return items

    def end_connect(self, session: Session, future: asyncio.Future[None]) -> None:
        """A polling connect's handler is done with ``future``, answered or not.

        Until then the session counts as held and cannot expire; so this must
        run even when the handler is cancelled or its client left, or the
        session would never expire.
        """
        if session.waiter is future:
            session.waiter = None
        session.last_seen = time.monotonic()

    def _subscriptions(self, message: dict[str, Any]) -> list[str]:
        value = message.get("subscription")
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names:
            raise BayeuxError(
                PARAMETER_MISSING, ["subscription"], "Missing subscription"
            )
        for name in names:
            if not is_channel_pattern(name):
                raise BayeuxError(CHANNEL_INVALID, [str(name)[:64]], "Invalid channel")
            if name == "/meta" or name.startswith("/meta/"):
                raise BayeuxError(
                    CHANNEL_FORBIDDEN, [name], "Meta channels are not subscribable"
                )
        return names

    def _subscribe(
        self, session: Session, message: dict[str, Any], reply: dict[str, Any]
    ) -> None:
        names = self._subscriptions(message)
        reply["subscription"] = message["subscription"]
        if len(session.subscriptions | set(names)) > self.limits.max_subscriptions:
            raise BayeuxError(CHANNEL_FORBIDDEN, names[:1], "Too many subscriptions")
        for name in names:
            session.subscriptions.add(name)
            self.index.setdefault(name, set()).add(session.client_id)
        reply["successful"] = True

    def _unsubscribe(
        self, session: Session, message: dict[str, Any], reply: dict[str, Any]
    ) -> None:
        names = self._subscriptions(message)
        reply["subscription"] = message["subscription"]
        for name in names:
            self._drop_subscription(session, name)
        reply["successful"] = True

    def _drop_subscription(self, session: Session, name: str) -> None:
        session.subscriptions.discard(name)
        ids = self.index.get(name)
        if ids is not None:
            ids.discard(session.client_id)
            if not ids:
                del self.index[name]

    def _client_publish(
        self, message: dict[str, Any], channel: str, reply: dict[str, Any]
    ) -> None:
        if not is_channel_name(channel):
            raise BayeuxError(CHANNEL_INVALID, [channel[:64]], "Invalid channel")
        if not self.allow_client_publish:
            raise BayeuxError(
                CHANNEL_FORBIDDEN, [channel], "Publishing from clients is not allowed"
            )
        if "data" not in message:
            raise BayeuxError(PARAMETER_MISSING, ["data"], "Missing data")
        reply["successful"] = True
        if not channel.startswith("/service/"):
            self.publish(channel, message["data"])

    def _destroy(self, session: Session) -> None:
        self._release(session)
        for name in list(session.subscriptions):
            self._drop_subscription(session, name)
        if session.link is not None:
            session.link.sessions.discard(session.client_id)
            session.link = None
        session.queue.clear()
        self.sessions.pop(session.client_id, None)

    def iter_sessions(self) -> Iterator[Session]:
        return iter(list(self.sessions.values()))


def _requested_timeout(advice: Any, limit: float) -> float:
    """Seconds to hold a connect: the client's ``advice.timeout`` (ms), capped.

    Compared before dividing, because a JSON integer may be too large to
    become a float (``OverflowError``) and a bool is not a timeout.
    """
    if not isinstance(advice, dict):
        return limit
    ms = advice.get("timeout")
    if not isinstance(ms, int | float) or isinstance(ms, bool) or ms != ms:
        return limit
    if ms <= 0:
        return 0.0
    if ms >= limit * 1000:
        return limit
    return float(ms) / 1000


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
