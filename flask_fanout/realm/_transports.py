"""Bayeux transports on one path: WebSocket, long-polling, CORS, JSONP.

Faye decides at run time which of these it uses: it handshakes over plain
or cross-origin long-polling, or over JSONP when the page is on another
origin, and then upgrades to a WebSocket. So a single handler at
``/bayeux`` serves every method, and any request that cannot be parsed is
answered with a 4xx (never a 5xx) so that fuzzing or a confused proxy can't
take the realm down.

WebSocket framing lives here too: :class:`WsLink` is what the engine pushes
messages to, and it writes the frames itself, without awaiting, so one
publish to N subscribers is encoded once and can never wait on a slow one.
"""

from __future__ import annotations

import asyncio
import re
import struct
import time
import urllib.parse
from typing import Any
from typing import ClassVar

from aiohttp import WSCloseCode
from aiohttp import WSMsgType
from aiohttp import web

from flask_fanout.realm._bayeux import BAD_REQUEST
from flask_fanout.realm._bayeux import Batch
from flask_fanout.realm._bayeux import Engine
from flask_fanout.realm._body import Refusal
from flask_fanout.realm._body import read_text
from flask_fanout.realm._json import JSONRejected
from flask_fanout.realm._json import dumps
from flask_fanout.realm._json import loads
from flask_fanout.realm._keys import ENGINE_KEY
from flask_fanout.realm._keys import SETTINGS_KEY

#: A JavaScript dotted identifier, ASCII only. Anything else in a JSONP
#: callback could be a Rosetta-Flash style payload, so it is refused.
_CALLBACK_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*")
_MAX_CALLBACK = 128
_ALLOWED_HEADERS = "Accept, Authorization, Content-Type, Pragma, X-Requested-With"
_NO_CACHE = "no-cache, no-store"
#: A close frame: 1001 (going away), reason "idle".
_IDLE_CLOSE = struct.pack("!BBH", 0x88, 6, WSCloseCode.GOING_AWAY) + b"idle"


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


class WsLink:
    """One open WebSocket, as the engine sees it (a :class:`~._bayeux.Link`)."""

    __slots__ = ("closed", "dropped", "heard", "limit", "sessions", "transport")

    #: The last text pushed and its frame: one publish pushes the same text
    #: object to every subscriber, so it is framed once. (A stale entry can
    #: only miss, never match: the text it holds is alive, so no other
    #: object can have its identity.)
    _framed: ClassVar[tuple[str, bytes]] = ("", b"")

    def __init__(self, transport: asyncio.WriteTransport, limit: int) -> None:
        self.transport = transport
        self.limit = limit
        self.closed = False
        #: Cut off because its peer stopped reading.
        self.dropped = False
        self.sessions: set[str] = set()
        self.heard = time.monotonic()

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

    def push(self, messages: str) -> bool:
        text, frame = WsLink._framed
        if text is not messages:
            frame = ws_text_frame(messages.encode())
            WsLink._framed = (messages, frame)
        return self.write(frame)

    def send_json(self, messages: list[dict[str, Any]]) -> bool:
        return self.write(ws_text_frame(dumps(messages).encode()))

    def close_idle(self) -> None:
        if not self.closed and not self.transport.is_closing():
            self.transport.write(_IDLE_CLOSE)
            self.transport.close()
        self.closed = True


def parse_messages(text: str, max_depth: int) -> list[Any]:
    """Decode a Bayeux body: a JSON array of messages, or one message."""
    try:
        value = loads(text, max_depth)
    except JSONRejected as exc:
        reason = str(exc)
        raise Refusal(400, reason[:1].upper() + reason[1:]) from None
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return value
    raise Refusal(400, "Expected a JSON array of Bayeux messages")


def _cors(request: web.Request, response: web.StreamResponse) -> None:
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    response.headers["Cache-Control"] = _NO_CACHE


def _error(request: web.Request, message: str, status: int = 400) -> web.Response:
    request.app[ENGINE_KEY].stats.error(f"http_{status}")
    response = web.Response(status=status, text=message + "\n")
    _cors(request, response)
    return response


def _refused(request: web.Request, refusal: Refusal) -> web.Response:
    response = _error(request, refusal.message, refusal.status)
    if refusal.body_unread:
        response.force_close()
    return response


