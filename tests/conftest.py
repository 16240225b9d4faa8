"""Fixtures every test folder can use (helpers live in ``tests.helpers``)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.grip_proxies import GripStack
from tests.helpers.pushpin import require_pushpin


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connection refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture(scope="session")
def pushpin_binary() -> str:
    """Debian's ``pushpin``: if missing, a failure, or a skip with
    ``FLASK_FANOUT_SKIP_PUSHPIN=1`` (see :func:`require_pushpin`)."""
    return require_pushpin()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "grip_config(**settings): app settings for the `stack` fixture's app",
    )


@pytest.fixture(params=["pushpin", "local"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GripStack]:
    """The example app behind a real Pushpin, then behind the local realm
    standing in for one: every test using it runs on both.

    ``@pytest.mark.grip_config(FANOUT_…=…)`` adds app settings.
    """
    if request.param == "pushpin":
        request.getfixturevalue("pushpin_binary")
    marker = request.node.get_closest_marker("grip_config")
    config = dict(marker.kwargs) if marker is not None else {}
    grip_stack = GripStack(request.param, tmp_path / "app.sqlite", {}, **config)
    try:
        yield grip_stack
    finally:
        grip_stack.close()
