"""The Bayeux backend: the local realm or a Fanout Cloud realm, and Faye.

Items carry the ``json-object`` format, which the realm hands to its Bayeux
subscribers unchanged; pages load Faye and subscribe to ``/<wire channel>``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from pubcontrol import Format
from pubcontrol import Item

from .._client import Endpoint
from .._local import base_url
from .._message import Publish
from .._settings import BackendName
from .._settings import FanoutConfig
from . import local_origin

_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
#: Stands for an item's data in pubcontrol's export (see ``layout``).
_DATA = object()
_LOCAL_HINT = (
    " (is the local realm running? Start it with `flask fanout realm`, "
    "or let the development server embed it)"
)


class _JsonObject(Format):  # type: ignore[misc]
    """The ``json-object`` format: the value subscribers receive as-is.

    The ``fanout`` package has the same class; it is not a dependency, and
    pubcontrol only ships the :class:`~pubcontrol.Format` base.
    """

    def __init__(self, value: Any) -> None:
        self.value = value

    def name(self) -> str:
        return "json-object"

    def export(self) -> Any:
        return self.value


class BayeuxBackend:
    """See the module docstring."""

    name: BackendName = "bayeux"

    def endpoints(self, config: FanoutConfig) -> list[Endpoint]:
        assert config.publish_url is not None
        return [
            Endpoint(
                name=config.publish_url,
                url=config.publish_url + "/publish/",
                iss=config.realm_id,
                key=config.realm_key,
                unreachable_hint=_LOCAL_HINT if config.local else "",
            )
        ]

    def layout(self, publish: Publish, wire_channel: str, text: str) -> str:
        # pubcontrol's Item lays out the item (the format name as a key, "id"
        # and "prev-id" only when set). The data was serialised once, at
        # publish time; a sentinel stands in for it so that the text is
        # spliced in rather than parsed and serialised again.
        item = Item(_JsonObject(_DATA), id=publish.id, prev_id=publish.prev_id).export()
        item["channel"] = wire_channel
        fields = [
            f"{_ENCODE(key)}:{text if value is _DATA else _ENCODE(value)}"
            for key, value in item.items()
        ]
        return "{" + ",".join(fields) + "}"

    def page_config(
        self, config: FanoutConfig, page_host: str | None
    ) -> dict[str, Any]:
        from .. import _assets

        bayeux_url = config.bayeux_url
        default = base_url(config.local_realm_host, config.local_realm_port) + "/bayeux"
        if config.local and bayeux_url == default:
            bayeux_url = local_origin(config, page_host) + "/bayeux"
        faye_url, faye_integrity = _assets.faye_source(config)
        return {
            "bayeuxUrl": bayeux_url,
            "fayeUrl": faye_url,
            "fayeIntegrity": faye_integrity,
            "channelPrefix": config.channel_prefix,
        }

    def init_app(self, app: Flask, config: FanoutConfig, ext: Any) -> None:
        """Bayeux adds no routes: browsers talk to the realm directly."""


BAYEUX = BayeuxBackend()
