"""Exceptions raised by Flask-Fanout.

Every error that a caller can act on has its own class and carries the
offending value as an attribute, so that applications can handle a bad channel
name differently from an unreachable endpoint, and so that messages name the
exact setting or channel at fault instead of surfacing an ``AssertionError``
from deep inside a dependency.
"""

from __future__ import annotations

from collections.abc import Sequence


class FanoutError(Exception):
    """Base class of every Flask-Fanout error.

    .. versionadded:: 0.1
    """


class FanoutConfigError(FanoutError, ValueError):
    """A ``FANOUT_*`` setting is missing or malformed.

    Raised by ``init_app`` so that a deployment with a bad setting fails at
    start-up, with the name of the key, rather than at its first publish.

    :param key: The name of the offending ``app.config`` key.
    :param problem: What is wrong with it. Never includes a secret value.

    .. versionadded:: 0.1
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        #: The ``FANOUT_*`` key at fault.
        self.key = key


class InvalidChannelError(FanoutError, ValueError):
    """A channel name that a Fanout realm or a Bayeux client cannot carry.

    .. versionadded:: 0.1
    """

    def __init__(self, channel: object, problem: str) -> None:
        super().__init__(f"invalid channel {channel!r}: {problem}")
        #: The rejected value, as given.
        self.channel = channel


class InvalidPublishError(FanoutError, TypeError, ValueError):
    """The data, ``id`` or ``prev_id`` of a publish cannot be sent.

    It subclasses both :class:`TypeError` and :class:`ValueError`: ``json``
    raises either depending on the problem (an unknown type, or a NaN or a
    circular reference), and callers should not have to guess which.

    .. versionadded:: 0.1
    """

    def __init__(self, channel: str, problem: str) -> None:
        super().__init__(f"cannot publish to channel {channel!r}: {problem}")
        #: The (logical) channel of the rejected publish.
        self.channel = channel


class PublishError(FanoutError):
    """The publish endpoint refused or failed a publish.

    Raised by ``publish(..., blocking=True)``; for non-blocking publishes the
    same object is logged and sent with the
    :data:`~flask_fanout.signals.publish_failed` signal instead of being
    raised into a view.

    :param status: The HTTP status the endpoint answered, or ``None`` when no
        answer came (connection refused, timeout, DNS failure).
    :param message: The endpoint's message, or a description of the network
        error. It never contains the realm key or the token.
    :param channels: The logical channels of the publishes in the failed
        request, in order, without duplicates.
    :param endpoint: The endpoint that failed, as shown in messages (its URL,
        without secrets), when known. With several GRIP proxies a publish can
        fail on one and reach the others.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        The ``endpoint`` attribute.
    """

    def __init__(
        self,
        status: int | None,
        message: str,
        channels: Sequence[str] = (),
        *,
        endpoint: str | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.channels: tuple[str, ...] = tuple(dict.fromkeys(channels))
        self.endpoint = endpoint
        super().__init__(status, message, self.channels)

    def __str__(self) -> str:
        where = ", ".join(self.channels) if self.channels else "(no channel)"
        what = f"HTTP {self.status}" if self.status is not None else "no response"
        via = f" via {self.endpoint}" if self.endpoint else ""
        return f"publish to {where}{via} failed: {what}: {self.message}"
