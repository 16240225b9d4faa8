"""Fixtures for the core tests (the endpoint itself is ``tests.helpers.endpoint``)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from flask import Flask

from flask_fanout import FanoutExt
from tests.helpers.endpoint import KEY_B64
from tests.helpers.endpoint import REALM
from tests.helpers.endpoint import Endpoint
from tests.helpers.endpoint import make_app
from tests.helpers.endpoint import running_endpoint


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    """A fake Fanout publish endpoint on a free loopback port."""
    with running_endpoint() as ep:
        yield ep


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A publish URL on a port that is bound but not listening: connection refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/realm/{REALM}"
    finally:
        sock.close()


@pytest.fixture
def ext() -> FanoutExt:
    return FanoutExt()


@pytest.fixture
def app(endpoint: Endpoint, ext: FanoutExt) -> Iterator[Flask]:
    """An app that really sends to ``endpoint`` (sending not suppressed)."""
    app = make_app(
        FANOUT_REALM_ID=REALM,
        FANOUT_REALM_KEY=KEY_B64,
        FANOUT_PUBLISH_URL=endpoint.base_url,
        FANOUT_SUPPRESS_SEND=False,
        FANOUT_TIMEOUT=10.0,
    )
    ext.init_app(app)
    yield app
    with app.app_context():
        ext.close(10)
