"""The local realm standing in for a GRIP proxy (Pushpin) in development.

With the GRIP backend and no GRIP proxy configured, the browser's stream
requests (``GET …/_fanout/events``) go to the realm, which does with them
what Pushpin would, so the app's stream view, its ``Grip-Sig`` check, its
channel authorizer and its publishes run exactly as in production:

1. forward the request to the app, the *origin* (``_grip_forward``);
2. read the GRIP headers of the answer (``_grip_instruct``): without
   ``Grip-Hold`` the answer goes back as it is (minus ``Grip-*``);
   otherwise hold the stream or the long-poll (``_grip_holds``) for the
   items published to ``/publish/`` (``_grip_items``, through the publish
   API's format hooks);
3. add CORS headers for pages on the realm's own host (``_grip_cors``).

Only paths ending in ``/_fanout/events`` are forwarded: the realm is not a
general reverse proxy. What Pushpin does and the stand-in does not:
``Grip-Link`` (reliable mode; a ``prev-id`` on a stream without one ends
the stream after its first content, as behind Pushpin), instructions in an
``application/grip-instruct`` body, filters, ``Grip-Set-Meta``,
``"action": "hint"``, WebSocket-over-HTTP, and the repeat of a held
long-poll's request to the app about a second after it is subscribed
(Pushpin's way of covering the moment before its subscription settles,
which the stand-in, subscribing at once, does not have). Each of these is
refused or reported rather than silently done another way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from flask_fanout._ratelimit import RateLimitedLog
from flask_fanout.realm._grip_cors import add_cors
from flask_fanout.realm._grip_cors import allowed_origin
from flask_fanout.realm._grip_cors import preflight
from flask_fanout.realm._grip_forward import Forwarder
from flask_fanout.realm._grip_forward import OriginAnswer
from flask_fanout.realm._grip_forward import OriginError
from flask_fanout.realm._grip_holds import Ended
from flask_fanout.realm._grip_holds import Holds
from flask_fanout.realm._grip_holds import Outcome
from flask_fanout.realm._grip_instruct import Instruct
from flask_fanout.realm._grip_instruct import InstructError
from flask_fanout.realm._grip_instruct import parse_instruct
from flask_fanout.realm._grip_items import GripItem
from flask_fanout.realm._grip_items import ResponseFormat
from flask_fanout.realm._grip_items import StreamFormat
from flask_fanout.realm._grip_items import check_response
from flask_fanout.realm._grip_items import check_stream
from flask_fanout.realm._grip_stats import GripStats
from flask_fanout.realm._keys import Settings
from flask_fanout.realm._limits import Limits
from flask_fanout.realm._publish_api import CHECKS_KEY
from flask_fanout.realm._publish_api import DELIVERERS_KEY
from flask_fanout.realm._publish_api import PublishItem

log = logging.getLogger("flask_fanout.realm")

#: The path every forwarded request ends in (the extension's stream endpoint).
STREAM_PATH = "/_fanout/events"
#: Seconds a long-poll refused at ``max_grip_holds`` is told to wait.
BUSY_RETRY_AFTER = 5
_PREFIX = "flask-fanout local realm"


class GripStandIn:
    """The stand-in's state on one realm: the origin, the holds, the counters."""

    def __init__(
        self, settings: Settings, limits: Limits, logs: RateLimitedLog
    ) -> None:
        self.limits = limits
        self.logs = logs
        self.allowed_origins = frozenset(settings.allowed_origins)
        self.stats = GripStats()
        self.holds = Holds(limits, self.stats)
        self.forwarder = Forwarder(
            settings.realm_id, settings.key, limits, settings.origin
        )

    def set_origin(self, url: str | None) -> None:
        """Forward stream requests to ``url`` from now on; any thread may call.

        :raises ValueError: naming what is wrong with ``url``.
        """
        self.forwarder.set_origin(url)

    def start(self) -> None:
        """Open the origin's connection pool and start sweeping (on the loop)."""
        self.forwarder.start()
        self.holds.start()

    async def close(self) -> None:
        """End every hold (streams cleanly), then close the pool."""
        await self.holds.close()
        await self.forwarder.close()

    def snapshot(self) -> dict[str, Any]:
        """The ``grip`` section of ``/stats``."""
        return self.holds.snapshot(self.forwarder.origin)

    # -- publishing -----------------------------------------------------------

    def deliver_stream(self, app: web.Application, item: PublishItem, _: Any) -> int:
        """The publish API's deliverer for ``http-stream`` (and the item's
        ``http-response`` with it, so the sequencer sees the item once)."""
        return self.holds.publish(_grip_item(item))

    def deliver_response(self, app: web.Application, item: PublishItem, _: Any) -> int:
        """The deliverer for ``http-response``, unless ``http-stream`` took it."""
        if "http-stream" in item.formats:
            return 0
        return self.holds.publish(_grip_item(item))


