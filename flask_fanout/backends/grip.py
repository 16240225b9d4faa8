"""The GRIP backend: Pushpin, Fastly Fanout, or the local realm standing in.

Each publish becomes one item with two formats, one for each kind of
connection the proxy may be holding for a browser:

* ``http-stream``: an SSE ``message`` event, for held streams;
* ``http-response``: a whole JSON answer, for held long-polls.

Both carry ``{"channel": <logical channel>, "data": <data>}``. The formats
are laid out by gripcontrol's :class:`~gripcontrol.HttpStreamFormat` and
:class:`~gripcontrol.HttpResponseFormat`, and sit under ``"formats"``, the
item shape Fastly documents for its publish API and Pushpin accepts too.
The browser's side of the conversation, the stream endpoint, is in
``_grip_stream``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask import url_for
from gripcontrol import HttpResponseFormat
from gripcontrol import HttpStreamFormat

from .._client import Endpoint
from .._message import Publish
from .._settings import BackendName
from .._settings import FanoutConfig
from . import local_origin
from ._grip_sig import check_verifiers
from ._grip_stream import ENDPOINT
from ._grip_stream import PATH
from ._grip_stream import events_view

_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode
#: Headers of a published long-poll answer (it replaces the held one).
POLL_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}
_LOCAL_HINT = (
    " (is the local realm running? Start it with `flask fanout realm`, "
    "or let the development server embed it)"
)


def hint_event(channel: str, text: str) -> str:
    """The JSON of one hint as the browser receives it; ``text`` is the data."""
    return '{"channel":' + _ENCODE(channel) + ',"data":' + text + "}"


class GripBackend:
    """See the module docstring."""

    name: BackendName = "grip"

    def endpoints(self, config: FanoutConfig) -> list[Endpoint]:
        hint = _LOCAL_HINT if config.local else ""
        return [
            Endpoint(
                name=proxy.control_uri,
                url=proxy.publish_url,
                iss=proxy.iss,
                key=proxy.key,
                unreachable_hint=hint,
            )
            for proxy in config.grip_url or ()
        ]

    def layout(self, publish: Publish, wire_channel: str, text: str) -> str:
        event = hint_event(publish.channel, text)
        formats = [
            HttpStreamFormat(f"event: message\ndata: {event}\n\n"),
            HttpResponseFormat(
                code=200, headers=POLL_HEADERS, body='{"hints":[' + event + "]}"
            ),
        ]
        item: dict[str, Any] = {"channel": wire_channel}
        if publish.id is not None:
            item["id"] = publish.id
        if publish.prev_id is not None:
            item["prev-id"] = publish.prev_id
        item["formats"] = {f.name(): f.export() for f in formats}
        return _ENCODE(item)

    def page_config(
        self, config: FanoutConfig, page_host: str | None
    ) -> dict[str, Any]:
        stream_url = config.stream_url
        if stream_url is None:
            path = _stream_path()
            stream_url = (
                local_origin(config, page_host) + path if config.local else path
            )
        assert config.keep_alive is not None
        assert config.long_poll_timeout is not None
        return {
            "streamUrl": stream_url,
            "maxChannels": config.max_channels,
            "keepAlive": round(config.keep_alive * 1000),
            "longPollTimeout": round(config.long_poll_timeout * 1000),
        }

    def init_app(self, app: Flask, config: FanoutConfig, ext: Any) -> None:
        """Register the stream endpoint and check the verification keys."""
        check_verifiers([p.verifier for p in config.grip_url or () if p.verifier])
        app.add_url_rule(PATH, endpoint=ENDPOINT, view_func=events_view(ext))


def _stream_path() -> str:
    try:
        return url_for(ENDPOINT)
    except RuntimeError:
        # Outside a request and without SERVER_NAME: the app root's path.
        from flask import current_app

        root = str(current_app.config.get("APPLICATION_ROOT") or "/").rstrip("/")
        return root + PATH


GRIP = GripBackend()
