"""The realm's settings, and the typed keys it keeps on its ``aiohttp`` app."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from flask_fanout.realm._bayeux import Engine
from flask_fanout.realm._grip_cors import check_allowed_origin
from flask_fanout.realm._grip_forward import check_origin

#: The shortest realm key accepted: 128 bits. An empty key (``--key ""``
#: from an unset shell variable) would accept tokens anyone can sign.
MIN_KEY_BYTES = 16


@dataclasses.dataclass(frozen=True)
class Settings:
    """The realm's identity and switches, fixed when it starts.

    :raises ValueError: for an empty realm id or a key shorter than
        :data:`MIN_KEY_BYTES`, saying so.
    """

    realm_id: str
    #: The decoded realm key: the HS256 secret of publish tokens.
    key: bytes = dataclasses.field(repr=False)
    #: ``False`` refuses WebSocket upgrades (to test fallbacks).
    websocket: bool = True
    #: Host header values served besides the built-in ones (see ``_hosts``).
    allowed_hosts: tuple[str, ...] = ()
    #: Listen beyond loopback even with the public development key.
    allow_public_dev_key: bool = False
    #: GRIP stand-in: the app's base URL that stream requests are forwarded
    #: to (``None`` until known, see ``LocalRealm.set_origin``), and page
    #: origins granted CORS besides those on the realm's own host.
    origin: str | None = None
    allowed_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Checked (and normalised) here, once, so that a bad --origin or
        # --allow-origin fails at start-up, naming the value, rather than as
        # a 502 on the first stream request.
        if self.origin is not None:
            object.__setattr__(self, "origin", check_origin(self.origin))
        if isinstance(self.allowed_origins, str):
            raise ValueError("allowed_origins is a list of origins, not one string")
        object.__setattr__(
            self,
            "allowed_origins",
            tuple(check_allowed_origin(o) for o in self.allowed_origins),
        )
        if not self.realm_id:
            raise ValueError("the realm id is empty")
        if not isinstance(self.key, bytes):
            raise TypeError("Settings.key is the decoded key, as bytes")
        if len(self.key) < MIN_KEY_BYTES:
            raise ValueError(
                f"the realm key is {len(self.key)} bytes long; at least "
                f"{MIN_KEY_BYTES} are needed. Make one with: python -c "
                '"import base64, os; print(base64.b64encode(os.urandom(32)).decode())"'
            )


ENGINE_KEY = web.AppKey("engine", Engine)
SETTINGS_KEY = web.AppKey("settings", Settings)
