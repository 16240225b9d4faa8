"""Publishing at the end of a request, and only if it succeeded.

A hint published from the middle of a view can reach browsers before the
view has finished (or even when it then fails), and they will refetch a page
that does not show the change yet, or never will. Deferring the hint to the
end of the request, and dropping it if the request failed, removes that
race for the common case; see ``_sqlalchemy`` for the database-commit case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import g
from flask import has_request_context
from flask.wrappers import Response

from ._message import Message

logger = logging.getLogger("flask_fanout")

_HINTS = "_fanout_deferred"
_STATUS = "_fanout_status"

#: Sends one accepted publish (the extension's dispatch, bound to its state).
Dispatch = Callable[[Message], None]


def hint_key(message: Message) -> tuple[str, str, str | None, str | None]:
    """What makes two hints identical: channel, JSON text, id and prev_id."""
    publish = message.publish
    return (message.wire_channel, message.text, publish.id, publish.prev_id)


def defer(dispatch: Dispatch, message: Message) -> None:
    """Keep ``message`` until the current request ends (internal)."""
    if not has_request_context():
        raise RuntimeError(
            "publish_after_request() needs an active request; "
            "outside one, use publish()"
        )
    hints: dict[Any, tuple[Dispatch, Message]] | None = g.get(_HINTS)
    if hints is None:
        hints = {}
        setattr(g, _HINTS, hints)
    hints.setdefault(hint_key(message), (dispatch, message))


def remember_status(response: Response) -> Response:
    """``after_request`` hook: note the final status for the teardown."""
    if _HINTS in g:
        setattr(g, _STATUS, response.status_code)
    return response


def send_deferred(exc: BaseException | None) -> None:
    """``teardown_request`` hook: send the hints if the request succeeded.

    ``after_request`` alone cannot tell: it does not run for some failures
    and runs with a 500 response for others, while the teardown sees the
    unhandled exception, if any. Both together decide.
    """
    hints: dict[Any, tuple[Dispatch, Message]] | None = g.pop(_HINTS, None)
    status: int | None = g.pop(_STATUS, None)
    if not hints:
        return
    if exc is not None or status is None or status >= 400:
        logger.debug("Fanout: %d deferred hint(s) dropped (request failed)", len(hints))
        return
    for dispatch, message in hints.values():
        try:
            dispatch(message)
        except Exception:
            logger.exception(
                "Fanout: sending a deferred hint to %r failed", message.publish.channel
            )
