"""Raw Server-Sent Events clients, for tests and benchmarks that must see the wire.

A browser's ``EventSource`` hides what a test needs to check: the status and
headers, ``:`` keep-alive comments, the ``retry:`` field, when each event
arrived, and whether the stream ended. These clients show all of it, like
``curl -N`` with a parser attached:

* :class:`SSEParser` turns bytes into :class:`SSEEvent` and
  :class:`SSEComment` records, following the WHATWG HTML rules for
  interpreting an event stream (CR, LF or CRLF line ends, ``data`` over
  several lines, ``id`` without NUL, ``retry`` only when all digits, a
  trailing unterminated event discarded at EOF).
* :class:`SSEClient` is one synchronous connection (``http.client`` plus a
  reader thread) with waits bounded by a timeout: for the n-th event, for a
  comment, for the end of the stream.
* :class:`AsyncSSEClient` does the same on aiohttp, for benchmarks that hold
  thousands of connections in one process; :func:`client_session` gives it a
  session without aiohttp's default cap of 100 connections.

Every record carries ``received_at`` (:func:`time.monotonic`), so latency is
"publish call to ``received_at``" on the same clock.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import http.client
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import aiohttp

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event, as an ``EventSource`` would hand it to a listener."""

    #: The ``event:`` field, or ``"message"``.
    type: str
    #: The ``data:`` lines joined with ``\n``.
    data: str
    #: The last event ID at dispatch time (it carries over between events).
    last_event_id: str
    #: The ``id:`` field of this very event, if it had one.
    id: str | None
    received_at: float
    #: The reconnection time the stream had set when this event was dispatched.
    retry: int | None = field(default=None, compare=False)

    @property
    def event(self) -> str:
        """The same as :attr:`type`, under the field's name in the stream."""
        return self.type


@dataclass(frozen=True)
class SSEComment:
    """A line starting with ``:`` (keep-alives), which an ``EventSource`` ignores."""

    #: What follows the colon, unstripped (``""`` for a bare ``:``).
    text: str
    received_at: float


SSERecord = SSEEvent | SSEComment


