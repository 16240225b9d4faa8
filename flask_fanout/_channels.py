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

#: The longest logical channel name accepted (what ``publish()`` and the
#: browser's ``subscribe()`` take).
MAX_CHANNEL_LENGTH = 128

#: The longest ``FANOUT_CHANNEL_PREFIX``.
MAX_PREFIX_LENGTH = 64

#: The longest *wire* channel: prefix plus name. Every receiver of publishes
#: (the local realm, and so every test of it) accepts exactly this much, so
#: that whatever ``publish()`` accepts is also delivered.
MAX_WIRE_LENGTH = MAX_PREFIX_LENGTH + MAX_CHANNEL_LENGTH

#: Characters a Bayeux channel segment may hold.
CHANNEL_CHARS = "A-Za-z0-9\\-_!~()$@"

_VALID = re.compile(f"[{CHANNEL_CHARS}]+")
_PREFIX = re.compile(f"[{CHANNEL_CHARS}]*")
_BAD_CHAR = re.compile(f"[^{CHANNEL_CHARS}]")
#: How the allowed characters read in error messages.
ALLOWED = "letters, digits and - _ ! ~ ( ) $ @"

#: First segments Bayeux reserves for protocol messages: ``/meta`` and
#: ``/service`` are never delivered to subscribers.
RESERVED = frozenset({"meta", "service"})


def _problem(name: str, limit: int = MAX_CHANNEL_LENGTH) -> str:
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
    if len(name) > limit:
        return f"it is {len(name)} characters long; the limit is {limit}"
    if name in RESERVED:
        return f"{name!r} is reserved by the Bayeux protocol"
    match = _BAD_CHAR.search(name)
    assert match is not None
    return f"character {match.group()!r} is not allowed; use {ALLOWED}"


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


def validate_wire_channel(name: object) -> str:
    """Check a *wire* channel (prefix included), as receivers of publishes see it.

    The same grammar as :func:`validate_channel`, with the room the prefix
    takes: at most :data:`MAX_WIRE_LENGTH` characters. The local realm uses it
    for every published item, so a channel ``publish()`` accepted can never be
    refused further down (where the whole batch would be lost with it).

    :raises InvalidChannelError: naming the problem.
    """
    if (
        type(name) is str
        and len(name) <= MAX_WIRE_LENGTH
        and _VALID.fullmatch(name)
        and name not in RESERVED
    ):
        return name
    if not isinstance(name, str):
        raise InvalidChannelError(name, f"expected a str, got {type(name).__name__}")
    raise InvalidChannelError(name, _problem(str.__str__(name), MAX_WIRE_LENGTH))


def prefix_problem(prefix: object) -> str | None:
    """Why ``prefix`` cannot be a ``FANOUT_CHANNEL_PREFIX``, or ``None`` if it can."""
    if not isinstance(prefix, str):
        return f"expected a str, got {type(prefix).__name__}"
    if len(prefix) > MAX_PREFIX_LENGTH or not _PREFIX.fullmatch(prefix):
        return (
            f"expected at most {MAX_PREFIX_LENGTH} of the characters "
            f"A-Z a-z 0-9 - _ ! ~ ( ) $ @, got {prefix!r}"
        )
    return None


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
