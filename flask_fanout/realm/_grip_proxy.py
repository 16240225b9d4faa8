"""The local realm standing in for a GRIP proxy (Pushpin) in development.

With the GRIP backend and no GRIP proxy configured, the browser's stream
requests (``GET …/_fanout/events``) go to the realm, which does what Pushpin
would do with them, so the app's stream view, its ``Grip-Sig`` check, its
channel authorizer and its publishes run exactly as in production:

1. forward the request to the app (the *origin*) with the browser's request
   line and headers (cookies included), minus hop-by-hop headers,
   ``Accept-Encoding`` and any ``Grip-*`` header the client sent, plus a
   ``Grip-Sig`` (HS256, ``{"iss": <realm id>, "exp": now + 3600}``, signed
   with the realm key) and ``Grip-Feature``;
2. read the answer's GRIP headers (``_grip_instruct``): without
   ``Grip-Hold`` the answer goes back unchanged (minus ``Grip-*``);
   otherwise hold the stream or the long-poll (``_grip_holds``) until
   published items (``_grip_items``, through the publish API) end it;
3. add CORS headers for pages on the realm's own host (``_grip_cors``).

Only paths ending in ``/_fanout/events`` are proxied; the realm is not a
general reverse proxy. What Pushpin does that the stand-in does not:
``Grip-Link`` next links (reliable mode), ``application/grip-instruct``
bodies, filters, ``Grip-Set-Meta``, WebSocket-over-HTTP. Each is refused or
reported rather than silently ignored, and ``Grip-Feature`` lists only what
is implemented.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any

import aiohttp
import jwt
import yarl
from aiohttp import web
from multidict import CIMultiDict

from flask_fanout.realm import _publish_api
from flask_fanout.realm._grip_cors import add_cors
from flask_fanout.realm._grip_cors import allowed_origin
from flask_fanout.realm._grip_cors import preflight
from flask_fanout.realm._grip_holds import HOLDS_KEY
from flask_fanout.realm._grip_holds import Ended
from flask_fanout.realm._grip_holds import GripStats
from flask_fanout.realm._grip_holds import Holds
from flask_fanout.realm._grip_instruct import Instruct
from flask_fanout.realm._grip_instruct import InstructError
from flask_fanout.realm._grip_instruct import parse_instruct
from flask_fanout.realm._grip_items import ResponseFormat
from flask_fanout.realm._grip_options import check_origin
from flask_fanout.realm._keys import Settings

log = logging.getLogger("flask_fanout.realm")

#: The path every proxied request ends in (the extension's stream endpoint).
STREAM_PATH = "/_fanout/events"
#: What the stand-in implements of the features Pushpin advertises here.
GRIP_FEATURES = "status"
#: Seconds a ``Grip-Sig`` the stand-in makes stays valid (Pushpin: 3600).
SIG_LIFETIME = 3600

#: Request headers that describe the client's hop, not the request. Pushpin
#: also drops ``Accept-Encoding``, so the app never compresses a body the
#: proxy must append to.
_HOP_REQUEST = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
        "accept-encoding",
    }
)
_HOP_RESPONSE = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


class GripStandIn:
    """The stand-in's state on one realm: origin, client, holds, counters."""

    def __init__(self, settings: Settings) -> None:
        options = settings.grip
        self.realm_id = settings.realm_id
        self._key = _publish_api._hmac_equivalent_key(settings.key)
        self.limits = options.limits
        self.allowed_origins = frozenset(options.allowed_origins)
        self.stats = GripStats()
        self.holds = Holds(self.limits, self.stats)
        self._origin = options.origin
        self._origin_lock = threading.Lock()
        self._client: aiohttp.ClientSession | None = None
        self._warned: set[str] = set()

    # -- the origin ---------------------------------------------------------

    @property
    def origin(self) -> str | None:
        """The app's base URL that stream requests are forwarded to."""
        with self._origin_lock:
            return self._origin

    def set_origin(self, url: str | None) -> None:
        """Point the stand-in at the app (from any thread); ``None`` unsets it.

        :raises ValueError: naming what is wrong with ``url``.
        """
        checked = None if url is None else check_origin(url)
        with self._origin_lock:
            self._origin = checked

    # -- signing ------------------------------------------------------------

    def sign(self) -> str:
        """A fresh ``Grip-Sig``, as Pushpin makes one with ``sig_iss``/``sig_key``."""
        claims = {"iss": self.realm_id, "exp": int(time.time()) + SIG_LIFETIME}
        return jwt.encode(claims, self._key, algorithm="HS256")

    def signed_by_us(self, token: str) -> bool:
        """Whether ``token`` is a valid ``Grip-Sig`` of this realm.

        A request carrying one came through this realm already: the origin
        is the realm itself, and forwarding it again would loop.
        """
        try:
            jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=self.realm_id,
                options={"require": ["exp", "iss"]},
            )
        except jwt.PyJWTError:
            return False
        return True

    # -- lifecycle ----------------------------------------------------------

    @property
    def client(self) -> aiohttp.ClientSession:
        if self._client is None:
            raise RuntimeError("the GRIP stand-in is not started")
        return self._client

    async def startup(self, app: web.Application) -> None:
        limits = self.limits
        self._client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limits.max_origin_requests),
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=limits.origin_connect_timeout,
                sock_read=limits.origin_read_timeout,
            ),
            # One browser's cookies must never be kept and sent for another.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
            trust_env=False,
        )
        self.holds.start()

    async def shutdown(self, app: web.Application) -> None:
        await self.holds.close()

    async def cleanup(self, app: web.Application) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    def snapshot(self) -> dict[str, Any]:
        """The ``grip`` section of ``/stats``."""
        return {"origin": self.origin, **self.holds.snapshot()}

    def warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)


