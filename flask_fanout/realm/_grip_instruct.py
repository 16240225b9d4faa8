"""Reading the app's GRIP instructions from the headers of its answer.

The rules are Pushpin's (1.36, ``src/handler/instruct.cpp`` and its header
parameter parser), so an answer the stand-in accepts is one Pushpin accepts
and means the same there:

* ``Grip-Hold``: ``stream`` or ``response``; anything else is an error.
* ``Grip-Channel``: comma-separated entries, across any number of header
  lines, each ``name`` plus ``; key=value`` parameters (values may be
  quoted); ``prev-id`` is the only parameter with a meaning here. Names
  must pass the wire-channel rule (``flask_fanout._channels``), stricter
  than Pushpin, because nothing could ever be published to any other name.
* ``Grip-Timeout``: whole seconds, default 55, raised to at least 5.
* ``Grip-Keep-Alive``: ``<data>; format=raw|cstring|base64;
  timeout=N; mode=idle|interval``; format defaults to raw, mode to idle,
  timeout to 55, raised to at least 1.
* ``Grip-Status``: ``<code> [reason]`` replaces the answer's status.

An answer that breaks a rule is an :class:`InstructError`, which the proxy
turns into a 502 naming the header, as Pushpin does.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import http
from collections.abc import Iterable

from flask_fanout._channels import validate_wire_channel
from flask_fanout._errors import InvalidChannelError

#: Pushpin's ``DEFAULT_RESPONSE_TIMEOUT`` and ``MINIMUM_RESPONSE_TIMEOUT``.
DEFAULT_TIMEOUT = 55
MINIMUM_TIMEOUT = 5
#: Pushpin's keep-alive timeout when the header gives none, and its floor.
DEFAULT_KEEP_ALIVE_TIMEOUT = 55
MINIMUM_KEEP_ALIVE_TIMEOUT = 1

Params = list[tuple[str, str | None]]


class InstructError(ValueError):
    """The app's GRIP headers cannot be followed; the message names the header."""


@dataclasses.dataclass(frozen=True)
class Channel:
    """One ``Grip-Channel`` entry."""

    name: str
    prev_id: str | None = None


@dataclasses.dataclass(frozen=True)
class KeepAlive:
    """What to write to an idle stream, and when."""

    data: bytes
    #: Seconds (at least 1).
    timeout: int
    #: ``"idle"``: after that long without output; ``"interval"``: every time.
    mode: str = "idle"


@dataclasses.dataclass(frozen=True)
class Instruct:
    """What the app asked the proxy to do with one request."""

    hold: str  # "stream" or "response"
    channels: tuple[Channel, ...]
    #: Seconds a response hold lasts before the app's own answer is sent.
    timeout: int = DEFAULT_TIMEOUT
    keep_alive: KeepAlive | None = None
    #: ``Grip-Status``: replaces the status line of the answer.
    status: tuple[int, str] | None = None
    #: A ``Grip-Link`` with ``rel=next`` was given (reliable mode).
    next_link: bool = False


def _find_unquoted(text: str, chars: str, start: int) -> int:
    """Index of the first of ``chars`` outside double quotes; ``-1`` if none.

    Raises on an unterminated quote or a trailing backslash in one.
    """
    quoted = False
    index = start
    while index < len(text):
        char = text[index]
        if quoted:
            if char == "\\":
                index += 1
                if index >= len(text):
                    raise InstructError("a quoted value ends with a backslash")
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in chars:
            return index
        index += 1
    if quoted:
        raise InstructError("a quoted value is not terminated")
    return -1


