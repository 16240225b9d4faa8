"""Forwarding a browser's stream request to the app, as Pushpin does.

The stand-in sends the app (the *origin*) the browser's request line and
headers, cookies included, so that the app's stream view, its ``Grip-Sig``
check and its authorizer see what they would see behind Pushpin. Like
Pushpin (1.36, ``src/proxy/proxyutil.cpp``), it drops the headers that only
describe the browser's hop (``Connection`` and the headers it names,
``Keep-Alive``, ``Transfer-Encoding``, ``Expect``), ``Accept-Encoding`` and
``Content-Encoding`` (so the app never compresses a body the proxy appends
to), and every ``Grip-*`` header the browser sent, so that no page can forge
an instruction or a signature; then it adds:

* ``Grip-Sig``: an HS256 JWT ``{"iss": <realm id>, "exp": now + 3600}``
  signed with the realm key, what Pushpin makes from ``sig_iss`` and
  ``sig_key``;
* ``Grip-Feature``: the GRIP features the stand-in implements. Pushpin lists
  ``status, session, link:next`` and its filters; the stand-in lists only
  ``status``, so an app that adapts to the proxy's features never relies on
  one that is not there.

The whole answer is read, within :attr:`~._limits.Limits.origin_timeout`
and :attr:`~._limits.Limits.max_origin_body`, before anything is sent on:
the stream view answers at once with a short body, and the realm is not a
general reverse proxy.
"""

from __future__ import annotations

import dataclasses
import threading
import urllib.parse

import aiohttp
import jwt
import yarl
from aiohttp import web
from multidict import CIMultiDict

from flask_fanout import _jwt
from flask_fanout.realm._limits import Limits

#: What the stand-in implements of the features a GRIP proxy announces.
GRIP_FEATURES = "status"

#: Headers about one hop of the connection (RFC 9110 §7.6.1), never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Request headers that describe the browser's hop, or that the app must not
#: see (Pushpin drops the same ones).
_DROPPED_REQUEST = _HOP_BY_HOP | {
    "expect",
    "content-length",
    "accept-encoding",
    "content-encoding",
}
#: Answer headers that describe the app's hop: the realm frames its own.
_DROPPED_ANSWER = _HOP_BY_HOP | {"content-length"}


def check_origin(url: str) -> str:
    """The app's base URL, normalised (no trailing slash), or a ``ValueError``.

    Only ``scheme://host[:port]``: the browser's path and query are
    forwarded unchanged, as Pushpin's routes do, so a path here would be
    silently ignored or doubled.
    """
    if not isinstance(url, str):
        raise ValueError(f"origin must be a URL string, got {type(url).__name__}")
    try:
        parts = urllib.parse.urlsplit(url.strip())
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ValueError(f"origin {url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"origin {url!r} must be an http:// or https:// URL with a host, "
            "such as http://127.0.0.1:5000"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"origin {url!r} must have no path, query or fragment: the browser's "
            "path and query are forwarded as they are"
        )
    if parts.username or parts.password:
        raise ValueError(f"origin {url!r} must not carry credentials")
    return f"{parts.scheme}://{parts.netloc}"


class OriginError(Exception):
    """The app gave no usable answer; the message says why (for a 502)."""


@dataclasses.dataclass(frozen=True)
class OriginAnswer:
    """The app's whole answer to one forwarded request."""

    status: int
    reason: str
    #: Every header as received, in order (``Grip-*`` included).
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def content_type(self) -> str:
        for name, value in self.headers:
            if name.lower() == "content-type":
                return value.partition(";")[0].strip().lower()
        return ""

    def browser_headers(self) -> CIMultiDict[str]:
        """The headers the browser may see: no hop-by-hop, no ``Grip-*``."""
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in self.headers:
            lower = name.lower()
            if lower in _DROPPED_ANSWER or lower.startswith("grip-"):
                continue
            headers.add(name, value)
        return headers


