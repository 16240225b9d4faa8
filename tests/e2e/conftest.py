"""Fixtures for the end-to-end suite (the pieces are in ``tests.helpers.e2e``).

Real realm, real app server, real headless Chromium: nothing of our stack is
mocked. One Chromium per test module, because sessions are expensive on a
small box; each test gets it back with a single blank window.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.e2e import AppServer
from tests.helpers.e2e import Browser
from tests.helpers.e2e import RealmProcess
from tests.helpers.e2e import browser_for_test
from tests.helpers.e2e import start_app
from tests.helpers.grip_proxies import GripStack
from tests.helpers.grip_proxies import stream_through
from tests.helpers.proxies import BufferingProxy
from tests.helpers.proxies import StreamKillingProxy

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: real-browser end-to-end tests (-m e2e selects them, -m 'not e2e' skips)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"_e2e_report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def realm() -> Iterator[RealmProcess]:
    """A realm with WebSocket, shared by the modules that never stop it."""
    process = RealmProcess().start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def realm_without_websocket() -> Iterator[RealmProcess]:
    """A realm with WebSocket off: pages fall back to long-polling."""
    process = RealmProcess(websocket=False).start()
    yield process
    process.stop()


@pytest.fixture
def own_realm() -> Iterator[RealmProcess]:
    """A realm of the test's own, for the tests that stop it."""
    process = RealmProcess().start()
    yield process
    process.stop()


@pytest.fixture
def buffered(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[BufferingProxy, GripStack]]:
    """The ``stack``, with a buffering proxy in front of its GRIP proxy."""
    front = BufferingProxy(0).start()
    try:
        yield front, stream_through(request, front)
    finally:
        front.stop()


@pytest.fixture
def killer(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[StreamKillingProxy, GripStack]]:
    """The ``stack``, with a stream-killing proxy in front of its GRIP proxy."""
    front = StreamKillingProxy(0).start()
    try:
        yield front, stream_through(request, front)
    finally:
        front.stop()


@pytest.fixture(scope="module")
def make_app(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., AppServer]]:
    """``make_app(realm_url, **settings)``: apps stopped at the end of the module."""
    servers: list[AppServer] = []

    def make(realm_url: str, **kwargs: Any) -> AppServer:
        db_path = tmp_path_factory.mktemp("example") / "example.sqlite"
        servers.append(start_app(db_path, realm_url, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def browser_session() -> Iterator[Browser]:
    session = Browser()
    yield session
    session.quit()


@pytest.fixture
def browser(
    browser_session: Browser, request: pytest.FixtureRequest
) -> Iterator[Browser]:
    """The module's Chromium, reset to one blank window; artifacts on failure."""
    yield from browser_for_test(browser_session, request)
