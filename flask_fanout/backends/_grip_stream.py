"""The stream endpoint, ``GET /_fanout/events``, as a GRIP origin answers it.

Browsers never hold a connection to the app: the GRIP proxy in front
(Pushpin, Fastly, or the local realm in development) forwards the browser's
request, cookies included, and this view answers at once with *instructions*
(``Grip-Hold``, ``Grip-Channel``, ...) that the proxy carries out. So a held
stream costs the app one short request, and a WSGI worker is never tied up.

Checks, in order: the ``Grip-Sig`` (the request really came through our
proxy), the channels (the one channel rule, and ``FANOUT_MAX_CHANNELS``), and
the app's authorizer, called once per channel in this request's context so
that ``session`` and Flask-Login's ``current_user`` work.

Answers an ``EventSource`` can act on: it closes for good on any status but
200, so only a request that can never succeed (forged, malformed) gets a 4xx.
A denied channel is reported in the first event, ``ready``, and left out of
``Grip-Channel``, so nothing published on it reaches this client. A failing
authorizer (a database down, say) is temporary: the answer is a 200 stream
that says ``unavailable`` and ends, and the browser reconnects after
``retry``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Response
from flask import request
from gripcontrol import Channel
from gripcontrol import create_grip_channel_header

from .._channels import validate_channel
from .._errors import InvalidChannelError
from ._grip_sig import problem as sig_problem

logger = logging.getLogger("flask_fanout")

PATH = "/_fanout/events"
ENDPOINT = "fanout_events"
#: Milliseconds the browser waits before reconnecting a stream that ended.
RETRY_MS = 2000
#: ... and after an ``unavailable`` answer.
UNAVAILABLE_RETRY_MS = 5000

_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode
_NO_STORE = {"Cache-Control": "no-store"}


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status, mimetype="text/plain", headers=_NO_STORE)


def _keep_alive(seconds: float) -> str:
    """A keep-alive the page can see: an ``EventSource`` hides SSE comments.

    So the proxy sends a real (empty) ``keep-alive`` event after each idle
    period, and the browser module treats a stream silent for much longer
    than ``keepAlive`` as hung. The backslashes are literal: the cstring
    format has the proxy unescape them.
    """
    return (
        "event: keep-alive\\ndata: {}\\n\\n; format=cstring; "
        f"timeout={max(1, round(seconds))}"
    )


def _event(name: str, data: Any, retry: int) -> str:
    return f"retry: {retry}\nevent: {name}\ndata: {_ENCODE(data)}\n\n"


def _stream(body: str, headers: dict[str, str] | None = None) -> Response:
    response = Response(body, 200, mimetype="text/event-stream", headers=_NO_STORE)
    # nginx in front of the proxy would otherwise buffer what it relays.
    response.headers["X-Accel-Buffering"] = "no"
    response.headers.update(headers or {})
    return response


def _poll(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = Response(
        _ENCODE(body), 200, mimetype="application/json", headers=_NO_STORE
    )
    response.headers.update(headers or {})
    return response


def _channels(names: list[str], limit: int) -> list[str] | Response:
    if not names:
        return _plain(400, "Give at least one channel: ?channel=<name>")
    if len(names) > limit:
        return _plain(
            400,
            f"{len(names)} channels on one stream; the limit is {limit} "
            "(FANOUT_MAX_CHANNELS)",
        )
    for name in names:
        try:
            validate_channel(name)
        except InvalidChannelError as exc:
            return _plain(400, str(exc))
    return list(dict.fromkeys(names))


def events_view(ext: Any) -> Callable[[], Response]:
    """The view function of ``ext``'s stream endpoint."""

    def fanout_events() -> Response:
        config = ext.config
        verifiers = [p.verifier for p in config.grip_url or () if p.verifier]
        refused = sig_problem(request.headers.get("Grip-Sig"), verifiers)
        if refused is not None:
            return _plain(
                403,
                f"Grip-Sig {refused}. This endpoint is only answered through the "
                "GRIP proxy in front of the app (Pushpin, Fastly Fanout, or the "
                "local realm in development); it never holds a request itself.",
            )
        names = _channels(request.args.getlist("channel"), config.max_channels)
        if isinstance(names, Response):
            return names
        poll = request.args.get("mode") == "poll"
        authorize = ext._authorizer
        granted: list[str] = []
        denied: list[str] = []
        try:
            for name in names:
                allowed = True if authorize is None else bool(authorize(name))
                (granted if allowed else denied).append(name)
        except Exception:
            logger.exception(
                "Fanout: the channel authorizer raised; the browser will retry"
            )
            if poll:
                return _poll(
                    {
                        "channels": [],
                        "denied": [],
                        "hints": [],
                        "retry": UNAVAILABLE_RETRY_MS,
                    }
                )
            return _stream(
                _event(
                    "unavailable",
                    {"retry": UNAVAILABLE_RETRY_MS},
                    UNAVAILABLE_RETRY_MS,
                )
            )
        state = {"channels": granted, "denied": denied}
        if not granted or (poll and denied):
            # Nothing to hold (or, for a poll, news the browser must act on
            # now): answer at once, unheld.
            if poll:
                return _poll({**state, "hints": [], "retry": None})
            return _stream(_event("ready", state, RETRY_MS))
        grip = {
            "Grip-Channel": create_grip_channel_header(
                [Channel(config.channel_prefix + name) for name in granted]
            ),
        }
        if poll:
            grip["Grip-Hold"] = "response"
            grip["Grip-Timeout"] = str(round(config.long_poll_timeout))
            return _poll({**state, "hints": [], "retry": None}, grip)
        grip["Grip-Hold"] = "stream"
        grip["Grip-Keep-Alive"] = _keep_alive(config.keep_alive)
        return _stream(_event("ready", state, RETRY_MS), grip)

    return fanout_events
