"""Typed keys for what the realm keeps on its ``aiohttp`` application."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from flask_fanout.realm._bayeux import Engine


@dataclasses.dataclass(frozen=True)
class Settings:
    """The realm's identity and switches, fixed when it starts."""

    realm_id: str
    #: The decoded realm key: the HS256 secret of publish tokens.
    key: bytes = dataclasses.field(repr=False)
    websocket: bool = True


ENGINE_KEY = web.AppKey("engine", Engine)
SETTINGS_KEY = web.AppKey("settings", Settings)
