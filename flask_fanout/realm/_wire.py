"""Wire channels: the channel names the realm accepts from publishers.

A wire channel is ``FANOUT_CHANNEL_PREFIX`` plus a channel name, both made of
the characters of :mod:`flask_fanout._channels`, so the realm must accept
everything the extension can publish: up to 64 + 128 characters. (0.1
checked wire names with the rule for names *without* the prefix, so a
prefixed name of 129 characters or more was refused, and the whole batch
with it.)
"""

from __future__ import annotations

import re

from flask_fanout._channels import CHANNEL_CHARS
from flask_fanout._channels import MAX_CHANNEL_LENGTH
from flask_fanout._channels import RESERVED
from flask_fanout._config import MAX_PREFIX_LENGTH

#: The longest wire channel: the longest prefix plus the longest name.
#: Stands in for the wire rule that ``flask_fanout._channels`` is to define.
MAX_WIRE_LENGTH = MAX_PREFIX_LENGTH + MAX_CHANNEL_LENGTH

_WIRE = re.compile(f"[{CHANNEL_CHARS}]+")


def wire_channel_problem(name: str) -> str | None:
    """Why ``name`` is not a publishable wire channel, or ``None`` if it is."""
    if not name:
        return "it is empty"
    if len(name) > MAX_WIRE_LENGTH:
        return f"it is {len(name)} characters long; the limit is {MAX_WIRE_LENGTH}"
    if name in RESERVED:
        return f"{name!r} is reserved by the Bayeux protocol"
    if not _WIRE.fullmatch(name):
        return (
            "a channel is one Bayeux segment of letters, digits and "
            "- _ ! ~ ( ) $ @ (no '/', no wildcard)"
        )
    return None