class SSEParser:
    """Incremental event-stream parser; feed it bytes as they arrive."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._started = False
        #: A CR ended the previous chunk: a LF starting the next one is its pair.
        self._after_cr = False
        self._data: list[str] = []
        self._type = ""
        self._id_field: str | None = None
        #: The last event ID buffer and the reconnection time, as the stream set them.
        self.last_event_id = ""
        self.retry: int | None = None

    def feed(self, data: bytes, now: float | None = None) -> list[SSERecord]:
        """Parse a chunk; the events and comments it completed, in order."""
        stamp = time.monotonic() if now is None else now
        text = self._decoder.decode(data)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._after_cr and text:
            self._after_cr = False
            text = text.removeprefix("\n")
        self._buffer += text
        records: list[SSERecord] = []
        start = 0
        for match in _LINE_END.finditer(self._buffer):
            line = self._buffer[start : match.start()]
            start = match.end()
            if match.group() == "\r" and start == len(self._buffer):
                self._after_cr = True
            record = self._line(line, stamp)
            if record is not None:
                records.append(record)
        self._buffer = self._buffer[start:]
        return records

    def _line(self, line: str, stamp: float) -> SSERecord | None:
        if not line:
            return self._dispatch(stamp)
        if line.startswith(":"):
            return SSEComment(line[1:], stamp)
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
                self._id_field = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self, stamp: float) -> SSEEvent | None:
        data, event_type, id_field = self._data, self._type, self._id_field
        self._data, self._type, self._id_field = [], "", None
        if not data:
            return None
        return SSEEvent(
            event_type or "message",
            "\n".join(data),
            self.last_event_id,
            id_field,
            stamp,
            retry=self.retry,
        )


class _Records:
    """What one connection received so far; the part both clients share."""

    def __init__(self) -> None:
        self.parser = SSEParser()
        self.events: list[SSEEvent] = []
        self.comments: list[SSEComment] = []
        self.body = bytearray()
        #: When the first body byte arrived (monotonic), if it did.
        self.first_byte_at: float | None = None
        self.eof = False
        self.error: BaseException | None = None

    def add(self, chunk: bytes, now: float) -> list[SSERecord]:
        if self.first_byte_at is None:
            self.first_byte_at = now
        self.body += chunk
        records = self.parser.feed(chunk, now)
        for record in records:
            if isinstance(record, SSEEvent):
                self.events.append(record)
            else:
                self.comments.append(record)
        return records

    @property
    def retry(self) -> int | None:
        return self.parser.retry


def _missing(
    what: str, timeout: float, url: str, status: int | None, records: _Records
) -> str:
    """Why a wait failed, with what the connection did receive."""
    why = (
        f"the stream ended ({records.error!r})"
        if records.eof
        else f"not within {timeout}s"
    )
    return (
        f"{what} not seen on {url}: {why}; status {status}, "
        f"{len(records.events)} events, body so far {bytes(records.body[-300:])!r}"
    )


def _request_headers(
    headers: Mapping[str, str] | None,
    cookies: Mapping[str, str] | None,
    last_event_id: str | None,
) -> dict[str, str]:
    """What an ``EventSource`` sends, plus the test's own headers."""
    send = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if cookies:
        send["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if last_event_id is not None:
        send["Last-Event-ID"] = last_event_id
    send.update(headers or {})
    return send


class _Received:
    """What both clients tell about their response, from their records."""

    _records: _Records
    #: The response headers in order, duplicates kept.
    header_list: list[tuple[str, str]]

    @property
    def retry(self) -> int | None:
        return self._records.retry

    @property
    def eof(self) -> bool:
        return self._records.eof

    @property
    def error(self) -> BaseException | None:
        """Why the stream ended, if not cleanly (e.g. cut mid-chunk)."""
        return self._records.error

    @property
    def first_byte_at(self) -> float | None:
        return self._records.first_byte_at

    def header(self, name: str) -> str | None:
        """A response header (the first of that name), case-insensitively."""
        for key, value in self.header_list:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def headers(self) -> dict[str, str]:
        """The response headers by lower-case name (last one wins)."""
        return {k.lower(): v for k, v in self.header_list}


class SSEClient(_Received):
    """One raw SSE connection with a reader thread and bounded waits.

    ``connect()`` returns once the status line and headers are in, whatever
    the status: a test of a 403 reads :attr:`status` and :attr:`body`. Events
    are parsed from any body, so a test can also see what a browser would
    refuse to (a wrong ``Content-Type``).
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        last_event_id: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"SSEClient takes a plain http:// URL, not {url!r}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or 80
        self.target = urllib.parse.urlunsplit(
            ("", "", parts.path or "/", parts.query, "")
        )
        self.request_headers = _request_headers(headers, cookies, last_event_id)
        self.timeout = timeout
        self.status: int | None = None
        self.reason = ""
        #: The response headers in order, duplicates kept.
        self.header_list: list[tuple[str, str]] = []
        self.opened_at: float | None = None
        self.head_at: float | None = None
        self._records = _Records()
        self._cond = threading.Condition()
        self._conn: http.client.HTTPConnection | None = None
        self._sock: socket.socket | None = None
        self._response: http.client.HTTPResponse | None = None
        self._reader: threading.Thread | None = None
        self._closing = False

    # -------------------------------------------------------------- state

    @property
    def events(self) -> list[SSEEvent]:
        with self._cond:
            return list(self._records.events)

    @property
    def comments(self) -> list[SSEComment]:
        with self._cond:
            return list(self._records.comments)

    @property
    def body(self) -> bytes:
        with self._cond:
            return bytes(self._records.body)

    # ---------------------------------------------------------- lifecycle

    def connect(self) -> SSEClient:
        """Send the request and wait for the response head (``timeout``).

        Idempotent while open (``with SSEClient(url) as c`` has connected
        already); after :meth:`close` make a new client to reconnect.
        """
        if self._conn is not None:
            if self._closing:
                raise RuntimeError("SSEClient was closed; make a new one to reconnect")
            return self
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self._conn = conn
        self.opened_at = time.monotonic()
        has_host = any(k.lower() == "host" for k in self.request_headers)
        try:
            conn.putrequest(
                "GET", self.target, skip_host=has_host, skip_accept_encoding=True
            )
            for name, value in self.request_headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            # http.client forgets the socket of a "Connection: close" answer;
            # close() needs it to interrupt the reader.
            self._sock = conn.sock
            response = conn.getresponse()
        except BaseException:
            self._close_socket()
            conn.close()
            raise
        self.head_at = time.monotonic()
        self._response = response
        self.status, self.reason = response.status, response.reason
        self.header_list = response.getheaders()
        if self._sock is not None:
            # Idle streams are normal; waits carry their own timeouts.
            self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._response is not None
        error: BaseException | None = None
        try:
            while True:
                chunk = self._response.read1(65536)
                if not chunk:
                    break
                now = time.monotonic()
                with self._cond:
                    self._records.add(chunk, now)
                    self._cond.notify_all()
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if not self._closing:
                error = exc
        with self._cond:
            self._records.eof = True
            self._records.error = error
            self._cond.notify_all()

    def close(self) -> None:
        """Drop the connection (from any thread) and wait for the reader."""
        self._closing = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        if self._reader is not None:
            self._reader.join(5)
        if self._response is not None:
            self._response.close()
        self._close_socket()
        if self._conn is not None:
            self._conn.close()

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> SSEClient:
        return self if self._conn is not None else self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- waits

    def _wait(
        self, predicate: Callable[[], Any], timeout: float | None, what: str
    ) -> Any:
        """Wait for ``predicate``; fail at the timeout, or at once if the
        stream ended without it (nothing more can arrive)."""
        limit = self.timeout if timeout is None else timeout
        with self._cond:
            self._cond.wait_for(lambda: predicate() or self._records.eof, limit)
            value = predicate()
            if not value:
                raise AssertionError(
                    _missing(what, limit, self.url, self.status, self._records)
                )
            return value

    def wait_for_events(
        self, count: int, timeout: float | None = None
    ) -> list[SSEEvent]:
        """Wait until ``count`` events have arrived; all of them so far."""
        self._wait(
            lambda: len(self._records.events) >= count, timeout, f"{count} events"
        )
        return self.events

    def wait_for_event(self, number: int = 1, timeout: float | None = None) -> SSEEvent:
        """The ``number``-th event of the stream (1-based), waiting for it."""
        return self.wait_for_events(number, timeout)[number - 1]

    def wait_for_comments(
        self, count: int = 1, timeout: float | None = None
    ) -> list[SSEComment]:
        """Wait until ``count`` comment lines have arrived."""
        self._wait(
            lambda: len(self._records.comments) >= count, timeout, f"{count} comments"
        )
        return self.comments

    def wait_for_comment(
        self, number: int = 1, timeout: float | None = None
    ) -> SSEComment:
        """The ``number``-th comment line of the stream (1-based), waiting for it."""
        return self.wait_for_comments(number, timeout)[number - 1]

    def wait_for_body(self, needle: bytes, timeout: float | None = None) -> bytes:
        """Wait until the raw body contains ``needle`` (for non-SSE answers)."""
        self._wait(
            lambda: needle in self._records.body, timeout, f"{needle!r} in the body"
        )
        return self.body

    def wait_for_eof(self, timeout: float | None = None) -> None:
        """Wait until the server ends the response or the connection drops."""
        self._wait(lambda: self._records.eof, timeout, "the end of the stream")


# ------------------------------------------------------------------ async


def client_session(**options: Any) -> aiohttp.ClientSession:
    """An aiohttp session fit for thousands of streams (call inside a loop).

    aiohttp caps a session at 100 connections by default and times whole
    requests out after five minutes; neither suits held streams.
    """
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None), **options
    )


class AsyncSSEClient(_Received):
    """One SSE connection on an aiohttp session: the async twin of :class:`SSEClient`.

    ``on_record`` is called for every event and comment as it is parsed, so a
    benchmark can note delivery times without keeping every record.
    """

    def __init__(
        self,
        url: str,
        *,
        session: aiohttp.ClientSession,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        last_event_id: str | None = None,
        on_record: Callable[[AsyncSSEClient, SSERecord], None] | None = None,
        keep_records: bool = True,
    ) -> None:
        self.url = url
        self.session = session
        self.request_headers = _request_headers(headers, cookies, last_event_id)
        self.on_record = on_record
        self.keep_records = keep_records
        self.status: int | None = None
        self.header_list: list[tuple[str, str]] = []
        self.opened_at: float | None = None
        self.head_at: float | None = None
        self._records = _Records()
        self._changed = asyncio.Event()
        self._response: aiohttp.ClientResponse | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def events(self) -> list[SSEEvent]:
        return self._records.events

    @property
    def comments(self) -> list[SSEComment]:
        return self._records.comments

    @property
    def body(self) -> bytes:
        return bytes(self._records.body)

    async def connect(self, timeout: float = 10.0) -> AsyncSSEClient:
        """Send the request and wait (``timeout``) for the response head."""
        self.opened_at = time.monotonic()
        response = await asyncio.wait_for(
            self.session.get(
                self.url,
                headers=self.request_headers,
                skip_auto_headers=("Accept-Encoding",),
            ),
            timeout,
        )
        self.head_at = time.monotonic()
        self._response = response
        self.status = response.status
        self.header_list = list(response.headers.items())
        self._task = asyncio.ensure_future(self._read(response))
        return self

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        try:
            async for chunk in response.content.iter_any():
                now = time.monotonic()
                if not self.keep_records:
                    self._records.body.clear()
                records = self._records.add(chunk, now)
                if not self.keep_records:
                    self._records.events.clear()
                    self._records.comments.clear()
                self._changed.set()
                if self.on_record is not None:
                    for record in records:
                        self.on_record(self, record)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._records.error = exc
        finally:
            self._records.eof = True
            self._changed.set()

    async def _wait(
        self, predicate: Callable[[], bool], timeout: float, what: str
    ) -> None:
        """As :meth:`SSEClient._wait`: fail at the timeout or at the end of
        the stream, whichever comes first without ``predicate``."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._records.eof:
                raise AssertionError(
                    _missing(what, timeout, self.url, self.status, self._records)
                )
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_for_events(
        self, count: int, timeout: float = 10.0
    ) -> list[SSEEvent]:
        await self._wait(
            lambda: len(self._records.events) >= count, timeout, f"{count} events"
        )
        return self.events

    async def wait_for_event(self, number: int = 1, timeout: float = 10.0) -> SSEEvent:
        return (await self.wait_for_events(number, timeout))[number - 1]

    async def wait_for_comments(
        self, count: int = 1, timeout: float = 10.0
    ) -> list[SSEComment]:
        await self._wait(
            lambda: len(self._records.comments) >= count, timeout, f"{count} comments"
        )
        return self.comments

    async def wait_for_comment(
        self, number: int = 1, timeout: float = 10.0
    ) -> SSEComment:
        return (await self.wait_for_comments(number, timeout))[number - 1]

    async def wait_for_eof(self, timeout: float = 10.0) -> None:
        await self._wait(lambda: self._records.eof, timeout, "the end of the stream")

    async def close(self) -> None:
        """Drop the connection and wait for the reader task to end."""
        if self._response is not None:
            self._response.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def connect_many(
    urls: Iterable[str],
    *,
    session: aiohttp.ClientSession,
    concurrency: int = 50,
    timeout: float = 30.0,
    **options: Any,
) -> list[AsyncSSEClient]:
    """Open one :class:`AsyncSSEClient` per URL, ``concurrency`` at a time.

    Bounded, because Pushpin answers 502 when a few hundred new streams are
    in flight at once (its queue to zurl holds 100 requests). Raises on the
    first failure, after closing the clients already open.
    """
    gate = asyncio.Semaphore(concurrency)
    clients: list[AsyncSSEClient] = []

    async def one(url: str) -> AsyncSSEClient:
        async with gate:
            client = AsyncSSEClient(url, session=session, **options)
            clients.append(client)
            return await client.connect(timeout)

    try:
        return list(await asyncio.gather(*(one(url) for url in urls)))
    except BaseException:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        raise


# ------------------------------------------------------------- raw asyncio


class RawSSEStream(asyncio.Protocol):
    """One SSE GET on a bare asyncio socket: the cheapest client that still
    reads the wire properly, so one process can hold thousands of streams.

    :class:`AsyncSSEClient` costs an aiohttp response per stream; this costs a
    transport, an :class:`SSEParser` and a few fields. It writes the GET
    itself, reads the status line and headers, undoes chunked framing, and
    hands each :class:`SSEEvent` to ``on_event`` as it is parsed (comments
    are dropped). It keeps no records: what to remember is the caller's call.
    Open one with :func:`open_raw_stream`.
    """

    def __init__(
        self,
        request: bytes,
        on_event: Callable[[RawSSEStream, SSEEvent], None] | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        #: The status, once the head is in; 0 when the connection ended first.
        self.head: asyncio.Future[int] = loop.create_future()
        #: The first event (a stream's ``ready``); None if the stream ended first.
        self.first_event: asyncio.Future[SSEEvent | None] = loop.create_future()
        #: Done when the connection is gone, whoever ended it.
        self.closed: asyncio.Future[None] = loop.create_future()
        self.status: int | None = None
        #: For a non-200 answer, the part of its body that came with the head.
        self.refusal = b""
        self.events = 0
        self.error: BaseException | None = None
        self._request = request
        self._on_event = on_event
        self._parser = SSEParser()
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._in_head = True
        self._chunked = False
        #: Body bytes left in the current chunk; then the CRLF after it.
        self._chunk_left = 0
        self._skip = 0

    @property
    def retry(self) -> int | None:
        """The reconnection time the stream set with ``retry:``, if it did."""
        return self._parser.retry

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._in_head:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            del self._buffer[: end + 4]
            self._in_head = False
            try:
                self.status = int(head[0].split(" ", 2)[1])
            except (IndexError, ValueError):
                self.status = 0
            self._chunked = any(
                line.lower().replace(" ", "") == "transfer-encoding:chunked"
                for line in head[1:]
            )
            if not self.head.done():
                self.head.set_result(self.status)
            if self.status != 200:
                self.refusal = bytes(self._buffer)
                self.close()
                return
        if self._chunked:
            self._dechunk()
        elif self._buffer:
            self._feed(bytes(self._buffer))
            self._buffer.clear()

    def _dechunk(self) -> None:
        buffer = self._buffer
        while buffer:
            if self._skip:
                taken = min(self._skip, len(buffer))
                del buffer[:taken]
                self._skip -= taken
            elif self._chunk_left:
                taken = min(self._chunk_left, len(buffer))
                self._feed(bytes(buffer[:taken]))
                del buffer[:taken]
                self._chunk_left -= taken
                if not self._chunk_left:
                    self._skip = 2
            else:
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(buffer[:end]).split(b";")[0] or b"0", 16)
                del buffer[: end + 2]
                if size == 0:  # the last chunk: the stream ended cleanly
                    self.close()
                    return
                self._chunk_left = size

    def _feed(self, data: bytes) -> None:
        for record in self._parser.feed(data):
            if isinstance(record, SSEEvent):
                self.events += 1
                if not self.first_event.done():
                    self.first_event.set_result(record)
                if self._on_event is not None:
                    self._on_event(self, record)

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)

    def _ended(self, exc: BaseException | None) -> None:
        self.error = self.error or exc
        if self.status is None:
            self.status = 0
        if not self.head.done():
            self.head.set_result(self.status)
        if not self.first_event.done():
            self.first_event.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        """Drop the connection (``closed`` resolves once it is gone)."""
        if self._transport is not None:
            self._transport.close()


async def open_raw_stream(
    url: str,
    on_event: Callable[[RawSSEStream, SSEEvent], None] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> RawSSEStream:
    """Connect a :class:`RawSSEStream` to ``url`` and wait for the response head.

    Always returns the stream, never raises for the network: check
    :attr:`RawSSEStream.status` (200, another status, or 0 when the
    connection was refused, reset, or gave no head within ``timeout``).
    """
    parts = urllib.parse.urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {parts.netloc}",
        *(
            f"{name}: {value}"
            for name, value in _request_headers(headers, None, None).items()
        ),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    loop = asyncio.get_running_loop()
    stream = RawSSEStream(request, on_event)
    try:
        await asyncio.wait_for(
            loop.create_connection(
                lambda: stream, parts.hostname or "127.0.0.1", parts.port or 80
            ),
            timeout,
        )
        await asyncio.wait_for(asyncio.shield(stream.head), timeout)
    except (TimeoutError, OSError) as exc:
        # No head in time, or no connection at all: nothing more will come.
        stream.close()
        stream._ended(exc)
    return stream
