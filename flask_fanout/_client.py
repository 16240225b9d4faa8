"""One POST of a batch to one publish endpoint.

:class:`PublishClient` signs the request, sends the body and describes any
failure as a :class:`~flask_fanout.PublishError` that names the endpoint and
never contains a secret. It is what the background sender and blocking
publishes use, and what ``flask fanout check`` drives through
:meth:`FanoutExt.check <flask_fanout.FanoutExt.check>`.

Why ``http.client`` and not ``requests``: ``FANOUT_TIMEOUT`` must bound the
*whole* request. requests (and urllib3 under it) apply their timeout to each
socket operation, so an endpoint that drips one byte a second, in its headers
or its body, holds a publish for as long as it likes, and with it the
sender and every hint queued behind it. Here the socket itself knows the
request's deadline and gives every read and write only the time that is left
(:class:`_DeadlineSocket`). The price is that publishes do not go through an
``HTTPS_PROXY``; the endpoints (a GRIP proxy on the private network, Fastly's
or Fanout's API) are reached directly.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
import socket
import ssl
import time
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple
from urllib.parse import urlsplit

from ._errors import PublishError
from ._jwt import sign_hs256

#: Most bytes of an answer that are read. Enough for any error message or
#: the local realm's counts; an endpoint (or a proxy's error page) answering
#: with megabytes costs nothing more than this.
MAX_ANSWER = 8192
#: Characters of an endpoint's message kept in a PublishError.
MAX_MESSAGE = 300

_JWT_SHAPED = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
#: Shortest run of a secret that counts as leaking it.
_FRAGMENT = 8


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where one backend publishes, and how the request is authenticated.

    :param name: How the endpoint is shown in messages: its URL, no secrets.
    :param url: The full publish URL (ending in ``/publish/``).
    :param iss: With ``key``: sign an HS256 JWT ``{"iss", "exp"}``.
    :param key: The JWT key (bytes), or without ``iss`` a bearer token (str).
    """

    name: str
    url: str
    iss: str | None = None
    key: bytes | str | None = dataclasses.field(default=None, repr=False)
    #: Added to "connection refused" errors (how to start the local realm).
    unreachable_hint: str = ""

    def auth(self) -> tuple[dict[str, str], list[str]]:
        """The request's auth header, and the secrets it holds (for redaction)."""
        if self.key is None:
            return {}, []
        if self.iss is not None:
            key = self.key if isinstance(self.key, bytes) else self.key.encode()
            token = sign_hs256(self.iss, key)
            return {"Authorization": f"Bearer {token}"}, [token]
        token = self.key if isinstance(self.key, str) else self.key.decode()
        return {"Authorization": f"Bearer {token}"}, [token]


class Delivered(NamedTuple):
    """An endpoint accepted a batch.

    :param status: The HTTP status (2xx).
    :param receivers: How many subscribers the endpoint says it reached, when
        it says (the local realm does; Pushpin and Fastly do not).
    """

    status: int
    receivers: int | None


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every JWT-shaped run and every fragment of a secret hidden.

    An endpoint, or a proxy's error page, may echo the request: whole, line
    wrapped, or split into the token's parts. Any run of eight or more
    characters of a secret is replaced, wherever it appears.
    """
    text = _JWT_SHAPED.sub("<token>", text)
    hidden = bytearray(len(text))
    for secret in secrets:
        for start in range(max(0, len(secret) - _FRAGMENT + 1)):
            piece = secret[start : start + _FRAGMENT]
            at = text.find(piece)
            while at >= 0:
                hidden[at : at + _FRAGMENT] = b"\1" * _FRAGMENT
                at = text.find(piece, at + 1)
    if not any(hidden):
        return text
    out: list[str] = []
    for index, char in enumerate(text):
        if not hidden[index]:
            out.append(char)
        elif index == 0 or not hidden[index - 1]:
            out.append("<redacted>")
    return "".join(out)


class _Deadline(Exception):
    """The request's deadline passed (raised by the socket)."""


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Deadline
    return left


class _DeadlineSocket(socket.socket):
    """A socket whose every wait is bounded by the current request's deadline."""

    deadline = float("inf")

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self.settimeout(_remaining(self.deadline))
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        # Since Python 3.5 the timeout bounds the whole sendall.
        self.settimeout(_remaining(self.deadline))
        super().sendall(data, flags)


class _DeadlineSSLSocket(ssl.SSLSocket):
    deadline = float("inf")

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        self.settimeout(_remaining(self.deadline))
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self.settimeout(_remaining(self.deadline))
        super().sendall(data, flags)


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.sslsocket_class = _DeadlineSSLSocket
    return context


