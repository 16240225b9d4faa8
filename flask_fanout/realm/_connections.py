"""TCP connections: the cap, the clean refusal, and logs that cannot flood.

Every socket the realm holds is a file descriptor. Past the process's limit
(``ulimit -n``), ``accept()`` fails with ``EMFILE``; asyncio then logs a
traceback for each of up to ``backlog`` attempts per loop turn, and the
realm answers nobody. So :class:`ConnectionGate` caps open connections a
margin below that limit (and at ``Limits.max_connections``) and answers a
connection past the cap with ``503 Service Unavailable`` and a close, at the
cost of one short-lived descriptor. Whatever still goes wrong at this level
(``EMFILE`` when something else used the descriptors, malformed request
lines, failing transports) is logged through a :class:`RateLimitedLog`:
one line per condition per minute, with a count.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from flask_fanout._ratelimit import RateLimitedLog
from flask_fanout.realm._stats import RealmStats

log = logging.getLogger("flask_fanout.realm")

#: Descriptors kept free for everything but client sockets (the listening
#: socket, log files, an embedding app's own files and sockets).
_RESERVED_FDS = 64
#: Refusals in progress at once; past it a connection is dropped at once.
_MAX_REFUSING = 64
_REFUSAL_LINGER = 2.0
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 56\r\n"
    b"Retry-After: 5\r\n"
    b"Connection: close\r\n\r\n"
    b"flask-fanout local realm: too many connections; retry.\r\n"
)
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def fd_limit() -> int | None:
    """The soft limit on open files, or ``None`` when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def connection_cap(max_connections: int) -> int:
    """``max_connections``, lowered to leave room below the open-file limit."""
    limit = fd_limit()
    if limit is None:
        return max_connections
    return max(1, min(max_connections, limit - max(_RESERVED_FDS, limit // 8)))


class _Counted(asyncio.Protocol):
    """A connection under the cap: aiohttp's protocol, counted."""

    __slots__ = ("_gate", "_inner")

    def __init__(self, gate: ConnectionGate, inner: asyncio.Protocol) -> None:
        self._gate = gate
        self._inner = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._gate.closed()
        self._inner.connection_lost(exc)


class _Refused(asyncio.Protocol):
    """A connection past the cap: ``503``, then close once the peer has read it.

    Closing at once, with the request still unread, would make the kernel
    send a reset that can destroy the response before the client reads it.
    So the realm half-closes, discards what arrives, and closes on the
    peer's end of file, or after a short linger.
    """

    def __init__(self, gate: ConnectionGate) -> None:
        self._gate = gate
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(_BUSY)
        if transport.can_write_eof():
            transport.write_eof()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(_REFUSAL_LINGER, transport.abort)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._gate.refusal_done()


class _Dropped(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.abort()  # type: ignore[attr-defined]


class ConnectionGate:
    """Counts the realm's open connections and refuses those past ``cap``."""

    def __init__(self, cap: int, stats: RealmStats, logs: RateLimitedLog) -> None:
        self.cap = cap
        self.stats = stats
        self.logs = logs
        self.open = 0
        self.refusing = 0
        #: Set once the realm stops listening (see :func:`loop_exception_handler`).
        self.closing = False
        stats.connections_limit = cap

    def factory(
        self, make: Callable[[], asyncio.Protocol]
    ) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for ``create_server`` that applies the cap."""

        def protocol() -> asyncio.Protocol:
            if self.open < self.cap:
                self.open += 1
                self.stats.connections_open = self.open
                return _Counted(self, make())
            self.stats.connections_refused += 1
            self.logs.warning(
                "connection-cap",
                "flask-fanout realm: refusing connections, %d are open "
                "(the cap: --max-connections, and the open-file limit)",
                self.open,
            )
            if self.refusing >= _MAX_REFUSING:
                return _Dropped()
            self.refusing += 1
            return _Refused(self)

        return protocol

    def closed(self) -> None:
        self.open -= 1
        self.stats.connections_open = self.open

    def refusal_done(self) -> None:
        self.refusing -= 1


class GatedSite(web.BaseSite):
    """A TCP site whose connections go through a :class:`ConnectionGate`."""

    __slots__ = ("_gate", "_host", "_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        gate: ConnectionGate,
        *,
        backlog: int = 1024,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._gate = gate

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._gate.factory(server),
            self._host or None,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
        )

    @property
    def sockets(self) -> list[socket.socket]:
        server = self._server
        if not isinstance(server, asyncio.Server):
            return []
        return list(server.sockets)


class ServerLog(logging.LoggerAdapter[logging.Logger]):
    """The logger aiohttp's request handlers use, rate limited.

    A malformed request (a request line or header past aiohttp's limits, bad
    syntax) is the client's problem: one warning line without a traceback.
    Anything else keeps its traceback, at most once per minute per kind.
    """

    def __init__(self, logs: RateLimitedLog) -> None:
        super().__init__(logs.logger, {})
        self._logs = logs

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError) and (exc.code or 400) < 500:
            self._logs.warning(
                f"bad-request-{exc.code}",
                "flask-fanout realm: refused a malformed request (%s %s)",
                exc.code,
                exc.message.splitlines()[0][:200] if exc.message else "",
            )
            return
        if level < logging.WARNING:
            self.logger.log(level, msg, *args, **kwargs)
            return
        kind = type(exc).__name__ if isinstance(exc, BaseException) else str(msg)
        self._logs.log(
            level, f"server-{kind}", str(msg), *args, exc_info=kwargs.get("exc_info")
        )


def loop_exception_handler(
    logs: RateLimitedLog, gate: ConnectionGate
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """An event loop exception handler that logs each kind of error rarely.

    ``EMFILE`` and friends from ``accept()`` get one line (no traceback)
    saying what to do about it. Once the realm is closing, errors are only
    logged at DEBUG: after an ``EMFILE`` episode asyncio still holds one
    accept retry per failed attempt, and each fails on the closed socket.
    """

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message", "event loop error"))
        if gate.closing:
            log.debug("flask-fanout realm, closing: %s: %r", message, exc)
            return
        if isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRORS:
            logs.warning(
                f"os-{exc.errno}",
                "flask-fanout realm: %s: %s (%d connections open; raise the "
                "open-file limit with ulimit -n, or lower --max-connections)",
                message,
                exc.strerror or exc,
                gate.open,
            )
            return
        logs.error(
            f"loop-{message}-{type(exc).__name__}",
            "flask-fanout realm: %s",
            message,
            exc_info=exc if isinstance(exc, BaseException) else None,
        )

    return handle
