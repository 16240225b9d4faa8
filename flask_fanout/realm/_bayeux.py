"""The Bayeux 1.0 engine: sessions, subscriptions, held connects, fan-out.

This module knows nothing about HTTP or WebSocket framing. The transports in
``_transports.py`` decode requests into lists of messages, call
:meth:`Engine.handle`, and write out what it returns; an open WebSocket is a
:class:`Link` the engine pushes messages to at once. The publish API calls
:meth:`Engine.publish`. Everything here runs on the realm's event loop
thread, so there are no locks.

A publish is serialised once, and the same text is pushed to every
subscribed link without awaiting anything, so a subscriber that stops
reading can never stall the others; the link cuts such a subscriber off
(see :meth:`Engine.close_link`).

Every session can expire, and expiry is incremental: sessions are kept in
order of their last activity, and the sweeper destroys a bounded number of
the oldest per step, yielding to the loop in between.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import re
import secrets
import time
from typing import Any
from typing import Protocol

from flask_fanout._channels import MAX_WIRE_LENGTH
from flask_fanout.realm import _background
from flask_fanout.realm._json import dumps
from flask_fanout.realm._limits import Limits
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

_SEGMENT = r"[A-Za-z0-9\-_!~()$@]+"
_CHANNEL_RE = re.compile(rf"(?:/{_SEGMENT})+")
_PATTERN_RE = re.compile(rf"(?:/{_SEGMENT})*/(?:\*\*?|{_SEGMENT})")
#: The longest channel or pattern a Bayeux client may name: a wire channel,
#: or a wildcard under one.
MAX_BAYEUX_CHANNEL_LENGTH = len("/") + MAX_WIRE_LENGTH + len("/**")

# Faye's error codes (the Bayeux spec leaves them to servers), plus 503 for
# "a cap is reached, retry later".
CONNTYPE_MISMATCH = 301
BAD_REQUEST = 400
CLIENT_UNKNOWN = 401
PARAMETER_MISSING = 402
CHANNEL_FORBIDDEN = 403
CHANNEL_INVALID = 405
SERVER_BUSY = 503

#: Sessions destroyed per sweeper step before it yields to the loop.
SWEEP_BATCH = 200


class BayeuxError(Exception):
    """A Bayeux-level error, rendered as Faye renders it: ``code:params:message``.

    The ``code`` is what ``/stats`` counts (``bayeux_<code>``).
    """

    def __init__(self, code: int, params: list[str], message: str) -> None:
        super().__init__(message)
        self.code = code
        self.params = params
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}:{','.join(self.params)}:{self.message}"


def is_channel_name(name: object) -> bool:
    """A concrete (non-wildcard) Bayeux channel such as ``/comments-1``."""
    return (
        isinstance(name, str)
        and len(name) <= MAX_BAYEUX_CHANNEL_LENGTH
        and _CHANNEL_RE.fullmatch(name) is not None
    )


def is_channel_pattern(name: object) -> bool:
    """A channel or a pattern ending in ``/*`` or ``/**``."""
    return (
        isinstance(name, str)
        and len(name) <= MAX_BAYEUX_CHANNEL_LENGTH
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


class Link(Protocol):
    """An open WebSocket, as the engine sees it: somewhere to push messages.

    :attr:`closed` is set once nothing more can be written; :attr:`dropped`
    when the link cut itself off because its peer stopped reading.
    """

    sessions: set[str]
    closed: bool
    dropped: bool
    #: ``time.monotonic()`` when the peer last sent a frame.
    heard: float

    def push(self, messages: str) -> bool:
        """Send ``messages``, a JSON array as text; ``False`` if it was not sent."""

    def send_json(self, messages: list[dict[str, Any]]) -> bool:
        """Send ``messages`` as one JSON array."""

    def close_idle(self) -> None:
        """Close the link because its peer has gone silent."""


class Session:
    """A handshaken client, alive for as long as it keeps connecting."""

    __slots__ = (
        "client_id",
        "connection_type",
        "held",
        "last_seen",
        "link",
        "queue",
        "subscriptions",
    )

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.subscriptions: set[str] = set()
        #: Serialised messages waiting for a polling connect.
        self.queue: collections.deque[str] = collections.deque()
        #: The WebSocket that messages are pushed to, if any.
        self.link: Link | None = None
        #: The session's connect in progress, if any: it cannot expire then.
        self.held: HeldConnect | None = None
        self.connection_type = PENDING
        self.last_seen = time.monotonic()


class HeldConnect:
    """A ``/meta/connect`` waiting for a message or its timeout.

    A session has at most one. It ends in one of two ways: :meth:`answer`
    (a message arrived, its timeout passed, or the session's next connect,
    disconnect or expiry came) or :meth:`cancel` (its transport is done with
    it). Over a WebSocket, answering writes the reply to the socket at once.
    Over HTTP, answering resolves :attr:`answered`, which the transport
    awaits before writing the response and then cancels the connect; until
    then the session counts as connected, since its response may still carry
    messages.
    """

    __slots__ = ("_engine", "_timer", "answered", "done", "link", "reply", "session")

    def __init__(
        self,
        engine: Engine,
        session: Session,
        reply: dict[str, Any],
        link: Link | None,
        timeout: float,
    ) -> None:
        self._engine = engine
        self.session = session
        self.reply = reply
        self.link = link
        loop = asyncio.get_running_loop()
        #: Over HTTP, resolved once the connect may be written out.
        self.answered: asyncio.Future[None] | None = (
            loop.create_future() if link is None else None
        )
        self.done = False
        self._timer: asyncio.TimerHandle | None = None
        session.held = self
        if timeout > 0:
            self._timer = loop.call_later(timeout, self.answer)
        else:
            self.answer()

    def answer(self) -> None:
        """Reply now (idempotent)."""
        self._stop_timer()
        if self.done:
            return
        self.done = True
        if self.link is not None:
            self.link.send_json([self.reply])
            self._release()
        elif self.answered is not None and not self.answered.done():
            self.answered.set_result(None)

    def cancel(self) -> None:
        """Stop holding it; no reply is sent from now on (idempotent).

        From here on, the session can expire again.
        """
        self._stop_timer()
        self.done = True
        if self.answered is not None and not self.answered.done():
            self.answered.set_result(None)
        self._release()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _release(self) -> None:
        session = self.session
        if session.held is self:
            session.held = None
            self._engine.touch(session)


class Batch:
    """What :meth:`Engine.handle` produced for one request or frame.

    ``replies`` go out as they are. ``connects`` are the HTTP connects of the
    request, in order: at most one of them is still waiting (see
    :meth:`Engine.handle`), and each reply is written followed by its
    session's queued messages.
    """

    __slots__ = ("connects", "handshakes", "holding", "replies")

    def __init__(self) -> None:
        self.replies: list[dict[str, Any]] = []
        self.connects: list[HeldConnect] = []
        self.holding = False
        self.handshakes = 0

    @property
    def waiting(self) -> HeldConnect | None:
        """The connect that the response must wait for, if any."""
        for held in self.connects:
            if not held.done:
                return held
        return None


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
        #: Least recently active first: the sweeper's order.
        self.sessions: collections.OrderedDict[str, Session] = collections.OrderedDict()
        #: Subscription pattern -> client ids.
        self.index: dict[str, set[str]] = {}
        self.links: set[Link] = set()
        self._by_transport: collections.Counter[str] = collections.Counter()
        self._subscriptions = 0
        self._ids = itertools.count(1)
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start expiring silent sessions (call on the running loop)."""
        self._sweeper = _background.start(self._sweep_forever())

    async def close(self) -> None:
        """Stop the sweeper and answer every held connect."""
        await _background.stop(self._sweeper)
        self._sweeper = None
        for session in list(self.sessions.values()):
            if session.held is not None:
                session.held.answer()

    async def _sweep_forever(self) -> None:
        limits = self.limits
        period = min(limits.session_timeout, limits.websocket_idle_timeout) / 4
        period = max(0.05, min(period, 5.0))
        while True:
            await asyncio.sleep(period)
            self.close_idle_links()
            while self.expire(budget=SWEEP_BATCH):
                await asyncio.sleep(0)

    def close_idle_links(self, now: float | None = None) -> int:
        """Close the WebSockets silent for ``websocket_idle_timeout``.

        A live Faye client sends a connect at least every
        ``websocket_heartbeat``; one that answers pings but sends nothing
        would otherwise hold its socket for good. (Checked here, every sweep,
        rather than with a timer per socket: cheaper in memory and CPU.)
        """
        cutoff = (time.monotonic() if now is None else now) - (
            self.limits.websocket_idle_timeout
        )
        idle = [link for link in self.links if link.heard < cutoff]
        for link in idle:
            self.stats.error("ws_idle_closed")
            link.close_idle()
        return len(idle)

    def touch(self, session: Session) -> None:
        """The session is active now: restart its expiry clock."""
        session.last_seen = time.monotonic()
        if session.client_id in self.sessions:
            self.sessions.move_to_end(session.client_id)

    def expire(self, now: float | None = None, budget: int | None = None) -> bool:
        """Destroy sessions silent for ``session_timeout``, up to ``budget``.

        Only the oldest sessions are looked at, so the cost is proportional
        to what expires (plus ``budget``). A session whose connect is in
        progress is alive: it goes to the back of the line. Returns whether
        the budget ran out, i.e. more sessions may be due.
        """
        now = time.monotonic() if now is None else now
        cutoff = now - self.limits.session_timeout
        sessions = self.sessions
        expired = 0
        looked = 0
        try:
            while sessions:
                if budget is not None and looked >= budget:
                    return True
                looked += 1
                session = next(iter(sessions.values()))
                if session.last_seen >= cutoff:
                    return False
                if session.held is not None:
                    self.touch(session)
                    continue
                self._destroy(session)
                expired += 1
            return False
        finally:
            self.stats.sessions_expired += expired

    # -- gauges ------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        top = heapq.nlargest(
            self.limits.stats_channels,
            self.index.items(),
            key=lambda item: (len(item[1]), item[0]),
        )
        return self.stats.snapshot(
            dict(self._by_transport),
            {pattern: len(ids) for pattern, ids in top},
            channels=len(self.index),
            subscriptions=self._subscriptions,
            websockets_open=len(self.links),
        )

    def _set_transport(self, session: Session, connection_type: str) -> None:
        if session.connection_type != connection_type:
            self._by_transport[session.connection_type] -= 1
            if not self._by_transport[session.connection_type]:
                del self._by_transport[session.connection_type]
            self._by_transport[connection_type] += 1
            session.connection_type = connection_type

    # -- links -------------------------------------------------------------

    def add_link(self, link: Link) -> None:
        self.links.add(link)

    def close_link(self, link: Link) -> None:
        """The socket is gone: its sessions fall back to queueing.

        Unless it was cut off for not reading: frames already counted as
        delivered were thrown away, so its sessions are dropped instead and
        the client's next connect gets ``401`` and re-handshakes (and the app
        refetches). Keeping them would lose those hints without a trace.
        """
        if link not in self.links:
            return
        link.closed = True
        self.links.discard(link)
        if link.dropped:
            self.stats.error("slow_client_dropped")
        for client_id in list(link.sessions):
            session = self.sessions.get(client_id)
            if session is None or session.link is not link:
                continue
            if link.dropped:
                self._destroy(session)
                continue
            session.link = None
            if session.held is not None:
                session.held.cancel()
            self.touch(session)
        link.sessions.clear()

    def _attach(self, session: Session, link: Link) -> None:
        if session.link is link:
            return
        if session.link is not None:
            session.link.sessions.discard(session.client_id)
        if session.held is not None:
            session.held.answer()  # on its own transport
        session.link = link
        link.sessions.add(session.client_id)
        if session.queue and link.push("[" + ",".join(session.queue) + "]"):
            session.queue.clear()

    def _detach(self, session: Session) -> None:
        if session.link is not None:
            session.link.sessions.discard(session.client_id)
            session.link = None

    # -- publishing --------------------------------------------------------

    def publish(self, channel: str, data: Any) -> int:
        """Deliver ``data`` on the concrete ``channel``; return the recipients.

        :raises ValueError: if ``data`` holds a non-finite float (see
            :func:`~flask_fanout.realm._json.dumps`); nothing is delivered.
        """
        text = dumps(
            {"channel": channel, "data": data, "id": format(next(self._ids), "x")}
        )
        self.stats.messages_published += 1
        matched: list[set[str]] = [
            ids for p in expand(channel) if (ids := self.index.get(p))
        ]
        if not matched:
            return 0
        recipients = matched[0] if len(matched) == 1 else set().union(*matched)
        array = "[" + text + "]"
        delivered = 0
        overflowed: list[Session] = []
        for client_id in list(recipients):
            session = self.sessions.get(client_id)
            if session is None:
                continue
            link = session.link
            if link is not None and not link.closed:
                if link.push(array):
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
            if session.held is not None and session.held.link is None:
                session.held.answer()
        for session in overflowed:
            self.stats.error("queue_overflow")
            self._destroy(session)
        self.stats.messages_delivered += delivered
        return delivered

    # -- the protocol ------------------------------------------------------

    def handle(
        self, messages: list[Any], *, link: Link | None, connection_type: str
    ) -> Batch:
        """Process one request's (or frame's) messages, in order.

        A request holds at most one connect: the first one that waits. Any
        later connect in it, for the same session or another, is answered at
        once, so that none is left unanswered (and no session unable to
        expire) when the response goes out.
        """
        batch = Batch()
        if len(messages) > self.limits.max_messages:
            error = BayeuxError(BAD_REQUEST, [], "Too many messages in one request")
            self.stats.error(f"bayeux_{error.code}")
            batch.replies.append({"successful": False, "error": str(error)})
            return batch
        for message in messages:
            reply = self._handle_one(message, batch, link, connection_type)
            if reply is not None:
                batch.replies.append(reply)
        return batch

    def _handle_one(
        self, message: Any, batch: Batch, link: Link | None, connection_type: str
    ) -> dict[str, Any] | None:
        if not isinstance(message, dict):
            error = BayeuxError(BAD_REQUEST, [], "Message is not an object")
            self.stats.error(f"bayeux_{error.code}")
            return {"successful": False, "error": str(error)}
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
                self._handshake(message, reply, batch, link)
                return reply
            meta = channel == "/meta" or channel.startswith("/meta/")
            if meta and channel not in _META_METHODS:
                # As Faye's server does, before looking at any other field.
                raise BayeuxError(CHANNEL_FORBIDDEN, [channel], "Forbidden channel")
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
            else:
                self._client_publish(message, channel, reply)
        except BayeuxError as exc:
            self.stats.error(f"bayeux_{exc.code}")
            reply["successful"] = False
            reply["error"] = str(exc)
            if exc.code == CLIENT_UNKNOWN:
                reply["advice"] = {"reconnect": "handshake", "interval": 0}
            elif exc.code == SERVER_BUSY:
                reply["advice"] = {"reconnect": "retry", "interval": 5000}
        return reply

    def _handshake(
        self,
        message: dict[str, Any],
        reply: dict[str, Any],
        batch: Batch,
        link: Link | None,
    ) -> None:
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
                [t[:64] for t in types if isinstance(t, str)][:4],
                "Connection types not supported",
            )
        if batch.handshakes >= self.limits.max_sessions_per_request:
            raise BayeuxError(SERVER_BUSY, [], "Too many handshakes in one request")
        if len(self.sessions) >= self.limits.max_sessions:
            raise BayeuxError(
                SERVER_BUSY, [], "Too many sessions on this realm; retry later"
            )
        batch.handshakes += 1
        client_id = secrets.token_hex(16)
        self.sessions[client_id] = Session(client_id)
        self._by_transport[PENDING] += 1
        self.stats.handshakes += 1
        reply["clientId"] = client_id
        reply["successful"] = True
        reply["advice"] = self._advice(link)

    def _advice(self, link: Link | None) -> dict[str, Any]:
        limits = self.limits
        hold = limits.websocket_hold if link is not None else limits.connect_timeout
        return {"reconnect": "retry", "interval": 0, "timeout": int(hold * 1000)}

    def _session_for(self, message: dict[str, Any], reply: dict[str, Any]) -> Session:
        client_id = message.get("clientId")
        if not isinstance(client_id, str):
            raise BayeuxError(PARAMETER_MISSING, ["clientId"], "Missing clientId")
        reply["clientId"] = client_id
        session = self.sessions.get(client_id)
        if session is None:
            raise BayeuxError(CLIENT_UNKNOWN, [client_id[:64]], "Unknown client")
        return session

    def _connect(
        self,
        session: Session,
        message: dict[str, Any],
        reply: dict[str, Any],
        batch: Batch,
        link: Link | None,
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
        self._set_transport(
            session, "websocket" if link is not None else connection_type
        )
        if session.held is not None:
            session.held.answer()  # a new connect answers the previous one
        if link is None:
            # Over HTTP: the client moved to polling if it had a socket.
            self._detach(session)
        self.touch(session)
        reply["successful"] = True
        reply["advice"] = self._advice(link)
        limits = self.limits
        limit = limits.websocket_hold if link is not None else limits.connect_timeout
        timeout = _requested_timeout(message.get("advice"), limit)
        if batch.holding or (link is None and session.queue):
            timeout = 0.0
        if link is not None:
            if timeout <= 0:
                return reply
            batch.holding = True
            HeldConnect(self, session, reply, link, timeout)
            return None
        batch.holding = batch.holding or timeout > 0
        batch.connects.append(HeldConnect(self, session, reply, None, timeout))
        return None

    def drain(self, session: Session) -> list[str]:
        """Take a polling session's queued messages (serialised)."""
        self.touch(session)
        items = list(session.queue)
        session.queue.clear()
        return items

    def _subscriptions_of(self, message: dict[str, Any]) -> list[str]:
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
        names = self._subscriptions_of(message)
        reply["subscription"] = message["subscription"]
        new = set(names) - session.subscriptions
        if len(session.subscriptions) + len(new) > self.limits.max_subscriptions:
            raise BayeuxError(CHANNEL_FORBIDDEN, names[:1], "Too many subscriptions")
        for name in new:
            session.subscriptions.add(name)
            self.index.setdefault(name, set()).add(session.client_id)
        self._subscriptions += len(new)
        reply["successful"] = True

    def _unsubscribe(
        self, session: Session, message: dict[str, Any], reply: dict[str, Any]
    ) -> None:
        names = self._subscriptions_of(message)
        reply["subscription"] = message["subscription"]
        for name in names:
            self._drop_subscription(session, name)
        reply["successful"] = True

    def _drop_subscription(self, session: Session, name: str) -> None:
        if name not in session.subscriptions:
            return
        session.subscriptions.discard(name)
        self._subscriptions -= 1
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
        if self.sessions.pop(session.client_id, None) is None:
            return
        if session.held is not None:
            session.held.answer()
        for name in list(session.subscriptions):
            self._drop_subscription(session, name)
        self._detach(session)
        session.queue.clear()
        self._by_transport[session.connection_type] -= 1
        if not self._by_transport[session.connection_type]:
            del self._by_transport[session.connection_type]


#: The meta channels a client may send to, besides ``/meta/handshake``.
_META_METHODS = frozenset(
    {"/meta/connect", "/meta/subscribe", "/meta/unsubscribe", "/meta/disconnect"}
)


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