class Forwarder:
    """The stand-in's link to the app: where it is, and how to ask it.

    :meth:`set_origin` may be called from any thread (the embedded realm
    learns the app's address from the app's first request, on a request
    thread); everything else runs on the realm's event loop.
    """

    def __init__(
        self, realm_id: str, key: bytes, limits: Limits, origin: str | None
    ) -> None:
        self.realm_id = realm_id
        self._key = key
        self.limits = limits
        self._origin = origin
        self._lock = threading.Lock()
        self._client: aiohttp.ClientSession | None = None

    @property
    def origin(self) -> str | None:
        with self._lock:
            return self._origin

    def set_origin(self, url: str | None) -> None:
        """Forward to ``url`` from now on (``None``: to nowhere).

        :raises ValueError: naming what is wrong with ``url``.
        """
        checked = None if url is None else check_origin(url)
        with self._lock:
            self._origin = checked

    # -- signatures -----------------------------------------------------------

    def sign(self) -> str:
        """A fresh ``Grip-Sig``."""
        return _jwt.sign_hs256(self.realm_id, self._key)

    def signed_by_us(self, token: str) -> bool:
        """Whether ``token`` is a valid ``Grip-Sig`` of this realm.

        A request carrying one has come through this realm already: its
        origin is the realm itself, and forwarding it again would loop.
        """
        try:
            _jwt.decode(token, self._key, "HS256", issuer=self.realm_id)
        except jwt.PyJWTError:
            return False
        return True

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        """Open the connection pool (call on the realm's loop)."""
        self._client = aiohttp.ClientSession(
            # A fresh connection per request: one the app has closed while it
            # sat idle in a pool would turn the next stream request into a 502.
            connector=aiohttp.TCPConnector(
                limit=self.limits.max_origin_requests, force_close=True
            ),
            timeout=aiohttp.ClientTimeout(total=self.limits.origin_timeout),
            # One browser's cookies must never be kept and sent for another.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
            trust_env=False,
        )

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    # -- forwarding ---------------------------------------------------------------

    def _headers(self, request: web.Request) -> CIMultiDict[str]:
        named = {
            token.strip().lower()
            for value in request.headers.getall("Connection", [])
            for token in value.split(",")
        }
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in request.headers.items():
            lower = name.lower()
            if lower in _DROPPED_REQUEST or lower in named or lower.startswith("grip-"):
                continue
            headers.add(name, value)
        headers["Grip-Sig"] = self.sign()
        headers["Grip-Feature"] = GRIP_FEATURES
        return headers

    async def fetch(self, request: web.Request, origin: str) -> OriginAnswer:
        """Ask the app at ``origin`` what to do with ``request``.

        :raises OriginError: the app is unreachable, too slow, or its answer
            is too large.
        """
        client = self._client
        if client is None:
            raise OriginError("the realm is shutting down")
        limit = self.limits.max_origin_body
        target = request.raw_path
        if not target.startswith("/"):  # an absolute-form request target
            target = request.rel_url.raw_path_qs
        url = yarl.URL(origin + target, encoded=True)
        try:
            async with client.get(
                url, headers=self._headers(request), allow_redirects=False
            ) as answer:
                chunks: list[bytes] = []
                size = 0
                async for chunk in answer.content.iter_any():
                    size += len(chunk)
                    if size > limit:
                        raise OriginError(
                            f"the app's answer is larger than {limit} bytes "
                            "(--max-origin-body)"
                        )
                    chunks.append(chunk)
                return OriginAnswer(
                    answer.status,
                    answer.reason or "",
                    tuple(answer.headers.items()),
                    b"".join(chunks),
                )
        except TimeoutError:
            raise OriginError(
                f"the app at {origin} did not answer within "
                f"{self.limits.origin_timeout:g} s (--origin-timeout)"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or str(exc.os_error)
            raise OriginError(
                f"cannot connect to the app at {origin}: {reason}"
            ) from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise OriginError(f"no answer from the app at {origin}: {what}") from None