class _Connection(http.client.HTTPConnection):
    """An HTTP(S) connection made of deadline-bound sockets."""

    def __init__(self, scheme: str, host: str, port: int | None) -> None:
        super().__init__(host, port)
        self.tls = _tls_context() if scheme == "https" else None
        if self.tls is not None and port is None:
            self.port = 443
        self.deadline = float("inf")

    def connect(self) -> None:
        raw = socket.create_connection(
            (self.host, self.port), _remaining(self.deadline)
        )
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = _DeadlineSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
        sock.deadline = self.deadline
        if self.tls is None:
            self.sock = sock
            return
        sock.settimeout(_remaining(self.deadline))  # for the TLS handshake
        tls = self.tls.wrap_socket(sock, server_hostname=self.host)
        assert isinstance(tls, _DeadlineSSLSocket)
        tls.deadline = self.deadline
        self.sock = tls

    def arm(self, deadline: float) -> None:
        self.deadline = deadline
        if isinstance(self.sock, _DeadlineSocket | _DeadlineSSLSocket):
            self.sock.deadline = deadline


class PublishClient:
    """POSTs batches to one endpoint over one keep-alive connection.

    Not thread-safe: every thread that sends has its own (the sender's
    thread, and a small pool for blocking publishes).

    :param endpoint: where to publish.
    :param timeout: ``FANOUT_TIMEOUT``, the bound on a whole request.
    """

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        parts = urlsplit(endpoint.url)
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = parts.path or "/"
        self._conn: _Connection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, body: bytes, channels: Sequence[str]) -> Delivered:
        """Send one batch; return what the endpoint said.

        :raises PublishError: naming the endpoint, with its status when it
            answered and a secret-free message.
        """
        headers, secrets = self.endpoint.auth()
        headers["Content-Type"] = "application/json"
        phase = "connecting"
        deadline = time.monotonic() + self.timeout
        try:
            # A kept-alive connection the server has since closed fails on
            # the first try without having sent anything; one retry on a
            # fresh connection covers it.
            for attempt in (1, 2):
                conn = self._connection()
                conn.arm(deadline)
                try:
                    phase = "connecting" if conn.sock is None else "sending"
                    conn.request("POST", self._path, body=body, headers=headers)
                    phase = "waiting for the answer's headers"
                    response = conn.getresponse()
                    break
                except (
                    http.client.RemoteDisconnected,
                    BrokenPipeError,
                    ConnectionResetError,
                ) as exc:
                    self.close()
                    if attempt == 2 or phase == "connecting":
                        raise exc
            phase = "reading the answer"
            data = response.read(MAX_ANSWER)
            if not response.isclosed():
                # Longer than we read, or never ending: do not reuse it.
                self.close()
            elif response.will_close:
                self.close()
        except _Deadline:
            self.close()
            raise PublishError(
                None,
                f"no complete answer from {self.endpoint.name} within "
                f"{self.timeout:g} s (FANOUT_TIMEOUT) while {phase}",
                channels,
                endpoint=self.endpoint.name,
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise PublishError(
                None,
                self._describe(exc, phase),
                channels,
                endpoint=self.endpoint.name,
            ) from None
        return self._interpret(response, data, secrets, channels)

    def _connection(self) -> _Connection:
        if self._conn is None:
            self._conn = _Connection(self._scheme, self._host, self._port)
        return self._conn

    def _describe(self, exc: BaseException, phase: str) -> str:
        name = self.endpoint.name
        if isinstance(exc, ConnectionRefusedError):
            hint = self.endpoint.unreachable_hint
            return f"cannot reach {name}: Connection refused{hint}"
        if isinstance(exc, socket.gaierror):
            return (
                f"cannot reach {name}: the host name does not resolve ({exc.strerror})"
            )
        if isinstance(exc, ssl.SSLError):
            return f"TLS failed with {name}: {exc.reason or exc}"
        if isinstance(exc, TimeoutError):
            return (
                f"no complete answer from {name} within {self.timeout:g} s "
                f"(FANOUT_TIMEOUT) while {phase}"
            )
        if isinstance(exc, http.client.IncompleteRead | http.client.RemoteDisconnected):
            return f"{name} closed the connection while {phase}"
        if isinstance(exc, http.client.HTTPException):
            return f"{name} sent a malformed answer while {phase}: {type(exc).__name__}"
        reason = (
            exc.strerror
            if isinstance(exc, OSError) and exc.strerror
            else type(exc).__name__
        )
        return f"cannot reach {name} while {phase}: {reason}"

    def _interpret(
        self,
        response: http.client.HTTPResponse,
        data: bytes,
        secrets: Sequence[str],
        channels: Sequence[str],
    ) -> Delivered:
        status = response.status
        name = self.endpoint.name
        if 200 <= status < 300:
            return Delivered(status, _receivers(data))
        if 300 <= status < 400:
            location = redact(response.getheader("Location", "?"), secrets)
            message = f"redirected to {location}; point the setting at the target"
        else:
            text = data.decode("utf-8", "replace")
            text = " ".join(redact(text, secrets).split())
            message = text[:MAX_MESSAGE] or response.reason or "(empty body)"
        raise PublishError(status, message, channels, endpoint=name)


def _receivers(data: bytes) -> int | None:
    """The subscriber count in an answer like the local realm's ``{"delivered": N}``."""
    if not data.startswith(b"{"):
        return None
    try:
        value = json.loads(data).get("delivered")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