GRIP_KEY = web.AppKey("grip", GripStandIn)


# -- answers the stand-in makes itself ---------------------------------------


def _plain(status: int, text: str, cors: str | None) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict(
        {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    )
    add_cors(headers, cors)
    return web.Response(status=status, text=text + "\n", headers=headers)


def _bad_gateway(grip: GripStandIn, message: str, cors: str | None) -> web.Response:
    grip.stats.origin_errors += 1
    log.warning("GRIP stand-in: %s", message)
    return _plain(502, f"flask-fanout local realm: {message}", cors)


# -- forwarding ---------------------------------------------------------------


def _forward_headers(request: web.Request, grip: GripStandIn) -> CIMultiDict[str]:
    named = {
        token.strip().lower()
        for value in request.headers.getall("Connection", [])
        for token in value.split(",")
    }
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in _HOP_REQUEST or lower in named or lower.startswith("grip-"):
            continue
        headers.add(name, value)
    headers["Grip-Sig"] = grip.sign()
    headers["Grip-Feature"] = GRIP_FEATURES
    return headers


def _answer_headers(answer: aiohttp.ClientResponse) -> CIMultiDict[str]:
    """The app's headers as the browser may see them: no hop-by-hop, no Grip-*."""
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in answer.headers.items():
        lower = name.lower()
        if lower in _HOP_RESPONSE or lower.startswith("grip-"):
            continue
        headers.add(name, value)
    return headers


async def _read_limited(answer: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or ``None`` once it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _pass_through(
    request: web.Request,
    answer: aiohttp.ClientResponse,
    grip: GripStandIn,
    cors: str | None,
) -> web.StreamResponse:
    grip.stats.passed_through += 1
    response = web.StreamResponse(status=answer.status, reason=answer.reason)
    headers = _answer_headers(answer)
    add_cors(headers, cors)
    response.headers.extend(headers)
    if answer.content_length is not None:
        response.content_length = answer.content_length
    await response.prepare(request)
    try:
        async for chunk in answer.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
    except ConnectionError:
        pass  # the client left
    except (TimeoutError, aiohttp.ClientError) as exc:
        # The headers are out: all that can still be said is "incomplete".
        grip.stats.origin_errors += 1
        log.warning("GRIP stand-in: the app's answer broke off: %r", exc)
        if request.transport is not None:
            request.transport.abort()
    return response


async def events(request: web.Request) -> web.StreamResponse:
    """``GET …/_fanout/events``: forward to the app and do what it says."""
    grip = request.app[GRIP_KEY]
    grip.stats.requests += 1
    cors = allowed_origin(request, grip.allowed_origins)
    incoming_sig = request.headers.get("Grip-Sig")
    if incoming_sig and grip.signed_by_us(incoming_sig):
        grip.stats.loops_refused += 1
        return _plain(
            508,
            "flask-fanout local realm: this request already came through this "
            "realm; its origin must be the app, not the realm itself",
            cors,
        )
    origin = grip.origin
    if origin is None:
        return _bad_gateway(
            grip,
            "no origin to forward stream requests to: start the realm with "
            "--origin http://HOST:PORT (the app), or let the app's first request "
            "set it under flask run",
            cors,
        )
    target = request.raw_path
    if not target.startswith("/"):
        target = request.rel_url.raw_path_qs
    try:
        url = yarl.URL(origin + target, encoded=True)
    except ValueError:
        return _plain(400, "flask-fanout local realm: bad request target", cors)
    try:
        async with grip.client.get(
            url, headers=_forward_headers(request, grip), allow_redirects=False
        ) as answer:
            try:
                instruct = parse_instruct(
                    answer.headers.items(),
                    max_channel_length=grip.limits.max_channel_length,
                )
            except InstructError as exc:
                grip.stats.instruct_errors += 1
                return _bad_gateway(grip, f"the app's GRIP instructions: {exc}", cors)
            if instruct is None:
                return await _pass_through(request, answer, grip, cors)
            if "application/grip-instruct" in answer.headers.get("Content-Type", ""):
                grip.stats.instruct_errors += 1
                return _bad_gateway(
                    grip,
                    "application/grip-instruct bodies are not supported by the "
                    "stand-in; give the instructions as Grip-* headers",
                    cors,
                )
            body = await _read_limited(answer, grip.limits.max_instruct_body)
            if body is None:
                return _bad_gateway(
                    grip,
                    f"the app's answer to a GRIP hold is larger than "
                    f"{grip.limits.max_instruct_body} bytes",
                    cors,
                )
            status = instruct.status or (answer.status, answer.reason or None)
            headers = _answer_headers(answer)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return _bad_gateway(
            grip, f"cannot get an answer from the app at {origin}: {what}", cors
        )
    if instruct.hold == "stream":
        add_cors(headers, cors)
        return await _hold_stream(request, grip, instruct, status, headers, body)
    return await _hold_response(request, grip, instruct, status, headers, body, cors)


# -- holding ------------------------------------------------------------------


async def _hold_stream(
    request: web.Request,
    grip: GripStandIn,
    instruct: Instruct,
    status: tuple[int, str | None],
    headers: CIMultiDict[str],
    body: bytes,
) -> web.StreamResponse:
    response = web.StreamResponse(status=status[0], reason=status[1])
    response.headers.extend(headers)
    if request.version >= aiohttp.HttpVersion11:
        response.enable_chunked_encoding()
    await response.prepare(request)
    channels = tuple(c.name for c in instruct.channels)
    held = None
    prev_ids = [c.name for c in instruct.channels if c.prev_id is not None]
    if prev_ids and not instruct.next_link:
        # Pushpin ends such a stream after its first content (reliable mode
        # needs a next link), so the stand-in must not hold it either.
        grip.stats.instruct_errors += 1
        log.warning(
            "GRIP stand-in: channel %r has a prev-id but the answer has no "
            "Grip-Link next link; the stream ends after its first content, as "
            "behind Pushpin",
            prev_ids[0],
        )
    else:
        if instruct.next_link:
            grip.warn_once(
                "link",
                "GRIP stand-in: Grip-Link next links are not followed; the stream "
                "is held without them",
            )
        if len(channels) > grip.limits.max_channels_per_hold:
            log.warning(
                "GRIP stand-in: %d channels in one hold; only the first %d are "
                "subscribed (Pushpin's connection_subscription_max)",
                len(channels),
                grip.limits.max_channels_per_hold,
            )
        held = grip.holds.hold_stream(
            request,
            channels,
            instruct.keep_alive,
            chunked=response.chunked,
            first=body,
        )
    if held is None:
        # Not held: the first content, then a clean end, so an EventSource
        # reconnects after its retry delay instead of failing for good.
        with contextlib.suppress(ConnectionError):
            if body:
                await response.write(body)
            await response.write_eof()
        return response
    try:
        outcome = await held.done
    finally:
        grip.holds.release(held)
    if outcome in (Ended.CLOSED, Ended.SHUTDOWN):
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
    return response


def _published_answer(
    answer: ResponseFormat, held_headers: CIMultiDict[str], cors: str | None
) -> web.Response:
    """A published ``http-response``, with the held answer's headers inherited.

    Pushpin starts from the headers of the app's own (timeout) answer and
    replaces every header the publish names, so a publish needs to give only
    what differs.
    """
    headers = held_headers.copy()
    for name, _ in answer.headers:
        headers.popall(name, None)
    for name, value in answer.headers:
        headers.add(name, value)
    add_cors(headers, cors)
    return web.Response(
        status=answer.code, reason=answer.reason, headers=headers, body=answer.body
    )


async def _hold_response(
    request: web.Request,
    grip: GripStandIn,
    instruct: Instruct,
    status: tuple[int, str | None],
    headers: CIMultiDict[str],
    body: bytes,
    cors: str | None,
) -> web.Response:
    channels = tuple(c.name for c in instruct.channels)
    held = grip.holds.hold_response(request, channels)
    outcome: Any = Ended.TIMEOUT
    if held is not None:
        try:
            await asyncio.wait({held.done}, timeout=instruct.timeout)
        finally:
            grip.holds.release(held)
        if held.done.done():
            outcome = held.done.result()
        else:
            grip.stats.response_timeouts += 1
    if isinstance(outcome, ResponseFormat):
        return _published_answer(outcome, headers, cors)
    add_cors(headers, cors)
    return web.Response(status=status[0], reason=status[1], headers=headers, body=body)


async def _preflight(request: web.Request) -> web.Response:
    grip = request.app[GRIP_KEY]
    grip.stats.preflights += 1
    return preflight(request, grip.allowed_origins)


def install_grip(app: web.Application, grip: GripStandIn) -> None:
    """Add the stand-in's routes and lifecycle to a realm application.

    ``GET``/``OPTIONS`` on any path ending in ``/_fanout/events``, and the
    GRIP publish endpoint ``POST /publish/`` (the publish API's own handler:
    same token check, every format).
    """
    app[GRIP_KEY] = grip
    app[HOLDS_KEY] = grip.holds
    path = "/{root:(?:.*/)?}" + STREAM_PATH.lstrip("/")
    app.router.add_route("GET", path, events)
    app.router.add_route("OPTIONS", path, _preflight)
    app.router.add_post("/publish/", _publish_api.publish)
    app.router.add_post("/publish", _publish_api.publish)
    app.on_startup.append(grip.startup)
    app.on_shutdown.append(grip.shutdown)
    app.on_cleanup.append(grip.cleanup)
