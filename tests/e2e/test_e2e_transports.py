"""Scenario 5: realtime without WebSocket.

The page and the realm are on different ports, so these runs go through the
cross-origin HTTP paths: Faye's JSONP handshake, then CORS long-polling.
Polling is slow, so only realtime explains a quick update.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator

import pytest

from tests.helpers.e2e import AppServer
from tests.helpers.e2e import Browser
from tests.helpers.e2e import RealmProcess
from tests.helpers.e2e import fanout_state
from tests.helpers.e2e import fanout_transport
from tests.helpers.e2e import now_ms
from tests.helpers.e2e import open_page
from tests.helpers.e2e import page_setting
from tests.helpers.e2e import report_latency
from tests.helpers.e2e import stats
from tests.helpers.e2e import wait
from tests.helpers.e2e import wait_for_comment
from tests.helpers.e2e import wait_for_subscribers
from tests.helpers.proxies import WebSocketKillingProxy

HTTP_TRANSPORTS = {"long-polling", "cross-origin-long-polling", "callback-polling"}


@pytest.fixture
def proxy(realm: RealmProcess) -> Iterator[WebSocketKillingProxy]:
    running = WebSocketKillingProxy(realm.port).start()
    yield running
    running.stop()


def test_refused_websocket_falls_back_to_long_polling(
    browser: Browser,
    realm_without_websocket: RealmProcess,
    make_app: Callable[..., AppServer],
) -> None:
    realm = realm_without_websocket
    server = make_app(realm.url, FANOUT_CHANNEL_PREFIX="nows-")
    driver = browser.driver
    open_page(driver, server.page_url(1), state=None)
    assert page_setting(driver, "transportMode") == "fallback"
    wait(driver, 20).until(lambda d: fanout_state(d) == "connected")
    wait_for_subscribers(realm, "/nows-comments-1", 1)
    assert fanout_transport(driver) in HTTP_TRANSPORTS

    for n in range(3):
        posted = now_ms()
        comment = server.post_comment(1, f"over long-polling #{n}")
        shown = wait_for_comment(driver, comment, timeout=5)
        assert stats(driver)["appendedVia"][str(comment)] == "hint"
        report_latency("no WebSocket: long-polling", shown - posted)
        assert shown - posted < 2000, f"took {shown - posted:.0f} ms"
    realm_stats = realm.stats()
    assert realm_stats["websockets_open"] == 0
    assert set(realm_stats["clients_by_transport"]) <= HTTP_TRANSPORTS


def test_websocket_killed_mid_session_updates_keep_arriving(
    browser: Browser,
    realm: RealmProcess,
    proxy: WebSocketKillingProxy,
    make_app: Callable[..., AppServer],
) -> None:
    server = make_app(
        realm.url, bayeux_url=f"{proxy.url}/bayeux", FANOUT_CHANNEL_PREFIX="kill-"
    )
    driver = browser.driver
    open_page(driver, server.page_url(1))
    wait_for_subscribers(realm, "/kill-comments-1", 1)
    assert fanout_transport(driver) == "websocket"
    assert proxy.websockets_opened >= 1

    before = server.post_comment(1, "over the WebSocket")
    wait_for_comment(driver, before, timeout=5)
    assert stats(driver)["appendedVia"][str(before)] == "hint"

    killed = proxy.kill_websockets()
    assert killed >= 1
    # Published while the page has no working transport: the realm keeps the
    # session, so the hint (or the catch-up refresh) still brings it.
    posted = now_ms()
    during = server.post_comment(1, "right after the kill")
    shown = wait_for_comment(driver, during, timeout=10)
    report_latency("WebSocket killed: during the kill", shown - posted)
    assert shown - posted < 8000, f"took {shown - posted:.0f} ms"
    wait(driver, 15).until(lambda d: fanout_transport(d) in HTTP_TRANSPORTS)
    wait(driver, 5).until(lambda d: fanout_state(d) == "connected")

    # From now on, realtime over HTTP: quick, and by hint.
    for n in range(2):
        posted = now_ms()
        comment = server.post_comment(1, f"after the fallback #{n}")
        shown = wait_for_comment(driver, comment, timeout=5)
        assert stats(driver)["appendedVia"][str(comment)] == "hint"
        report_latency("WebSocket killed: after the fallback", shown - posted)
        assert shown - posted < 2000, f"took {shown - posted:.0f} ms"
    assert stats(driver)["polls"] <= 2
