"""Eight tabs of one page on Bayeux over long-polling: one session per browser.

A Bayeux WebSocket holds none of a browser's six HTTP/1.1 connections per
host, but its long-polling fallback holds one per tab, always: a seventh tab
would wait for a connection. So the module shares one Bayeux connection
between the tabs of a browser, as it shares the GRIP stream
(``js/src/share.ts``; ``test_e2e_grip_tabs.py`` is the GRIP side). This runs
against a realm with WebSocket off, the case that needs it:

* the realm has one session for the eight tabs, and every tab gets every hint;
* the app's own requests still complete from the eighth tab;
* when the leader tab closes, another takes over with a new session, and
  every tab keeps getting hints.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.helpers.e2e import AppServer
from tests.helpers.e2e import Browser
from tests.helpers.e2e import RealmProcess
from tests.helpers.e2e import every_tab_gets
from tests.helpers.e2e import fanout_state
from tests.helpers.e2e import fanout_transport
from tests.helpers.e2e import fetch_comments
from tests.helpers.e2e import open_tab
from tests.helpers.e2e import report_latency
from tests.helpers.e2e import wait
from tests.helpers.e2e import wait_for_subscribers
from tests.helpers.e2e import wait_until

PREFIX = "tabs-"
TABS = 8


def test_eight_tabs_share_one_session_and_survive_the_leader(
    browser: Browser,
    realm_without_websocket: RealmProcess,
    make_app: Callable[..., AppServer],
) -> None:
    realm = realm_without_websocket
    server = make_app(realm.url, FANOUT_CHANNEL_PREFIX=PREFIX)
    driver = browser.driver
    channel = f"/{PREFIX}comments-1"
    handles = [open_tab(driver, server.page_url(1))]
    wait_for_subscribers(realm, channel, 1)
    assert fanout_transport(driver) in {"long-polling", "cross-origin-long-polling"}
    for _ in range(TABS - 1):
        driver.switch_to.new_window("tab")
        handles.append(open_tab(driver, server.page_url(1)))
    # One session for all eight: the first tab leads, the others follow.
    stats = realm.stats()
    assert (stats["clients"], stats["handshakes"]) == (1, 1), stats
    slowest = every_tab_gets(driver, server.url, handles, "to eight tabs")
    report_latency("bayeux long-polling, 8 tabs, slowest hint", slowest)
    assert slowest < 3000, f"took {slowest:.0f} ms"

    took = fetch_comments(driver)
    report_latency(f"bayeux long-polling, fetch from tab {TABS}", took[0])
    assert took[1] == 1 and 0 <= took[0] < 2000, took

    # The leader goes; the next tab in line makes a session of its own.
    driver.switch_to.window(handles[0])
    driver.close()
    closed = time.monotonic()
    handles = handles[1:]
    wait_until(
        lambda: realm.stats()["handshakes"] == 2, 5, "no tab took the session over"
    )
    took_over = time.monotonic() - closed
    report_latency("bayeux long-polling, takeover", took_over * 1000)
    assert took_over < 3, f"took {took_over:.1f} s"
    for handle in handles:
        driver.switch_to.window(handle)
        wait(driver, 5).until(lambda d: fanout_state(d) == "connected")
    slowest = every_tab_gets(driver, server.url, handles, "after the handover")
    report_latency("bayeux long-polling, 7 tabs, slowest hint", slowest)
    assert slowest < 3000, f"took {slowest:.0f} ms"
    assert realm.stats()["handshakes"] == 2