async def _render(request: web.Request, batch: Batch, engine: Engine) -> str:
    """Wait for the request's held connect, then serialise the whole reply.

    Each connect's reply is followed by its session's queued messages, but
    only if the client is still there: aiohttp lets a handler run on after
    its peer hangs up, and messages written to a dead connection would be
    lost without the client ever knowing. Left queued, they go out with the
    client's next connect. Whatever happens, every connect of the request is
    cancelled at the end, so its session can expire.
    """
    parts = [dumps(reply) for reply in batch.replies]
    try:
        waiting = batch.waiting
        if waiting is not None and waiting.answered is not None:
            await waiting.answered
        transport = request.transport
        alive = transport is not None and not transport.is_closing()
        for held in batch.connects:
            parts.append(dumps(held.reply))
            if alive:
                parts.extend(engine.drain(held.session))
    finally:
        for held in batch.connects:
            held.cancel()
    return "[" + ",".join(parts) + "]"


async def bayeux(request: web.Request) -> web.StreamResponse:
    """The one entry point for every Bayeux transport."""
    method = request.method
    if method == "OPTIONS":
        return _preflight(request)
    if method == "GET":
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await _websocket(request)
        if "message" in request.query:
            return await _jsonp(request)
        return _error(request, "Bayeux endpoint: POST messages, or GET with ?message=")
    if method == "POST":
        return await _long_poll(request)
    return _error(request, f"Method {method} not allowed", 405)


def _preflight(request: web.Request) -> web.Response:
    response = web.Response(status=200)
    _cors(request, response)
    response.headers["Access-Control-Allow-Methods"] = "POST, GET, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


def _form_message(text: str) -> str | None:
    """The ``message`` field of a form body, or None when it is not a form."""
    if not text.lstrip().startswith("message="):
        return None
    values = urllib.parse.parse_qs(text.strip(), keep_blank_values=True).get("message")
    if not values:
        raise Refusal(400, "Empty message field")
    return values[0]


async def _long_poll(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    limits = engine.limits
    cross_origin = "Origin" in request.headers
    try:
        text = await read_text(request, limits.max_bayeux_body, limits.request_timeout)
        form = _form_message(text)
        messages = parse_messages(form if form is not None else text, limits.max_depth)
    except Refusal as exc:
        return _refused(request, exc)
    kind = "cross-origin-long-polling" if cross_origin else "long-polling"
    batch = engine.handle(messages, link=None, connection_type=kind)
    body = await _render(request, batch, engine)
    response = web.Response(text=body, content_type="application/json")
    _cors(request, response)
    return response


async def _jsonp(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    limits = engine.limits
    callback = request.query.get("jsonp", "jsonpcallback")
    if len(callback) > _MAX_CALLBACK or not _CALLBACK_RE.fullmatch(callback):
        return _error(request, "Invalid jsonp callback name")
    text = request.query["message"]
    try:
        if len(text) > limits.max_bayeux_body:
            raise Refusal(413, f"Message larger than {limits.max_bayeux_body} bytes")
        messages = parse_messages(text, limits.max_depth)
    except Refusal as exc:
        return _refused(request, exc)
    batch = engine.handle(messages, link=None, connection_type="callback-polling")
    body = await _render(request, batch, engine)
    response = web.Response(
        text=f"/**/{callback}({body});", content_type="text/javascript"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "attachment; filename=f.txt"
    response.headers["Cache-Control"] = _NO_CACHE
    return response


async def _websocket(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE_KEY]
    limits = engine.limits
    if not request.app[SETTINGS_KEY].websocket:
        # Refusing the upgrade (as a proxy that kills WebSockets would) lets
        # clients' fallback to long-polling be tested.
        return _error(request, "WebSocket is disabled on this realm", 403)
    ws = web.WebSocketResponse(
        compress=False,
        max_msg_size=limits.max_bayeux_body,
        autoping=True,
        heartbeat=limits.websocket_heartbeat,
        timeout=2.0,
    )
    await ws.prepare(request)
    transport = request.transport
    if transport is None:  # the peer left during the upgrade
        return ws
    link = WsLink(transport, limits.max_ws_buffer)
    engine.add_link(link)
    try:
        while True:
            msg = await ws.receive()
            link.heard = time.monotonic()
            if msg.type == WSMsgType.BINARY:
                engine.stats.error("ws_binary")
                link.send_json(
                    [{"successful": False, "error": f"{BAD_REQUEST}::Text only"}]
                )
                continue
            if msg.type != WSMsgType.TEXT:
                break
            try:
                messages = parse_messages(msg.data, limits.max_depth)
            except Refusal as exc:
                engine.stats.error("ws_bad_frame")
                link.send_json(
                    [{"successful": False, "error": f"{BAD_REQUEST}::{exc.message}"}]
                )
                continue
            batch = engine.handle(messages, link=link, connection_type="websocket")
            if batch.replies:
                link.send_json(batch.replies)
            if link.closed:
                break
    except ConnectionError:
        pass
    finally:
        engine.close_link(link)
    return ws
