"""HTTP proxies that misbehave on purpose, between a client and Pushpin.

Real deployments put things between the browser and the GRIP proxy that
break streaming, and the browser module must cope:

* :class:`BufferingProxy` holds each response body until the upstream
  closes it (or until a large byte threshold), like a reverse proxy with
  response buffering on. A long-poll's answer, which ends, passes through
  (late by nothing); an SSE stream, which never ends, shows its headers but
  never a single event. That is what sends the module to long-polling.
* :class:`StreamRouter` is the nginx of "topology 2" in
  ``docs/deploying.md``: only ``/_fanout/events`` goes to the GRIP proxy,
  everything else straight to the app, so the app stays reachable (and the
  page's polling works) while the proxy is down.
* :class:`StreamKillingProxy` passes everything through unbuffered, and on
  demand cuts every open event stream with a TCP reset, or freezes them, and
  then lets new streams through, resets them, rejects them with a 502, or
  leaves them hanging.

Both listen on a free loopback port, run one request per client connection
(they rewrite ``Connection: close`` both ways, so every exchange is a
connection of its own and easy to account for), count what they did, and are
started and stopped the same way: an asyncio loop in a thread of their own.
:class:`WebSocketKillingProxy`, for the Bayeux transports, is a
:class:`StreamKillingProxy` that also kills and refuses WebSockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import threading
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal
from typing import Self

#: What :class:`StreamKillingProxy` does with a new event stream.
StreamPolicy = Literal["allow", "reset", "reject", "hang"]

_HOP_BY_HOP = re.compile(rb"(?im)^(connection|keep-alive|proxy-connection):[^\n]*\n")
_UPGRADE = re.compile(rb"(?im)^upgrade:")
_EVENT_STREAM = re.compile(rb"(?im)^content-type:\s*text/event-stream")


def _bad_gateway(text: bytes) -> bytes:
    return (
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(text), text)
    )


_FORBIDDEN = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_BAD_GATEWAY = _bad_gateway(b"stream refused by the proxy\n")
_BAD_GATEWAY_DOWN = _bad_gateway(b"upstream unreachable\n")


def _close_header(head: bytes) -> bytes:
    """``head`` with its hop-by-hop headers replaced by ``Connection: close``."""
    stripped = _HOP_BY_HOP.sub(b"", head)
    return stripped[:-2] + b"Connection: close\r\n\r\n"


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0): an abrupt cut, not a clean end."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
    writer.transport.abort()


@dataclass(eq=False)
class Exchange:
    """One request and its response through a proxy."""

    request_line: str
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    status: int | None = None
    #: The response is ``text/event-stream``.
    stream: bool = False
    #: Body bytes held back (buffering) or dropped (a stalled stream).
    held: bytearray = field(default_factory=bytearray)
    stalled: bool = False
    done: bool = False
    #: The request asked for an upgrade (a WebSocket), piped both ways.
    upgraded: bool = False

    @property
    def path(self) -> str:
        parts = self.request_line.split(" ")
        return parts[1] if len(parts) > 1 else ""


class _Proxy:
    """The shared part: loop thread, accept, request/response heads, counters."""

    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        #: Every exchange so far, finished or not, in arrival order.
        self.exchanges: list[Exchange] = []
        self.connections = 0
        #: Requests answered 502 because the upstream refused the connection.
        self.upstream_failures = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def paths(self) -> list[str]:
        """The request targets seen, in order (``/path?query``)."""
        return [e.path for e in self.exchanges]

    def start(self) -> Self:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Close the listener and every connection; idempotent."""
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            self._call(self._close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            await self._serve(reader, writer)
        except (
            ConnectionError,
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels; ending quietly keeps asyncio from logging
            # every open connection as an error.
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await self._forward(await reader.readuntil(b"\r\n\r\n"), reader, writer)

    async def _forward(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Send one request (its ``head`` already read) upstream, and answer."""
        exchange = Exchange(head.split(b"\r\n", 1)[0].decode("latin-1"), writer)
        self.exchanges.append(exchange)
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.target_host, self._upstream_port(exchange)
            )
        except OSError:
            # What a reverse proxy says when its upstream is down.
            self.upstream_failures += 1
            exchange.status = 502
            exchange.done = True
            writer.write(_BAD_GATEWAY_DOWN)
            await writer.drain()
            return
        exchange.upstream = up_writer
        self._writers.add(up_writer)
        try:
            if _UPGRADE.search(head):
                # Not HTTP any more (WebSocket): just pipe both ways.
                exchange.upgraded = True
                up_writer.write(head)
                await asyncio.gather(
                    self._pipe(reader, up_writer), self._pipe(up_reader, writer)
                )
                return
            up_writer.write(_close_header(head))
            # The request body (if any) goes up as it comes; when the client
            # goes away, so does the upstream request.
            upload = asyncio.ensure_future(self._upload(reader, exchange))
            try:
                response = await up_reader.readuntil(b"\r\n\r\n")
                status = response.split(b" ", 2)
                exchange.status = int(status[1]) if len(status) > 1 else None
                exchange.stream = _EVENT_STREAM.search(response) is not None
                await self._respond(
                    exchange, _close_header(response), up_reader, upload
                )
            finally:
                upload.cancel()
                with contextlib.suppress(
                    asyncio.CancelledError, ConnectionError, OSError
                ):
                    await upload
        finally:
            exchange.done = True
            self._writers.discard(up_writer)
            up_writer.close()

    def _upstream_port(self, exchange: Exchange) -> int:
        """Where ``exchange`` goes: the one target, unless a subclass routes."""
        return self.target_port

    async def _upload(self, reader: asyncio.StreamReader, exchange: Exchange) -> None:
        assert exchange.upstream is not None
        while data := await reader.read(65536):
            exchange.upstream.write(data)
            await exchange.upstream.drain()
        # The client closed its side: nobody is left to answer.
        exchange.upstream.transport.abort()
        exchange.client.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _respond(
        self,
        exchange: Exchange,
        head: bytes,
        up_reader: asyncio.StreamReader,
        upload: asyncio.Future[None],
    ) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        # Aborted connections end their tasks; cancel whatever still waits.
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


class BufferingProxy(_Proxy):
    """Forwards each response body only when the upstream ends it.

    ``threshold`` bytes held make it flush early, as a real buffer fills up
    (the default, 1 MiB, is far more than keep-alives and hints add up to in a
    test). ``buffer_headers`` holds the status line and headers too; by
    default they go out at once, as nginx sends them, so an ``EventSource``
    does see ``open`` but never an event.
    """

    def __init__(
        self,
        target_port: int,
        *,
        threshold: int = 1 << 20,
        buffer_headers: bool = False,
        target_host: str = "127.0.0.1",
    ) -> None:
        super().__init__(target_port, target_host=target_host)
        self.threshold = threshold
        self.buffer_headers = buffer_headers
        self.bytes_forwarded = 0
        self.flushes = 0

    @property
    def bytes_held(self) -> int:
        """Body bytes received from upstream and not yet forwarded."""
        return sum(len(e.held) for e in self.exchanges if not e.done)

    @property
    def streams_held(self) -> int:
        """Event streams open right now (and so getting nothing through)."""
        return sum(1 for e in self.exchanges if e.stream and not e.done)

    @property
    def completed(self) -> list[Exchange]:
        """Exchanges whose whole response went through."""
        return [e for e in self.exchanges if e.done and e.status is not None]

    async def _flush(self, exchange: Exchange) -> None:
        if exchange.held:
            data = bytes(exchange.held)
            exchange.held.clear()
            # Count first: the client (another thread) may act on the bytes
            # before this coroutine runs on after write().
            self.bytes_forwarded += len(data)
            self.flushes += 1
            exchange.client.write(data)
            await exchange.client.drain()

    async def _respond(
        self,
        exchange: Exchange,
        head: bytes,
        up_reader: asyncio.StreamReader,
        upload: asyncio.Future[None],
    ) -> None:
        if self.buffer_headers:
            exchange.held += head
        else:
            exchange.client.write(head)
            await exchange.client.drain()
        while data := await up_reader.read(65536):
            exchange.held += data
            if len(exchange.held) >= self.threshold:
                await self._flush(exchange)
        await self._flush(exchange)


class StreamKillingProxy(_Proxy):
    """Passes everything straight through, and kills event streams on demand.

    A response is a *stream* when it is ``text/event-stream``; everything else
    (pages, long-polls, publishes) is never touched. ``policy`` says what
    happens to new streams: ``"allow"`` them, ``"reset"`` the connection once
    the upstream answered (a network error to an ``EventSource``, which then
    retries), ``"reject"`` them with a 502 (an ``EventSource`` closes for
    good), or leave them to ``"hang"`` with nothing sent.
    """

    def __init__(
        self,
        target_port: int,
        *,
        policy: StreamPolicy = "allow",
        target_host: str = "127.0.0.1",
    ) -> None:
        super().__init__(target_port, target_host=target_host)
        self.policy: StreamPolicy = policy
        self.streams_opened = 0
        self.streams_killed = 0
        self.streams_stalled = 0
        self.streams_refused = 0
        #: Bytes read from frozen streams and thrown away.
        self.bytes_dropped = 0

    @property
    def streams_open(self) -> int:
        """Streams passing bytes right now."""
        return sum(1 for e in self._open_streams() if not e.stalled)

    def _open_streams(self) -> list[Exchange]:
        return [
            e
            for e in self.exchanges
            if e.stream and not e.done and e.status is not None
        ]

    def kill_streams(self, then: StreamPolicy = "allow") -> int:
        """Reset every open stream, then treat new ones per ``then``; how many."""
        return int(self._call(self._kill(then)))

    def stall_streams(self, then: StreamPolicy = "hang") -> int:
        """Stop forwarding on every open stream (left open, silent); how many."""
        return int(self._call(self._stall(then)))

    def set_policy(self, policy: StreamPolicy) -> None:
        """What to do with streams opened from now on."""
        self._call(self._set_policy(policy))

    async def _set_policy(self, policy: StreamPolicy) -> None:
        self.policy = policy

    async def _kill(self, then: StreamPolicy) -> int:
        self.policy = then
        victims = self._open_streams()
        for exchange in victims:
            _reset(exchange.client)
            if exchange.upstream is not None:
                exchange.upstream.transport.abort()
        self.streams_killed += len(victims)
        return len(victims)

    async def _stall(self, then: StreamPolicy) -> int:
        self.policy = then
        victims = [e for e in self._open_streams() if not e.stalled]
        for exchange in victims:
            exchange.stalled = True
        self.streams_stalled += len(victims)
        return len(victims)

    async def _respond(
        self,
        exchange: Exchange,
        head: bytes,
        up_reader: asyncio.StreamReader,
        upload: asyncio.Future[None],
    ) -> None:
        if exchange.stream and self.policy != "allow":
            self.streams_refused += 1
            assert exchange.upstream is not None
            exchange.upstream.transport.abort()
            if self.policy == "reset":
                _reset(exchange.client)
            elif self.policy == "reject":
                exchange.client.write(_BAD_GATEWAY)
                await exchange.client.drain()
            else:  # hang: the client waits until it gives up, or the proxy stops
                exchange.stalled = True
                with contextlib.suppress(ConnectionError, OSError):
                    await upload
            return
        if exchange.stream:
            self.streams_opened += 1
        exchange.client.write(head)
        await exchange.client.drain()
        while data := await up_reader.read(65536):
            if exchange.stalled:
                self.bytes_dropped += len(data)  # the stream is frozen
                continue
            exchange.client.write(data)
            await exchange.client.drain()


class WebSocketKillingProxy(StreamKillingProxy):
    """Passes plain HTTP through, and kills WebSockets on demand.

    Browsers open each WebSocket on a connection of its own whose first
    request is the upgrade, so the request head tells the two apart.
    :meth:`kill_websockets` aborts the open ones and refuses new upgrades
    with a 403, like a proxy that does not do WebSocket.
    """

    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1") -> None:
        super().__init__(target_port, target_host=target_host)
        self.refuse_websocket = False
        self.websockets_refused = 0

    @property
    def websockets_opened(self) -> int:
        return sum(1 for e in self.exchanges if e.upgraded)

    def kill_websockets(self) -> int:
        """Abort every open WebSocket and refuse new ones; how many were open."""
        return int(self._call(self._kill_websockets()))

    async def _kill_websockets(self) -> int:
        self.refuse_websocket = True
        victims = [e for e in self.exchanges if e.upgraded and not e.done]
        for exchange in victims:
            exchange.client.transport.abort()
            if exchange.upstream is not None:
                exchange.upstream.transport.abort()
        return len(victims)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if self.refuse_websocket and _UPGRADE.search(head):
            self.websockets_refused += 1
            writer.write(_FORBIDDEN)
            await writer.drain()
            return
        await self._forward(head, reader, writer)


class StreamRouter(StreamKillingProxy):
    """Routes by path and passes bytes through unbuffered, like nginx in
    "topology 2": requests for ``/_fanout/events`` go to ``stream_port``
    (the GRIP proxy), everything else to ``app_port``. An upstream that
    refuses the connection gets the browser a ``502``, as nginx answers.
    """

    def __init__(self, app_port: int, stream_port: int) -> None:
        super().__init__(app_port)
        self.stream_port = stream_port

    def _upstream_port(self, exchange: Exchange) -> int:
        path = exchange.path.split("?", 1)[0]
        return (
            self.stream_port if path.endswith("/_fanout/events") else self.target_port
        )
