"""What a publish is, and its validation.

A publish is validated and serialised synchronously, in the caller's thread:
a bad channel, unserialisable data or an oversized item is a programming
error and has to fail where it was made, naming the channel. The result, a
:class:`Message`, carries its item already laid out for the wire by the
backend, so the sender only concatenates items into batches, and a batch's
size in bytes is known before it is sent.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any
from typing import NamedTuple

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from ._channels import validate_channel
from ._errors import InvalidPublishError

#: Bytes a batch body adds around its items: ``{"items":[`` … ``]}``.
BODY_OVERHEAD = len('{"items":[]}')


@dataclasses.dataclass(frozen=True, slots=True)
class Publish:
    """One accepted publish, as recorded and as reported by the signals.

    :param channel: The logical channel, as given to ``publish()`` (without
        ``FANOUT_CHANNEL_PREFIX``).
    :param data: The data as given. It was serialised when it was accepted,
        so later changes to the object do not change what is sent.
    :param id: The item id, if any.
    :param prev_id: The previous item id, if any.

    .. versionadded:: 0.1
    """

    channel: str
    data: Any
    id: str | None = None
    prev_id: str | None = None


class Message(NamedTuple):
    """A validated publish, laid out for the wire (internal)."""

    publish: Publish
    wire_channel: str
    #: ``data`` serialised once, at publish time (compact, ASCII, finite).
    text: str
    #: The whole item as JSON, as the backend lays it out.
    item: str


#: Lays out one item: ``(message fields) -> JSON text of the item``.
ItemFormat = Callable[[Publish, str, str], str]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} overflows to infinity, which is not JSON")
    return value


def check_strict_json(text: str) -> None:
    """Raise ``ValueError`` unless ``text`` is JSON a browser can parse.

    ``NaN``, ``Infinity`` and numbers that overflow to infinity (``1e999``)
    pass Python's parser but not ``JSON.parse``: one of them in a hint would
    make every subscriber drop the frame (and, over long-polling, the whole
    response with the valid hints that shared it).
    """
    json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)


def json_encoder(app: Flask) -> Callable[[Any], str]:
    """How ``app`` turns publish data into JSON: its JSON provider, made strict.

    With Flask's default provider (or a subclass that only changes
    ``default``), the data goes through a compact, ASCII-only encoder that
    uses the provider's ``default`` hook (UUIDs, dates, dataclasses, …) and
    refuses non-finite floats. ASCII because strings may hold lone surrogates,
    which are valid JSON escaped and unencodable raw. Another provider's
    ``dumps`` (orjson, say) is used as it is, and its output checked.
    """
    provider = app.json
    if (
        isinstance(provider, DefaultJSONProvider)
        and type(provider).dumps is DefaultJSONProvider.dumps
    ):
        return json.JSONEncoder(
            default=provider.default,
            allow_nan=False,
            separators=(",", ":"),
            ensure_ascii=True,
        ).encode

    def dumps(value: Any) -> str:
        text = provider.dumps(value)
        check_strict_json(text)
        return text

    return dumps


def prepare(
    *,
    channel: object,
    data: Any,
    id: object,
    prev_id: object,
    prefix: str,
    encode: Callable[[Any], str],
    layout: ItemFormat,
    max_item_bytes: int,
) -> Message:
    """Validate one publish, serialise its data and lay out its item.

    :raises InvalidChannelError: for a bad channel name.
    :raises InvalidPublishError: for unserialisable data, a bad id, or an
        item larger than ``max_item_bytes`` (``FANOUT_BATCH_BYTES``).
    """
    name = validate_channel(channel)
    for label, value in (("id", id), ("prev_id", prev_id)):
        if value is not None and (type(value) is not str or not value):
            raise InvalidPublishError(
                name, f"{label} must be a non-empty str or None, got {value!r}"
            )
    try:
        text = encode(data)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidPublishError(
            name, f"data is not JSON-serialisable: {exc}"
        ) from exc
    publish = Publish(name, data, id, prev_id)  # type: ignore[arg-type]
    wire = prefix + name
    item = layout(publish, wire, text)
    size = len(item) + BODY_OVERHEAD
    if size > max_item_bytes:
        raise InvalidPublishError(
            name,
            f"the item is {size} bytes on the wire, more than FANOUT_BATCH_BYTES "
            f"({max_item_bytes}); publish a smaller hint and let the page refetch",
        )
    return Message(publish, wire, text, item)
