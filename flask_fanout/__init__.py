"""Flask-Fanout: pages that update themselves when the server's data changes.

The server publishes small *hints* ("comments on post 12 changed") to
channels, through a GRIP proxy (Pushpin, Fastly Fanout) or a Bayeux realm;
the bundled browser client subscribes and refetches through the app's own
views. The publishing guide describes the server API.

.. versionadded:: 0.1
"""

from __future__ import annotations

from . import signals
from ._channels import MAX_CHANNEL_LENGTH
from ._channels import channel
from ._channels import validate_channel
from ._errors import FanoutConfigError
from ._errors import FanoutError
from ._errors import InvalidChannelError
from ._errors import InvalidPublishError
from ._errors import PublishError
from ._extension import Delivery
from ._extension import FanoutExt
from ._extension import PublishStats
from ._message import Publish
from ._settings import FanoutConfig
from ._settings import FanoutConfigWarning

__all__ = [
    "MAX_CHANNEL_LENGTH",
    "Delivery",
    "FanoutConfig",
    "FanoutConfigError",
    "FanoutConfigWarning",
    "FanoutError",
    "FanoutExt",
    "InvalidChannelError",
    "InvalidPublishError",
    "Publish",
    "PublishError",
    "PublishStats",
    "channel",
    "signals",
    "validate_channel",
]
