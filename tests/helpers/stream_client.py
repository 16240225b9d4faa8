"""A raw HTTP/1.1 streaming client that records SSE events with timestamps.

``curl -N`` in Python: one socket, the request written by hand, the answer
read by a background thread and parsed as it arrives (status line,
headers, chunked / ``Content-Length`` / read-to-close bodies, then
``text/event-stream`` with :class:`tests.helpers.sse.SSEParser`).
Unlike :class:`tests.helpers.sse.SSEClient` it writes the request itself, so
it can send any method, HTTP/1.0, or a receive buffer too small to keep
up. Every event and comment keeps the ``time.monotonic()`` of the read that
completed it, so tests can check keep-alive timing and measure delivery
latency, and wait on conditions rather than sleep.

``read=False`` opens the stream and never reads it (with a small receive
buffer): a client that stopped reading, for slow-reader tests.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from tests.helpers.sse import SSEComment
from tests.helpers.sse import SSEEvent
from tests.helpers.sse import SSEParser


class StreamClient:
    """One GET (or other method) whose answer is recorded as it streams in."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        *,
        method: str = "GET",
        read: bool = True,
        http10: bool = False,
        rcvbuf: int | None = None,
        timeout: float = 10.0,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname is not None and parts.port is not None, url
        self.url = url
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        pairs = (
            list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        )
        names = {name.lower() for name, _ in pairs}
        if "host" not in names:
            pairs.insert(0, ("Host", parts.netloc))
        if "accept" not in names:
            pairs.append(("Accept", "text/event-stream"))
        version = "HTTP/1.0" if http10 else "HTTP/1.1"
        request = f"{method} {target} {version}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in pairs
        )
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((parts.hostname, parts.port))
        self.sock.sendall((request + "\r\n").encode("latin-1"))
        self.sent_at = time.monotonic()

        self.status: int | None = None
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.events: list[SSEEvent] = []
        self.comments: list[SSEComment] = []
        #: The body ended as its framing says (last chunk, Content-Length).
        self.ended_cleanly = False
        #: The reader stopped: clean end, connection closed or reset.
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._buffer = b""
        self._parser = SSEParser()
        self._thread: threading.Thread | None = None
        if read:
            self.sock.settimeout(None)
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()

    # -- reading -----------------------------------------------------------

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            self._buffer += self._recv()
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._buffer += self._recv()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _read(self) -> None:
        try:
            status_line = self._line().decode("latin-1")
            _, status, *reason = status_line.split(" ", 2)
            headers = []
            while line := self._line():
                name, _, value = line.decode("latin-1").partition(":")
                headers.append((name.strip(), value.strip()))
            with self._cond:
                self.status, self.reason = int(status), (reason or [""])[0]
                self.headers = headers
                self._cond.notify_all()
            if self.status in (204, 304) or 100 <= self.status < 200:
                self.ended_cleanly = True
            elif (self.header("Transfer-Encoding") or "").lower() == "chunked":
                self._read_chunked()
            elif self.header("Content-Length") is not None:
                self._feed(self._exactly(int(self.header("Content-Length") or 0)))
                self.ended_cleanly = True
            else:
                if self._buffer:
                    self._feed(self._buffer)
                    self._buffer = b""
                while True:
                    self._feed(self._recv())
        except (EOFError, OSError) as exc:
            if not isinstance(exc, EOFError):
                self.error = exc
        finally:
            with self._cond:
                self.finished.set()
                self._cond.notify_all()

    def _read_chunked(self) -> None:
        while True:
            size = int(self._line().split(b";")[0], 16)
            if size == 0:
                while self._line():
                    pass  # trailers
                self.ended_cleanly = True
                return
            self._feed(self._exactly(size))
            self._exactly(2)

    def _feed(self, data: bytes) -> None:
        now = time.monotonic()
        with self._cond:
            self.body += data
            for record in self._parser.feed(data, now):
                if isinstance(record, SSEEvent):
                    self.events.append(record)
                else:
                    self.comments.append(record)
            self._cond.notify_all()

    # -- inspecting --------------------------------------------------------

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), if any."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def wait_for(
        self,
        predicate: Callable[[StreamClient], Any],
        timeout: float = 10.0,
        what: str = "",
    ) -> Any:
        """Wait until ``predicate(self)`` is truthy; fail if the stream ends first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0 or self.finished.is_set():
                    ended = "ended" if self.finished.is_set() else "timed out"
                    raise AssertionError(
                        f"stream {self.url} {ended} waiting for {what or predicate}; "
                        f"status={self.status} events={self.events[-5:]} "
                        f"comments={len(self.comments)} "
                        f"body={bytes(self.body[-300:])!r}"
                    )
                # Slices, so predicates on time (not only on data) are seen.
                self._cond.wait(min(left, 0.05))

    def wait_status(self, timeout: float = 10.0) -> int:
        status: int = self.wait_for(
            lambda c: c.status or (c.finished.is_set() and -1), timeout, "status line"
        )
        assert status != -1, f"connection closed before a status line: {self.error}"
        return status

    def wait_events(self, count: int, timeout: float = 10.0) -> list[SSEEvent]:
        self.wait_for(lambda c: len(c.events) >= count, timeout, f"{count} events")
        with self._cond:
            return list(self.events)

    def wait_finished(self, timeout: float = 10.0) -> None:
        assert self.finished.wait(timeout), f"stream {self.url} still open"

    def messages(self) -> list[str]:
        with self._cond:
            return [e.data for e in self.events if e.event == "message"]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> StreamClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
