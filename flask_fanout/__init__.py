"""Flask-Fanout: pages that update themselves through a Fanout realm.

The server publishes small *hints* ("comments on post 12 changed") to
channels; the bundled browser client subscribes and refetches. See
``docs/publishing.md`` for the server API.

.. versionadded:: 0.1
"""

from __future__ import annotations

from . import signals
from ._channels import MAX_CHANNEL_LENGTH
from ._channels import channel
from ._channels import validate_channel
from ._config import FanoutConfig
from ._errors import FanoutConfigError
from ._errors import FanoutError
from ._errors import InvalidChannelError
from ._errors import InvalidPublishError
from ._errors import PublishError
from ._extension import FanoutExt
from ._publisher import Publish
from ._publisher import PublishStats

__all__ = [
    "MAX_CHANNEL_LENGTH",
    "FanoutConfig",
    "FanoutConfigError",
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