def split_list(value: str) -> list[str]:
    """A comma-separated header value split into its (trimmed) entries.

    Commas inside double quotes do not split; empty entries are dropped.
    """
    parts: list[str] = []
    start = 0
    while start <= len(value):
        end = _find_unquoted(value, ",", start)
        if end == -1:
            end = len(value)
        part = value[start:end].strip()
        if part:
            parts.append(part)
        start = end + 1
    return parts


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The quoted string opening at ``text[start]``, unescaped, and where it ends."""
    out: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            if index + 1 >= len(text):
                break
            out.append(text[index + 1])
            index += 2
        elif char == '"':
            return "".join(out), index + 1
        else:
            out.append(char)
            index += 1
    raise InstructError("a quoted value is not terminated")


def parse_params(value: str) -> Params:
    """``first; a=1; b="x;y"; c`` as ``[("first", None), ("a", "1"), ...]``.

    The first element is taken verbatim up to the first ``;`` (it is a
    channel name or keep-alive data, never ``key=value``); keys are
    lower-cased; a quoted value may hold ``;`` and ``,`` and backslash
    escapes.
    """
    first, sep, rest = value.partition(";")
    params: Params = [(first.strip(), None)]
    if not sep:
        return params
    start = 0
    while start < len(rest):
        at = _find_unquoted(rest, "=;", start)
        if at == -1:
            key = rest[start:].strip()
            if key:
                params.append((key.lower(), None))
            break
        key = rest[start:at].strip().lower()
        if rest[at] == ";":
            if key:
                params.append((key, None))
            start = at + 1
            continue
        vstart = at + 1
        while vstart < len(rest) and rest[vstart] in " \t":
            vstart += 1
        if vstart < len(rest) and rest[vstart] == '"':
            text, after = _read_quoted(rest, vstart)
            params.append((key, text))
            semi = rest.find(";", after)
            start = len(rest) if semi == -1 else semi + 1
        else:
            semi = rest.find(";", vstart)
            end = len(rest) if semi == -1 else semi
            params.append((key, rest[vstart:end].strip()))
            start = end + 1
    return params


def _param(params: Params, key: str) -> str | None:
    for name, value in params[1:]:
        if name == key:
            return value if value is not None else ""
    return None


def _int(text: str | None, what: str) -> int:
    try:
        if text is None:
            raise ValueError
        number = int(text.strip())
    except ValueError:
        raise InstructError(f"{what} is not a whole number: {text!r}") from None
    if number < 0:
        raise InstructError(f"{what} must not be negative: {number}")
    return number


_ESCAPES = {"\\": "\\", "r": "\r", "n": "\n"}


def unescape_cstring(text: str) -> bytes:
    r"""Pushpin's ``cstring`` keep-alive format: ``\\ \r \n \xHH`` escapes.

    Other characters stand for themselves (as UTF-8); any other escape, or a
    truncated one, is an error.
    """
    out = bytearray()
    index = 0
    while index < len(text):
        char = text[index]
        if char != "\\":
            out += char.encode()
            index += 1
            continue
        if index + 1 >= len(text):
            raise InstructError("Grip-Keep-Alive: cstring data ends with a backslash")
        code = text[index + 1]
        if code in _ESCAPES:
            out += _ESCAPES[code].encode()
            index += 2
        elif code == "x":
            digits = text[index + 2 : index + 4]
            try:
                if len(digits) != 2:
                    raise ValueError
                out.append(int(digits, 16))
            except ValueError:
                raise InstructError(
                    f"Grip-Keep-Alive: bad \\x escape {text[index : index + 4]!r}"
                ) from None
            index += 4
        else:
            raise InstructError(f"Grip-Keep-Alive: unknown escape \\{code}")
    return bytes(out)


def _keep_alive(value: str) -> KeepAlive:
    params = parse_params(value)
    data_text = params[0][0]
    if not data_text:
        raise InstructError("Grip-Keep-Alive: the data is empty")
    mode = _param(params, "mode") or "idle"
    if mode not in ("idle", "interval"):
        raise InstructError(f"Grip-Keep-Alive: no such mode {mode!r}")
    timeout_text = _param(params, "timeout")
    timeout = (
        DEFAULT_KEEP_ALIVE_TIMEOUT
        if timeout_text is None
        else _int(timeout_text, "Grip-Keep-Alive timeout")
    )
    fmt = _param(params, "format") or "raw"
    if fmt == "raw":
        data = data_text.encode()
    elif fmt == "cstring":
        data = unescape_cstring(data_text)
    elif fmt == "base64":
        try:
            data = base64.b64decode(data_text, validate=True)
        except (binascii.Error, ValueError):
            raise InstructError("Grip-Keep-Alive: the data is not base64") from None
    else:
        raise InstructError(f"Grip-Keep-Alive: no such format {fmt!r}")
    return KeepAlive(data, max(timeout, MINIMUM_KEEP_ALIVE_TIMEOUT), mode)


def _status(value: str) -> tuple[int, str]:
    code_text, _, reason = value.strip().partition(" ")
    try:
        code = int(code_text)
    except ValueError:
        code = -1
    if not 100 <= code <= 999:
        raise InstructError(f"Grip-Status has an invalid status code: {value!r}")
    if not reason:
        try:
            reason = http.HTTPStatus(code).phrase
        except ValueError:
            reason = "Unknown"
    return code, reason.strip()


def _channels(values: Iterable[str]) -> tuple[Channel, ...]:
    channels: dict[str, Channel] = {}
    for value in values:
        for entry in split_list(value):
            params = parse_params(entry)
            name = params[0][0]
            if not name:
                raise InstructError(f"Grip-Channel entry {entry!r} has no channel name")
            try:
                validate_wire_channel(name)
            except InvalidChannelError as exc:
                raise InstructError(f"Grip-Channel: {exc}"[:300]) from None
            if name not in channels:
                channels[name] = Channel(name, _param(params, "prev-id"))
    return tuple(channels.values())


def _next_link(values: Iterable[str]) -> bool:
    for value in values:
        for entry in split_list(value):
            params = parse_params(entry)
            if _param(params, "rel") == "next":
                link = params[0][0]
                if len(link) <= 2 or not (link.startswith("<") and link.endswith(">")):
                    raise InstructError(f"Grip-Link: cannot read the link {link!r}")
                return True
    return False


def parse_instruct(headers: Iterable[tuple[str, str]]) -> Instruct | None:
    """The instruction in ``headers`` (name, value pairs), or ``None``.

    ``None`` means the answer holds nothing (no ``Grip-Hold``) and is passed
    through to the browser as it is.

    :raises InstructError: naming the header that cannot be followed.
    """
    by_name: dict[str, list[str]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower.startswith("grip-"):
            by_name.setdefault(lower, []).append(value)
    holds = by_name.get("grip-hold")
    if not holds:
        return None
    hold = holds[0].strip()
    if hold not in ("stream", "response"):
        raise InstructError(
            f"Grip-Hold must be 'stream' or 'response', not {hold[:40]!r}"
        )
    timeout = DEFAULT_TIMEOUT
    if "grip-timeout" in by_name:
        timeout = _int(by_name["grip-timeout"][0], "Grip-Timeout")
    keep_alive = None
    if "grip-keep-alive" in by_name:
        keep_alive = _keep_alive(by_name["grip-keep-alive"][0])
    status = None
    if by_name.get("grip-status", [""])[0].strip():
        status = _status(by_name["grip-status"][0])
    return Instruct(
        hold=hold,
        channels=_channels(by_name.get("grip-channel", [])),
        timeout=max(timeout, MINIMUM_TIMEOUT),
        keep_alive=keep_alive,
        status=status,
        next_link=_next_link(by_name.get("grip-link", [])),
    )
