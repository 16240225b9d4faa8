"""Reading and validating the ``FANOUT_*`` settings.

CONTRACT (shared by the core, the local realm and the template helpers):
the field names of :class:`FanoutConfig` are fixed. ``load_config`` is owned
by the core and fills them from ``app.config`` with ``setdefault``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

TransportMode = Literal["fallback", "upgrade"]


@dataclasses.dataclass(frozen=True)
class FanoutConfig:
    """The effective, validated configuration of one app.

    It is computed once at ``init_app`` so that a bad setting fails at
    start-up, with the name of the key, rather than at the first publish.
    """

    #: ``FANOUT_REALM_ID``; ``"local"`` when none is configured.
    realm_id: str
    #: The decoded ``FANOUT_REALM_KEY`` (raw bytes). Never rendered or logged.
    realm_key: bytes = dataclasses.field(repr=False)
    #: True when no realm is configured and the local realm stands in.
    local: bool
    #: ``FANOUT_PUBLISH_URL``: pubcontrol-style base, ``.../realm/<realm>``.
    publish_url: str
    #: ``FANOUT_BAYEUX_URL``: what browsers connect to.
    bayeux_url: str
    #: ``FANOUT_FAYE_URL`` / ``FANOUT_FAYE_INTEGRITY``; ``None`` means the
    #: bundled Faye served by our blueprint, with its computed hash.
    faye_url: str | None
    faye_integrity: str | None
    #: ``FANOUT_TRANSPORT_MODE``.
    transport_mode: TransportMode
    #: ``FANOUT_THROTTLE`` in seconds (the JS gets milliseconds).
    throttle: float
    #: ``FANOUT_POLL_INTERVAL`` and ``FANOUT_POLL_CONNECTED_INTERVAL``, seconds.
    poll_interval: float
    poll_connected_interval: float
    #: ``FANOUT_CHANNEL_PREFIX``.
    channel_prefix: str
    #: ``FANOUT_SUPPRESS_SEND``: record instead of sending (default: app.testing).
    suppress_send: bool
    #: ``FANOUT_QUEUE_SIZE``, ``FANOUT_BATCH_SIZE``, ``FANOUT_TIMEOUT`` (s).
    queue_size: int
    batch_size: int
    timeout: float
    #: ``FANOUT_LOCAL_REALM_HOST`` / ``_PORT`` / ``_EMBED`` ("auto", True, False).
    local_realm_host: str
    local_realm_port: int
    local_realm_embed: bool | Literal["auto"]
