"""Published GRIP items: what ``http-stream`` and ``http-response`` formats hold.

The publish API (``_publish_api``) checks the channel of every item with the
one channel rule and hands the items here; this module checks the GRIP
formats exactly as Pushpin's publish endpoint reads them (1.36,
``src/handler/publishitem.cpp`` and ``publishformat.cpp``), so an item the
stand-in takes is one Pushpin takes:

* the formats sit under ``"formats"``; when that key is absent, the format
  names are keys of the item itself (the shape ``pubcontrol`` sends);
* ``http-stream``: ``content`` (text) or ``content-bin`` (base64, wins),
  or ``"action": "close"`` to end the stream;
* ``http-response``: ``code`` (default 200), ``reason`` (default: the
  standard phrase), ``headers`` (an object or a list of ``[name, value]``
  pairs), ``body`` or ``body-bin`` (base64, wins);
* ``id`` and ``prev-id`` are strings, ``no-seq`` a boolean.

What the stand-in cannot do is refused with a 400 naming it, rather than
silently doing something else than Pushpin: ``"action": "hint"``,
``body-patch`` and ``content-filters``. A ``ws-message`` format is accepted
and reaches nobody, since the stand-in holds no WebSocket-over-HTTP
connections.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import http
import re
from collections.abc import Sequence
from typing import Any

#: Format names that make an item a GRIP item.
GRIP_FORMATS = ("http-stream", "http-response", "ws-message")
#: Longest ``id`` / ``prev-id`` accepted.
MAX_ID_LENGTH = 256

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Headers a published response may not set: the server frames the body.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


class BadGripItem(ValueError):
    """A GRIP item that cannot be delivered; the message names the item."""


@dataclasses.dataclass(frozen=True)
class StreamFormat:
    """What to do to every stream held on the channel."""

    close: bool
    content: bytes = b""


@dataclasses.dataclass(frozen=True)
class ResponseFormat:
    """The answer to every long-poll held on the channel."""

    code: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclasses.dataclass(frozen=True)
class GripItem:
    """One publish to one channel, with the formats the stand-in delivers."""

    channel: str
    id: str | None = None
    prev_id: str | None = None
    no_seq: bool = False
    stream: StreamFormat | None = None
    response: ResponseFormat | None = None


def _formats(item: dict[str, Any]) -> dict[str, Any] | None:
    formats = item.get("formats")
    if formats is None:
        return {name: item[name] for name in GRIP_FORMATS if name in item}
    return formats if isinstance(formats, dict) else None


def carries_grip_format(item: Any) -> bool:
    """Whether ``item`` has any GRIP format (and so is checked here)."""
    if not isinstance(item, dict):
        return False
    formats = _formats(item)
    return formats is not None and any(name in formats for name in GRIP_FORMATS)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadGripItem(f"{what} must be a string, got {type(value).__name__}")
    return value


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(_text(value, what), validate=True)
    except (binascii.Error, ValueError):
        raise BadGripItem(f"{what} is not valid base64") from None


def _action(fmt: dict[str, Any], what: str, allowed: Sequence[str]) -> str:
    action = fmt.get("action", "send")
    if action is None:
        action = "send"
    if action not in ("send", "close", "hint"):
        raise BadGripItem(f"{what}: unknown action {action!r}")
    if action not in allowed:
        raise BadGripItem(
            f"{what}: action {action!r} is not supported by the local realm's "
            "GRIP stand-in"
        )
    return str(action)


def _unsupported(fmt: dict[str, Any], what: str, *keys: str) -> None:
    for key in keys:
        if key in fmt:
            raise BadGripItem(
                f"{what}: {key!r} is not supported by the local realm's GRIP stand-in"
            )


def _stream(value: Any) -> StreamFormat:
    what = "'http-stream'"
    if not isinstance(value, dict):
        raise BadGripItem(f"{what} is not an object")
    if _action(value, what, ("send", "close")) == "close":
        return StreamFormat(close=True)
    _unsupported(value, what, "content-filters")
    if "content-bin" in value:
        return StreamFormat(False, _b64(value["content-bin"], f"{what} 'content-bin'"))
    if "content" in value:
        content = _text(value["content"], f"{what} 'content'")
        return StreamFormat(False, content.encode())
    raise BadGripItem(f"{what} does not contain 'content' or 'content-bin'")


def _header(name: Any, value: Any) -> tuple[str, str]:
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise BadGripItem(f"'http-response' header name {name!r} is not a valid token")
    if not isinstance(value, str):
        raise BadGripItem(f"'http-response' header {name!r} must have a string value")
    if _BAD_VALUE.search(value):
        raise BadGripItem(
            f"'http-response' header {name!r} contains a control character"
        )
    return name, value


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, dict):
        pairs = [_header(name, v) for name, v in value.items()]
    elif isinstance(value, list):
        pairs = []
        for entry in value:
            if not isinstance(entry, list) or len(entry) != 2:
                raise BadGripItem(
                    "'http-response' headers list entries must be [name, value] pairs"
                )
            pairs.append(_header(entry[0], entry[1]))
    else:
        raise BadGripItem(
            "'http-response' headers must be an object or a list of [name, value] pairs"
        )
    # Grip-* headers in a push are instructions to the proxy, never sent on
    # (Pushpin strips them too); framing headers are the server's business.
    return tuple(
        (name, v)
        for name, v in pairs
        if not name.lower().startswith("grip-") and name.lower() not in _FRAMING
    )


def _response(value: Any) -> ResponseFormat:
    what = "'http-response'"
    if not isinstance(value, dict):
        raise BadGripItem(f"{what} is not an object")
    _action(value, what, ("send",))
    _unsupported(value, what, "content-filters", "body-patch")
    code = value.get("code", 200)
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 999:
        raise BadGripItem(f"{what} 'code' must be an integer status from 100 to 999")
    reason = value.get("reason")
    if reason is None or reason == "":
        try:
            reason = http.HTTPStatus(code).phrase
        except ValueError:
            reason = "Unknown"
    reason = _text(reason, f"{what} 'reason'")
    if _BAD_VALUE.search(reason):
        raise BadGripItem(f"{what} 'reason' contains a control character")
    headers = _headers(value.get("headers", {}))
    if "body-bin" in value:
        body = _b64(value["body-bin"], f"{what} 'body-bin'")
    elif "body" in value:
        body = _text(value["body"], f"{what} 'body'").encode()
    else:
        raise BadGripItem(f"{what} does not contain 'body' or 'body-bin'")
    return ResponseFormat(code, reason, headers, body)


def _optional_id(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    text = _text(value, f"{key!r}")
    if len(text) > MAX_ID_LENGTH:
        raise BadGripItem(f"{key!r} is longer than {MAX_ID_LENGTH} characters")
    return text


def parse_item(item: dict[str, Any]) -> GripItem:
    """The GRIP side of one item whose channel was already checked.

    :raises BadGripItem: naming the format or field at fault.
    """
    formats = _formats(item)
    if formats is None:
        raise BadGripItem("'formats' must be an object")
    no_seq = item.get("no-seq", False)
    if not isinstance(no_seq, bool):
        raise BadGripItem("'no-seq' must be true or false")
    if "ws-message" in formats and not isinstance(formats["ws-message"], dict):
        raise BadGripItem("'ws-message' is not an object")
    return GripItem(
        channel=str(item["channel"]),
        id=_optional_id(item, "id"),
        prev_id=_optional_id(item, "prev-id"),
        no_seq=no_seq,
        stream=_stream(formats["http-stream"]) if "http-stream" in formats else None,
        response=(
            _response(formats["http-response"]) if "http-response" in formats else None
        ),
    )


def parse_items(items: Sequence[Any]) -> list[GripItem]:
    """The GRIP items among ``items``, all checked before any is delivered.

    Items without a GRIP format are skipped (the Bayeux engine takes their
    ``json-object``).

    :raises BadGripItem: ``"Item <n>: <problem>"``.
    """
    parsed: list[GripItem] = []
    for number, item in enumerate(items):
        if not carries_grip_format(item):
            continue
        try:
            parsed.append(parse_item(item))
        except BadGripItem as exc:
            raise BadGripItem(f"Item {number}: {exc}") from None
    return parsed
