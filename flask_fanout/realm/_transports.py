"""Bayeux transports on one path: WebSocket, long-polling, CORS, JSONP.

Faye decides at run time which of these it uses (see the protocol notes,
§2-3): it handshakes over plain or cross-origin long-polling, or over JSONP
when the page is on another origin, and then upgrades to a WebSocket. So a
single handler at ``/bayeux`` must serve every method, and any request that
cannot be parsed is answered with a 4xx (never a 5xx) so that fuzzing or a
confused proxy can't take the realm down.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from aiohttp import WSMsgType
from aiohttp import web

from flask_fanout.realm._bayeux import BAD_REQUEST
from flask_fanout.realm._bayeux import Batch
from flask_fanout.realm._bayeux import Engine
from flask_fanout.realm._bayeux import dumps
from flask_fanout.realm._bayeux import json_depth_ok
from flask_fanout.realm._bayeux import loads
from flask_fanout.realm._keys import ENGINE_KEY
from flask_fanout.realm._keys import SETTINGS_KEY

#: A JavaScript dotted identifier, ASCII only. Anything else in a JSONP
#: callback could be a Rosetta-Flash style payload, so it is refused.
_CALLBACK_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*")
_MAX_CALLBACK = 128
_ALLOWED_HEADERS = "Accept, Authorization, Content-Type, Pragma, X-Requested-With"
_NO_CACHE = "no-cache, no-store"


class BadRequest(Exception):
    """A request that is not Bayeux at all; answered with HTTP 400 or 413."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse_messages(text: str, engine: Engine) -> list[Any]:
    """Decode a Bayeux body: a JSON array of messages, or one message."""
    try:
        value = loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("Body is not valid JSON") from exc
    if not json_depth_ok(value, engine.limits.max_depth):
        raise BadRequest("JSON is nested too deeply")
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return value
    raise BadRequest("Expected a JSON array of Bayeux messages")


def _cors(request: web.Request, response: web.StreamResponse) -> None:
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    response.headers["Cache-Control"] = _NO_CACHE


def _error(request: web.Request, message: str, status: int = 400) -> web.Response:
    engine = request.app[ENGINE_KEY]
    engine.stats.error(f"http_{status}")
    response = web.Response(status=status, text=message + "\n")
    _cors(request, response)
    return response


async def _render(request: web.Request, batch: Batch, engine: Engine) -> str:
    """Wait for a held polling connect, then serialise the whole reply.

    The queue is drained only if the client is still there: aiohttp lets a
    handler run on after its peer hangs up, and messages written to a dead
    connection would be lost without the client ever knowing. Left queued,
    they go out with the client's next connect.
    """
    parts = [dumps(reply) for reply in batch.replies]
    held = batch.held
    if held is not None:
        try:
            if not held.future.done():
                await held.future
            parts.append(dumps(held.reply))
            transport = request.transport
            if transport is not None and not transport.is_closing():
                parts.extend(engine.drain(held.session))
        finally:
            engine.end_connect(held.session, held.future)
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


async def _read_text(request: web.Request, limit: int) -> str:
    if request.content_length is not None and request.content_length > limit:
        raise BadRequest(f"Body larger than {limit} bytes", 413)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise BadRequest(f"Body larger than {limit} bytes", 413) from exc
    if len(body) > limit:
        raise BadRequest(f"Body larger than {limit} bytes", 413)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("Body is not UTF-8") from exc


def _form_message(text: str) -> str | None:
    """The ``message`` field of a form body, or None when it is not a form."""
    if not text.lstrip().startswith("message="):
        return None
    values = urllib.parse.parse_qs(text.strip(), keep_blank_values=True).get("message")
    if not values:
        raise BadRequest("Empty message field")
    return values[0]


async def _long_poll(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    cross_origin = "Origin" in request.headers
    try:
        text = await _read_text(request, engine.limits.max_bayeux_body)
        form = _form_message(text)
        messages = parse_messages(form if form is not None else text, engine)
    except BadRequest as exc:
        return _error(request, str(exc), exc.status)
    kind = "cross-origin-long-polling" if cross_origin else "long-polling"
    batch = engine.handle(messages, link=None, connection_type=kind)
    body = await _render(request, batch, engine)
    response = web.Response(text=body, content_type="application/json")
    _cors(request, response)
    return response


async def _jsonp(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    callback = request.query.get("jsonp", "jsonpcallback")
    if len(callback) > _MAX_CALLBACK or not _CALLBACK_RE.fullmatch(callback):
        return _error(request, "Invalid jsonp callback name")
    text = request.query["message"]
    if len(text) > engine.limits.max_bayeux_body:
        return _error(request, "Message too large", 413)
    try:
        messages = parse_messages(text, engine)
    except BadRequest as exc:
        return _error(request, str(exc), exc.status)
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
    if not request.app[SETTINGS_KEY].websocket:
        # Refusing the upgrade (as a proxy that kills WebSockets would) lets
        # clients' fallback to long-polling be tested.
        return _error(request, "WebSocket is disabled on this realm", 403)
    ws = web.WebSocketResponse(
        compress=False, max_msg_size=engine.limits.max_bayeux_body, autoping=True
    )
    await ws.prepare(request)
    transport = request.transport
    if transport is None:  # the peer left during the upgrade
        return ws
    link = engine.open_link(transport)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    engine.stats.error("ws_binary")
                    link.send_json(
                        [{"successful": False, "error": f"{BAD_REQUEST}::Text only"}]
                    )
                    continue
                break
            try:
                messages = parse_messages(msg.data, engine)
            except BadRequest as exc:
                engine.stats.error("ws_bad_frame")
                link.send_json(
                    [{"successful": False, "error": f"{BAD_REQUEST}::{exc}"}]
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
