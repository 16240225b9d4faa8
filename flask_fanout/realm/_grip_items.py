"""Published GRIP formats: what ``http-stream`` and ``http-response`` hold.

The publish API (``_publish_api``) checks each item's channel and ids with
the one rule for every format, and hands each GRIP format's value to
:func:`check_stream` or :func:`check_response` before anything is
delivered. They read the formats as Pushpin's publish endpoint does (1.36,
``src/handler/publishformat.cpp``), so an item the stand-in takes is one
Pushpin takes:

* ``http-stream``: ``content`` (text) or ``content-bin`` (base64, which
  wins), or ``"action": "close"`` to end the stream;
* ``http-response``: ``code`` (default 200), ``reason`` (default: the
  standard phrase), ``headers`` (an object, or a list of ``[name, value]``
  pairs), ``body`` or ``body-bin`` (base64, which wins).

What the stand-in cannot do is refused with a 400 naming it, rather than
silently done otherwise than Pushpin would: ``"action": "hint"``,
``body-patch`` and ``content-filters``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import http
import re
from collections.abc import Sequence
from typing import Any

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Headers a published response may not set: the server frames the body.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


class BadFormat(ValueError):
    """A GRIP format that cannot be delivered; the message names the field."""


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


@dataclasses.dataclass(frozen=True, slots=True)
class GripItem:
    """One publish to one channel, with the formats the stand-in delivers.

    The formats travel together, so that the sequencer (``_grip_sequence``)
    holds back or releases the whole item at once.
    """

    channel: str
    id: str | None = None
    prev_id: str | None = None
    no_seq: bool = False
    stream: StreamFormat | None = None
    response: ResponseFormat | None = None


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadFormat(f"{what} must be a string, got {type(value).__name__}")
    return value


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(_text(value, what), validate=True)
    except (binascii.Error, ValueError):
        raise BadFormat(f"{what} is not valid base64") from None


def _action(fmt: dict[str, Any], what: str, allowed: Sequence[str]) -> str:
    action = fmt.get("action", "send")
    if action is None:
        action = "send"
    if action not in ("send", "close", "hint"):
        raise BadFormat(f"{what}: unknown action {action!r}")
    if action not in allowed:
        raise BadFormat(
            f"{what}: action {action!r} is not supported by the local realm's "
            "GRIP stand-in"
        )
    return str(action)


def _unsupported(fmt: dict[str, Any], what: str, *keys: str) -> None:
    for key in keys:
        if key in fmt:
            raise BadFormat(
                f"{what}: {key!r} is not supported by the local realm's GRIP stand-in"
            )


def check_stream(value: Any) -> StreamFormat:
    """An ``http-stream`` value, checked.

    :raises BadFormat: naming the field at fault.
    """
    what = "'http-stream'"
    if not isinstance(value, dict):
        raise BadFormat(f"{what} is not an object")
    if _action(value, what, ("send", "close")) == "close":
        return StreamFormat(close=True)
    _unsupported(value, what, "content-filters")
    if "content-bin" in value:
        return StreamFormat(False, _b64(value["content-bin"], f"{what} 'content-bin'"))
    if "content" in value:
        content = _text(value["content"], f"{what} 'content'")
        return StreamFormat(False, content.encode())
    raise BadFormat(f"{what} does not contain 'content' or 'content-bin'")


def _header(name: Any, value: Any) -> tuple[str, str]:
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise BadFormat(f"'http-response' header name {name!r} is not a valid token")
    if not isinstance(value, str):
        raise BadFormat(f"'http-response' header {name!r} must have a string value")
    if _BAD_VALUE.search(value):
        raise BadFormat(f"'http-response' header {name!r} contains a control character")
    return name, value


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, dict):
        pairs = [_header(name, v) for name, v in value.items()]
    elif isinstance(value, list):
        pairs = []
        for entry in value:
            if not isinstance(entry, list) or len(entry) != 2:
                raise BadFormat(
                    "'http-response' headers list entries must be [name, value] pairs"
                )
            pairs.append(_header(entry[0], entry[1]))
    else:
        raise BadFormat(
            "'http-response' headers must be an object or a list of [name, value] pairs"
        )
    # Grip-* headers in a push are instructions to the proxy, never sent on
    # (Pushpin strips them too); framing headers are the server's business.
    return tuple(
        (name, v)
        for name, v in pairs
        if not name.lower().startswith("grip-") and name.lower() not in _FRAMING
    )


def check_response(value: Any) -> ResponseFormat:
    """An ``http-response`` value, checked.

    :raises BadFormat: naming the field at fault.
    """
    what = "'http-response'"
    if not isinstance(value, dict):
        raise BadFormat(f"{what} is not an object")
    _action(value, what, ("send",))
    _unsupported(value, what, "content-filters", "body-patch")
    code = value.get("code", 200)
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 999:
        raise BadFormat(f"{what} 'code' must be an integer status from 100 to 999")
    reason = value.get("reason")
    if reason is None or reason == "":
        try:
            reason = http.HTTPStatus(code).phrase
        except ValueError:
            reason = "Unknown"
    reason = _text(reason, f"{what} 'reason'")
    if _BAD_VALUE.search(reason):
        raise BadFormat(f"{what} 'reason' contains a control character")
    headers = _headers(value.get("headers", {}))
    if "body-bin" in value:
        body = _b64(value["body-bin"], f"{what} 'body-bin'")
    elif "body" in value:
        body = _text(value["body"], f"{what} 'body'").encode()
    else:
        raise BadFormat(f"{what} does not contain 'body' or 'body-bin'")
    return ResponseFormat(code, reason, headers, body)
