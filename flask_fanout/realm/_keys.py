"""Typed keys for what the realm keeps on its ``aiohttp`` application."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from flask_fanout.realm._bayeux import Engine
from flask_fanout.realm._grip_options import GripOptions


@dataclasses.dataclass(frozen=True)
class Settings:
    """The realm's identity and switches, fixed when it starts."""

    realm_id: str
    #: The decoded realm key: the HS256 secret of publish tokens.
    key: bytes = dataclasses.field(repr=False)
    websocket: bool = True
    #: The GRIP stand-in: origin, CORS origins, bounds.
    grip: GripOptions = dataclasses.field(default_factory=GripOptions)


ENGINE_KEY = web.AppKey("engine", Engine)
SETTINGS_KEY = web.AppKey("settings", Settings)