def _grip_item(item: PublishItem) -> GripItem:
    stream = item.formats.get("http-stream")
    response = item.formats.get("http-response")
    assert stream is None or isinstance(stream, StreamFormat)
    assert response is None or isinstance(response, ResponseFormat)
    return GripItem(
        channel=item.channel,
        id=item.id,
        prev_id=item.prev_id,
        no_seq=item.no_seq,
        stream=stream,
        response=response,
    )


GRIP_KEY = web.AppKey("grip", GripStandIn)


# -- answers the stand-in makes itself ---------------------------------------


def _plain(
    status: int, text: str, cors: str | None, headers: dict[str, str] | None = None
) -> web.Response:
    answer: CIMultiDict[str] = CIMultiDict(
        {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    )
    answer.update(headers or {})
    add_cors(answer, cors)
    return web.Response(status=status, text=f"{_PREFIX}: {text}\n", headers=answer)


def _bad_gateway(
    grip: GripStandIn, kind: str, message: str, cors: str | None
) -> web.Response:
    grip.logs.warning(f"grip-{kind}", "flask-fanout realm, GRIP stand-in: %s", message)
    return _plain(502, message, cors)


# -- the stream endpoint ------------------------------------------------------


async def events(request: web.Request) -> web.StreamResponse:
    """``GET …/_fanout/events``: forward to the app, then do what it says."""
    grip = request.app[GRIP_KEY]
    stats = grip.stats
    stats.requests += 1
    cors = allowed_origin(request, grip.allowed_origins)
    incoming_sig = request.headers.get("Grip-Sig")
    if incoming_sig and grip.forwarder.signed_by_us(incoming_sig):
        stats.loops_refused += 1
        return _plain(
            508,
            "this request already came through this realm: the origin must be "
            "the app, not the realm itself",
            cors,
        )
    origin = grip.forwarder.origin
    if origin is None:
        stats.origin_errors += 1
        return _bad_gateway(
            grip,
            "no-origin",
            "no app to forward stream requests to: start the realm with "
            "--origin http://HOST:PORT (the app's address); under flask run the "
            "app's first request tells the embedded realm",
            cors,
        )
    try:
        answer = await grip.forwarder.fetch(request, origin)
    except OriginError as exc:
        stats.origin_errors += 1
        return _bad_gateway(grip, "origin", str(exc), cors)
    try:
        if answer.content_type() == "application/grip-instruct":
            raise InstructError(
                "instructions in an application/grip-instruct body are not "
                "supported by the local realm; give them as Grip-* headers"
            )
        instruct = parse_instruct(answer.headers)
    except InstructError as exc:
        stats.instruct_errors += 1
        return _bad_gateway(grip, "instruct", f"the app's GRIP headers: {exc}", cors)
    if instruct is None:
        stats.passed_through += 1
        return _answer(answer.status, answer.reason, answer, answer.body, cors)
    channels = _channels(grip, instruct)
    if instruct.hold == "stream":
        return await _hold_stream(request, grip, instruct, channels, answer, cors)
    return await _hold_response(request, grip, instruct, channels, answer, cors)


def _answer(
    status: int, reason: str, answer: OriginAnswer, body: bytes, cors: str | None
) -> web.Response:
    """The app's answer (``Grip-*`` and hop-by-hop headers removed)."""
    headers = answer.browser_headers()
    add_cors(headers, cors)
    return web.Response(
        status=status, reason=reason or None, headers=headers, body=body
    )


def _channels(grip: GripStandIn, instruct: Instruct) -> tuple[str, ...]:
    names = tuple(c.name for c in instruct.channels)
    cap = grip.limits.max_grip_channels
    if len(names) > cap:
        grip.logs.warning(
            "grip-channels",
            "flask-fanout realm, GRIP stand-in: %d channels in one hold; only the "
            "first %d are subscribed, as Pushpin's connection_subscription_max "
            "(--max-grip-channels) does",
            len(names),
            cap,
        )
    return names[:cap]


def _status(instruct: Instruct, answer: OriginAnswer) -> tuple[int, str]:
    return instruct.status or (answer.status, answer.reason)


async def _hold_stream(
    request: web.Request,
    grip: GripStandIn,
    instruct: Instruct,
    channels: tuple[str, ...],
    answer: OriginAnswer,
    cors: str | None,
) -> web.StreamResponse:
    code, reason = _status(instruct, answer)
    response = web.StreamResponse(status=code, reason=reason or None)
    headers = answer.browser_headers()
    add_cors(headers, cors)
    response.headers.extend(headers)
    if request.version >= aiohttp.HttpVersion11:
        response.enable_chunked_encoding()
    held_back = [c.name for c in instruct.channels if c.prev_id is not None]
    hold = True
    if held_back and not instruct.next_link:
        # Pushpin ends such a stream after its first content (reliable mode
        # needs a next link to fetch what was missed), so the stand-in does.
        grip.stats.instruct_errors += 1
        grip.logs.warning(
            "grip-prev-id",
            "flask-fanout realm, GRIP stand-in: channel %r has a prev-id but the "
            "answer has no Grip-Link next link; the stream ends after its first "
            "content, as behind Pushpin",
            held_back[0],
        )
        hold = False
    elif instruct.next_link:
        grip.logs.warning(
            "grip-link",
            "flask-fanout realm, GRIP stand-in: Grip-Link next links are not "
            "followed; the stream is held without them",
        )
    # aiohttp sends a StreamResponse's headers as soon as it is prepared, so
    # the first content can go straight to the socket after them.
    await response.prepare(request)
    if hold and grip.holds.full:  # checked after the last await: a firm cap
        grip.holds.refused()
        grip.logs.warning(
            "grip-full",
            "flask-fanout realm, GRIP stand-in: %d requests held already "
            "(--max-grip-holds); a stream ends after its first content",
            grip.limits.max_grip_holds,
        )
        hold = False
    transport = request.transport
    if not hold or not isinstance(transport, asyncio.WriteTransport):
        with contextlib.suppress(ConnectionError):
            if answer.body:
                await response.write(answer.body)
            await response.write_eof()
        return response
    held = grip.holds.hold_stream(
        transport,
        channels,
        instruct.keep_alive,
        chunked=response.chunked,
        first=answer.body,
    )
    try:
        outcome = await held.done
    finally:
        grip.holds.release(held)
    if outcome in (Ended.CLOSED, Ended.SHUTDOWN):
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
    return response


def _published(
    published: ResponseFormat, answer: OriginAnswer, cors: str | None
) -> web.Response:
    """A published ``http-response``, headers merged as Pushpin merges them.

    Pushpin (1.36, ``HttpSession::respond`` in ``src/handler/httpsession.cpp``)
    starts from the headers of the app's own (timeout) answer, removes every
    header the publish names, then appends the publish's headers: so a
    publish gives only what differs, and a header it names replaces all
    values the app gave.
    """
    headers = answer.browser_headers()
    for name, _ in published.headers:
        headers.popall(name, None)
    for name, value in published.headers:
        headers.add(name, value)
    add_cors(headers, cors)
    return web.Response(
        status=published.code,
        reason=published.reason,
        headers=headers,
        body=published.body,
    )


async def _hold_response(
    request: web.Request,
    grip: GripStandIn,
    instruct: Instruct,
    channels: tuple[str, ...],
    answer: OriginAnswer,
    cors: str | None,
) -> web.StreamResponse:
    if grip.holds.full:
        grip.holds.refused()
        grip.logs.warning(
            "grip-full",
            "flask-fanout realm, GRIP stand-in: %d requests held already "
            "(--max-grip-holds); a long-poll is answered 503",
            grip.limits.max_grip_holds,
        )
        return _plain(
            503,
            f"too many held requests (--max-grip-holds); retry in {BUSY_RETRY_AFTER} s",
            cors,
            {"Retry-After": str(BUSY_RETRY_AFTER)},
        )
    transport = request.transport
    if transport is None:
        return web.Response(status=499)  # the client is gone; nobody reads this
    held = grip.holds.hold_response(transport, channels)
    outcome: Outcome = Ended.TIMEOUT
    try:
        await asyncio.wait({held.done}, timeout=instruct.timeout)
    finally:
        grip.holds.release(held)
    if held.done.done():
        outcome = held.done.result()
    else:
        grip.stats.response_timeouts += 1
    if isinstance(outcome, ResponseFormat):
        return _published(outcome, answer, cors)
    code, reason = _status(instruct, answer)
    return _answer(code, reason, answer, answer.body, cors)


async def _preflight(request: web.Request) -> web.Response:
    grip = request.app[GRIP_KEY]
    grip.stats.preflights += 1
    return preflight(request, grip.allowed_origins)


def install_grip(app: web.Application, grip: GripStandIn) -> None:
    """Add the stand-in to a realm application.

    ``GET`` and ``OPTIONS`` on any path ending in ``/_fanout/events``; the
    ``http-stream`` and ``http-response`` formats of the publish API (which
    serves ``POST /publish/``, with the same token as every publish).
    """
    app[GRIP_KEY] = grip
    path = "/{root:(?:.*/)?}" + STREAM_PATH.lstrip("/")
    app.router.add_route("GET", path, events)
    app.router.add_route("OPTIONS", path, _preflight)
    app[DELIVERERS_KEY]["http-stream"] = grip.deliver_stream
    app[DELIVERERS_KEY]["http-response"] = grip.deliver_response
    app[CHECKS_KEY]["http-stream"] = check_stream
    app[CHECKS_KEY]["http-response"] = check_response
