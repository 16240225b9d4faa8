"""Channel names: the one rule shared by publishing, templates and the realm.

A Fanout realm channel ``c`` is the Bayeux channel ``/c`` on the browser
side, so a channel name has to be exactly one Bayeux channel segment. The
Bayeux grammar (and the Faye client, which validates it) allows ASCII
letters, digits and ``- _ ! ~ ( ) $ @`` in a segment. Anything else would be
accepted by the publish API and then silently never reach a browser, which is
why it is rejected here, at the call site, with the reason.
"""

from __future__ import annotations

import re
import uuid

from ._errors import InvalidChannelError

#: The longest logical channel name accepted. The channel prefix is bounded
#: separately (see ``FANOUT_CHANNEL_PREFIX``), so the wire name stays short.
MAX_CHANNEL_LENGTH = 128

#: Characters a Bayeux channel segment may hold.
CHANNEL_CHARS = "A-Za-z0-9\\-_!~()$@"

_VALID = re.compile(f"[{CHANNEL_CHARS}]+")
_BAD_CHAR = re.compile(f"[^{CHANNEL_CHARS}]")

#: First segments Bayeux reserves for protocol messages: ``/meta`` and
#: ``/service`` are never delivered to subscribers.
RESERVED = frozenset({"meta", "service"})


def _problem(name: str) -> str:
    """Describe why ``name`` is invalid (only called on the slow path)."""
    if not name:
        return "it is empty"
    if name.startswith("/"):
        return (
            "it starts with '/'; give the name without it (the browser client adds it)"
        )
    if "*" in name:
        return "wildcards ('*', '**') can be subscribed to but not published to"
    if "/" in name:
        return "it contains '/'; a channel is a single Bayeux segment"
    if len(name) > MAX_CHANNEL_LENGTH:
        return f"it is {len(name)} characters long; the limit is {MAX_CHANNEL_LENGTH}"
    if name in RESERVED:
        return f"{name!r} is reserved by the Bayeux protocol"
    match = _BAD_CHAR.search(name)
    assert match is not None
    allowed = "letters, digits and - _ ! ~ ( ) $ @"
    return f"character {match.group()!r} is not allowed; use {allowed}"


def validate_channel(name: object) -> str:
    """Check that ``name`` is a publishable channel name and return it.

    The rule: a non-empty string of at most :data:`MAX_CHANNEL_LENGTH`
    characters from ``A-Z a-z 0-9 - _ ! ~ ( ) $ @``, not ``meta`` or
    ``service``. No leading ``/`` (the browser side adds it), no wildcard, no
    ``.`` (Faye's channel grammar rejects it).

    :raises InvalidChannelError: naming the problem, when ``name`` breaks a rule.
    :raises TypeError: (as :class:`InvalidChannelError`) when it is not a string.

    .. versionadded:: 0.1
    """
    if type(name) is str:
        if (
            len(name) <= MAX_CHANNEL_LENGTH
            and _VALID.fullmatch(name)
            and name not in RESERVED
        ):
            return name
        raise InvalidChannelError(name, _problem(name))
    if isinstance(name, str):
        # A str subclass: validate (and return) its value as a plain str.
        # Not ``str(name)``: a ``(str, Enum)`` member's str() is "Cls.MEMBER".
        return validate_channel(str.__str__(name))
    raise InvalidChannelError(name, f"expected a str, got {type(name).__name__}")


def channel(*parts: str | int | uuid.UUID) -> str:
    """Build a channel name from parts joined with ``-``.

    ``channel("comments", 123) == "comments-123"``. Building names in one
    place keeps the server and the templates agreeing on them. The prefix
    (``FANOUT_CHANNEL_PREFIX``) is *not* included: it is applied on publish
    and by the browser client on subscribe.

    :raises InvalidChannelError: when a part has another type or the result is
        not a valid channel name.

    .. versionadded:: 0.1
    """
    if not parts:
        raise InvalidChannelError("", "channel() needs at least one part")
    texts = []
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, str | int | uuid.UUID):
            raise InvalidChannelError(
                part,
                f"channel parts must be str, int or UUID, got {type(part).__name__}",
            )
        text = str.__str__(part) if isinstance(part, str) else str(part)
        if not text:
            raise InvalidChannelError(parts, "a part is empty")
        texts.append(text)
    return validate_channel("-".join(texts))
