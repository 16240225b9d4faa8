"""Recording publishes in tests.

Modelled on Flask-Mail's ``record_messages``: the application's own tests
can assert on what a view published without an endpoint, and the same helper
works when sending is on, so an integration test can check both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask

from . import signals
from ._message import Publish


@contextmanager
def record_publishes(accepts: Callable[[Any], bool]) -> Iterator[list[Publish]]:
    """Collect every publish accepted from a sender for which ``accepts`` is true."""
    recorded: list[Publish] = []

    def receiver(sender: Flask, /, *, publish: Publish, **extra: Any) -> None:
        if accepts(sender):
            recorded.append(publish)

    with signals.publish_accepted.connected_to(receiver):
        yield recorded
