"""The realm publish API: ``POST /realm/<realm>/publish/``.

It accepts exactly what ``pubcontrol`` sends to Fanout Cloud (see the
protocol notes, §1), so the extension publishes to the local realm through
the same code path as to a hosted one: a bearer JWT (HS256, ``iss`` = realm,
``exp`` required) signed with the base64-decoded realm key, and a body of
``{"items": [...]}`` whose items carry a ``json-object`` format either as a
key of the item or inside ``"formats"``. Every item is checked before any is
delivered, so a bad request never publishes half of its items.
"""

from __future__ import annotations

from typing import Any

import jwt
from aiohttp import web

from flask_fanout._channels import validate_channel
from flask_fanout.realm import _grip_items
from flask_fanout.realm._bayeux import json_depth_ok
from flask_fanout.realm._bayeux import loads
from flask_fanout.realm._grip_holds import HOLDS_KEY
from flask_fanout.realm._keys import ENGINE_KEY
from flask_fanout.realm._keys import SETTINGS_KEY


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _refuse(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _hmac_equivalent_key(key: bytes) -> bytes:
    """``key`` zero-padded to 32 bytes: the same HMAC-SHA256 key, without a warning.

    A short realm key is the realm owner's choice, not a request error, but
    PyJWT warns about it on every decode, and silencing that with
    ``warnings.catch_warnings()`` would change process-wide filters from the
    realm's thread. HMAC itself zero-pads any key shorter than its 64-byte
    block, so padding to 32 bytes changes no signature.
    """
    return key.ljust(32, b"\0") if len(key) < 32 else key


def _check_token(request: web.Request, realm: str) -> None:
    settings = request.app[SETTINGS_KEY]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _Refused(401, "Missing bearer token")
    if realm != settings.realm_id:
        raise _Refused(401, f"Unknown realm {realm[:64]!r}")
    try:
        jwt.decode(
            token.strip(),
            _hmac_equivalent_key(settings.key),
            algorithms=["HS256"],
            issuer=settings.realm_id,
            options={"require": ["exp", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise _Refused(401, f"Invalid token: {exc}") from exc


def _items(body: Any, max_items: int) -> list[tuple[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise _Refused(400, 'Body must be a JSON object {"items": [...]}')
    items = body["items"]
    if len(items) > max_items:
        raise _Refused(413, f"At most {max_items} items per request")
    parsed: list[tuple[str, Any]] = []
    for number, item in enumerate(items):
        if not isinstance(item, dict):
            raise _Refused(400, f"Item {number} is not an object")
        channel = item.get("channel")
        if not isinstance(channel, str):
            raise _Refused(400, f"Item {number} has no channel string")
        try:
            validate_channel(channel)
        except ValueError as exc:
            raise _Refused(400, f"Item {number}: invalid channel: {exc}") from exc
        formats = item.get("formats")
        if "json-object" in item:
            value = item["json-object"]
        elif isinstance(formats, dict) and "json-object" in formats:
            value = formats["json-object"]
        elif _grip_items.carries_grip_format(item):
            continue  # GRIP only: checked and delivered by the GRIP stand-in
        else:
            raise _Refused(400, f"Item {number} has no json-object or GRIP format")
        parsed.append((channel, value))
    return parsed


async def publish(request: web.Request) -> web.Response:
    """Authenticate, validate, then deliver every item."""
    engine = request.app[ENGINE_KEY]
    limit = engine.limits.max_publish_body
    try:
        if request.content_length is not None and request.content_length > limit:
            raise _Refused(413, f"Body larger than {limit} bytes")
        _check_token(
            request,
            request.match_info.get("realm", request.app[SETTINGS_KEY].realm_id),
        )
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise _Refused(413, f"Body larger than {limit} bytes") from exc
        if len(raw) > limit:
            raise _Refused(413, f"Body larger than {limit} bytes")
        try:
            body = loads(raw)
        except (ValueError, RecursionError) as exc:
            raise _Refused(400, "Body is not valid JSON") from exc
        if not json_depth_ok(body, engine.limits.max_depth + 3):
            raise _Refused(400, "JSON is nested too deeply")
        items = _items(body, engine.limits.max_items)
        try:
            grip_items = _grip_items.parse_items(body["items"])
        except _grip_items.BadGripItem as exc:
            raise _Refused(400, str(exc)) from exc
    except _Refused as exc:
        kind = {401: "unauthorized", 413: "too_large"}.get(exc.status, "bad_request")
        engine.stats.error(f"publish_{kind}")
        return _refuse(exc.status, str(exc))
    delivered = sum(engine.publish("/" + channel, value) for channel, value in items)
    delivered += request.app[HOLDS_KEY].publish(grip_items)
    return web.json_response({"published": len(body["items"]), "delivered": delivered})


def install(app: web.Application) -> None:
    """Add the publish route (with and without the trailing slash)."""
    app.router.add_post("/realm/{realm}/publish/", publish)
    app.router.add_post("/realm/{realm}/publish", publish)
