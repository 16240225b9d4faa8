"""The realm publish API: ``POST /realm/<realm>/publish/`` and ``POST /publish/``.

It accepts exactly what ``pubcontrol`` sends to Fanout Cloud, so the
extension publishes to the local realm through the same code path as to a
hosted one: a bearer JWT (HS256, ``iss`` = realm, integer ``exp`` at most
:attr:`~flask_fanout.realm.Limits.max_token_lifetime` ahead) signed with the
realm key, and a body of ``{"items": [...]}``.

Each item is parsed into a :class:`PublishItem` (wire channel, formats, id,
prev-id). Its formats are keys of the item (``"json-object": ...``, the shape
pubcontrol sends) or sit under ``"formats"``; each format name is delivered
by the handler registered for it in :data:`DELIVERERS_KEY` (the Bayeux
engine delivers ``json-object``, the GRIP stand-in ``http-stream`` and
``http-response``), after the check registered in :data:`CHECKS_KEY`, if
any. Every item is checked before any is delivered, so a bad request never
publishes half of its items.

``/publish/`` is where a GRIP proxy takes publishes (the realm id is then
the realm's own); both paths take every format and the same token.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import jwt
from aiohttp import web

from flask_fanout._channels import validate_wire_channel
from flask_fanout._errors import InvalidChannelError
from flask_fanout._jwt import decode
from flask_fanout.realm._body import Refusal
from flask_fanout.realm._body import read_text
from flask_fanout.realm._json import JSONRejected
from flask_fanout.realm._json import loads
from flask_fanout.realm._keys import ENGINE_KEY
from flask_fanout.realm._keys import SETTINGS_KEY

#: Item keys that are not format names.
_ITEM_FIELDS = frozenset({"channel", "id", "prev-id", "no-seq", "formats"})
#: Longest ``id`` / ``prev-id`` accepted (the GRIP stand-in remembers ids).
MAX_ID_LENGTH = 256


@dataclasses.dataclass(frozen=True, slots=True)
class PublishItem:
    """One validated item of a publish request."""

    #: The wire channel (prefix included), checked against the wire rule.
    channel: str
    #: Format name -> that format's value, e.g. ``{"json-object": {...}}``.
    formats: Mapping[str, Any]
    id: str | None = None
    prev_id: str | None = None
    #: GRIP's ``"no-seq": true``: deliver at once, whatever the ids say.
    no_seq: bool = False


#: Delivers one item's value in one format; returns the recipients.
Deliver = Callable[[web.Application, PublishItem, Any], int]
#: Checks one format's value before anything is delivered and returns what
#: the deliverer gets; raises ``ValueError`` saying what is wrong.
Check = Callable[[Any], Any]

DELIVERERS_KEY = web.AppKey("publish_deliverers", dict[str, Deliver])
CHECKS_KEY = web.AppKey("publish_checks", dict[str, Check])


def _deliver_bayeux(app: web.Application, item: PublishItem, value: Any) -> int:
    return app[ENGINE_KEY].publish("/" + item.channel, value)


def _check_token(request: web.Request, realm: str) -> None:
    settings = request.app[SETTINGS_KEY]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refusal(401, "Missing bearer token")
    if realm != settings.realm_id:
        raise Refusal(401, f"Unknown realm {realm[:64]!r}")
    lifetime = request.app[ENGINE_KEY].limits.max_token_lifetime
    try:
        decode(
            token.strip(),
            settings.key,
            "HS256",
            issuer=settings.realm_id,
            max_lifetime=int(lifetime),
        )
    except jwt.PyJWTError as exc:
        raise Refusal(401, f"Invalid token: {exc}") from exc


def parse_items(
    body: Any,
    max_items: int,
    known_formats: Mapping[str, object],
    checks: Mapping[str, Check] | None = None,
) -> list[PublishItem]:
    """Validate a publish body and return its items.

    :raises Refusal: 400 naming the first bad item, 413 for too many items.
    """
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise Refusal(400, 'Body must be a JSON object {"items": [...]}')
    items = body["items"]
    if len(items) > max_items:
        raise Refusal(413, f"At most {max_items} items per request")
    return [
        _item(number, item, known_formats, checks or {})
        for number, item in enumerate(items)
    ]


def _item(
    number: int, item: Any, known: Mapping[str, object], checks: Mapping[str, Check]
) -> PublishItem:
    if not isinstance(item, dict):
        raise Refusal(400, f"Item {number} is not an object")
    channel = item.get("channel")
    if not isinstance(channel, str):
        raise Refusal(400, f"Item {number} has no channel string")
    try:
        validate_wire_channel(channel)
    except InvalidChannelError as exc:
        raise Refusal(400, f"Item {number}: {exc}"[:300]) from None
    nested = item.get("formats")
    formats = dict(nested) if isinstance(nested, dict) else {}
    formats.update((k, v) for k, v in item.items() if k not in _ITEM_FIELDS)
    if not any(name in known for name in formats):
        names = ", ".join(sorted(known))
        raise Refusal(400, f"Item {number} has no format this realm delivers ({names})")
    for name, check in checks.items():
        if name in formats:
            try:
                formats[name] = check(formats[name])
            except ValueError as exc:
                raise Refusal(400, f"Item {number}: {exc}"[:300]) from None
    ids = {}
    for field in ("id", "prev-id"):
        value = item.get(field)
        if value is not None and not isinstance(value, str):
            raise Refusal(400, f"Item {number}: {field} must be a string")
        if value is not None and len(value) > MAX_ID_LENGTH:
            raise Refusal(
                400, f"Item {number}: {field} is longer than {MAX_ID_LENGTH} characters"
            )
        ids[field] = value
    no_seq = item.get("no-seq", False)
    if not isinstance(no_seq, bool):
        raise Refusal(400, f"Item {number}: no-seq must be true or false")
    return PublishItem(channel, formats, ids["id"], ids["prev-id"], no_seq)


async def publish(request: web.Request) -> web.Response:
    """Authenticate, validate, then deliver every item."""
    app = request.app
    engine = app[ENGINE_KEY]
    limits = engine.limits
    deliverers = app[DELIVERERS_KEY]
    try:
        if (
            request.content_length is not None
            and request.content_length > limits.max_publish_body
        ):
            raise Refusal(413, f"Body larger than {limits.max_publish_body} bytes")
        _check_token(
            request, request.match_info.get("realm", app[SETTINGS_KEY].realm_id)
        )
        text = await read_text(request, limits.max_publish_body, limits.request_timeout)
        try:
            body = loads(text, limits.max_depth + 3)  # + {"items": [{...: value}]}
        except JSONRejected as exc:
            raise Refusal(400, f"Body rejected: {exc}") from None
        items = parse_items(body, limits.max_items, deliverers, app[CHECKS_KEY])
    except Refusal as exc:
        engine.stats.error(f"publish_{exc.kind}")
        response = web.json_response({"error": exc.message}, status=exc.status)
        if exc.body_unread:
            response.force_close()
        return response
    delivered = 0
    for item in items:
        for name, value in item.formats.items():
            deliver = deliverers.get(name)
            if deliver is not None:
                delivered += deliver(app, item, value)
    return web.json_response({"published": len(items), "delivered": delivered})


def install(app: web.Application) -> None:
    """Add the publish routes (with and without the trailing slash).

    Other features add the formats they deliver to ``app[DELIVERERS_KEY]``
    (and their checks to ``app[CHECKS_KEY]``).
    """
    deliverers: dict[str, Deliver] = {"json-object": _deliver_bayeux}
    app[DELIVERERS_KEY] = deliverers
    app[CHECKS_KEY] = {}
    for path in ("/realm/{realm}/publish", "/publish"):
        app.router.add_post(path + "/", publish)
        app.router.add_post(path, publish)
