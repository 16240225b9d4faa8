"""Eight tabs of one page on GRIP: one stream per browser, and a handover.

Over HTTP/1.1, which both proxies speak, a browser allows six connections
per host, shared by all its tabs: a stream per tab would leave the seventh
tab's stream, and the app's own requests from every tab, hanging. The
module shares one stream between the tabs of an origin through a leader tab
(a Web Lock elects it; a BroadcastChannel relays). So with eight tabs open:

* the proxy holds one stream, and every tab gets every hint;
* the app's own requests still complete: a fetch from the eighth tab
  answers promptly;
* when the leader tab closes, another takes over within a couple of
  seconds, opens the stream anew, and every tab keeps getting hints.

Polling is slow (``SLOW_POLL``), so a comment shown within seconds came by
realtime.
"""

from __future__ import annotations

import time

from selenium.webdriver.remote.webdriver import WebDriver

from tests.helpers.e2e import Browser
from tests.helpers.e2e import every_tab_gets
from tests.helpers.e2e import fanout_state
from tests.helpers.e2e import fetch_comments
from tests.helpers.e2e import open_tab
from tests.helpers.e2e import report_latency
from tests.helpers.e2e import wait
from tests.helpers.e2e import wait_until
from tests.helpers.e2e_grip import streams_held
from tests.helpers.grip_proxies import GripStack
from tests.helpers.grip_proxies import page_origin

CHANNEL = "comments-1"
TABS = 8


def _every_tab_gets(
    driver: WebDriver, stack: GripStack, handles: list[str], text: str, label: str
) -> None:
    slowest = every_tab_gets(driver, stack.origin.url, handles, text)
    report_latency(f"{stack.proxy.kind}, {label}, slowest hint", slowest)
    assert slowest < 3000, f"took {slowest:.0f} ms"


def test_eight_tabs_share_one_stream_and_survive_the_leader(
    browser: Browser, stack: GripStack
) -> None:
    driver = browser.driver
    url = f"{page_origin(stack)}/pages/1"
    stack.proxy.mark()
    since = streams_held(stack)
    handles = [open_tab(driver, url)]
    stack.proxy.wait_streams(CHANNEL, 1)
    for _ in range(TABS - 1):
        driver.switch_to.new_window("tab")
        handles.append(open_tab(driver, url))
    # One stream for all eight: the first tab leads, the others follow.
    assert streams_held(stack) - since == 1
    _every_tab_gets(driver, stack, handles, "to eight tabs", "8 tabs")

    # The app's own requests are not starved by streams: from the last tab,
    # a fetch of the same host answers at once.
    driver.switch_to.window(handles[-1])
    took = fetch_comments(driver)
    report_latency(f"{stack.proxy.kind}, fetch from tab {TABS}", took[0])
    assert took[1] == 1 and 0 <= took[0] < 2000, took

    # The leader goes; the next tab in line opens the stream.
    stack.proxy.mark()
    since = streams_held(stack)
    driver.switch_to.window(handles[0])
    driver.close()
    closed = time.monotonic()
    handles = handles[1:]
    wait_until(lambda: streams_held(stack) > since, 5, "no tab took the stream over")
    took_over = time.monotonic() - closed
    report_latency(f"{stack.proxy.kind}, takeover", took_over * 1000)
    assert took_over < 3, f"took {took_over:.1f} s"
    stack.proxy.wait_streams(CHANNEL, 1)
    for handle in handles:
        driver.switch_to.window(handle)
        wait(driver, 5).until(lambda d: fanout_state(d) == "connected")
    _every_tab_gets(driver, stack, handles, "after the handover", "7 tabs")
    assert streams_held(stack) - since == 1
