"""The example's htmx page: a live fragment with no page script.

``/pages/<id>/live`` has htmx and no script of its own: its comment list
carries ``data-fanout-subscribe`` and ``data-fanout-poll`` and refetches
``/pages/<id>/fragment`` on the module's ``fanout:comments-<id>`` DOM event
(docs/javascript.md, "Live fragments with no page script"). This checks,
on the Bayeux backend (the local realm) and on GRIP (a real Pushpin, then
the local realm standing in for one), that:

* a hint refreshes the fragment: a comment posted through the page's own
  htmx form, and one from another client, both appear at once, announced by
  hint events;
* with realtime down, the polling fallback fires the same event (with
  ``null`` data) and the fragment still refreshes.

Polling is every second while realtime is down and every five minutes while
it is up (``FAST_POLL``), so an update within seconds while connected came
by hint, and one while disconnected by polling.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.helpers.e2e import FAST_POLL
from tests.helpers.e2e import AppServer
from tests.helpers.e2e import Browser
from tests.helpers.e2e import RealmProcess
from tests.helpers.e2e import fanout_state
from tests.helpers.e2e import js
from tests.helpers.e2e import now_ms
from tests.helpers.e2e import post_comment
from tests.helpers.e2e import report_latency
from tests.helpers.e2e import wait
from tests.helpers.e2e import wait_for_subscribers
from tests.helpers.grip_proxies import GripStack
from tests.helpers.grip_proxies import page_origin
from tests.helpers.proxies import StreamKillingProxy

#: In the page, once loaded: what the module's events and htmx did.
_RECORD = """
window.live = {hints: {}, polls: 0, fragments: 0};
document.body.addEventListener("fanout:comments-1", function (e) {
  if (e.detail.data) window.live.hints[e.detail.data.comment] = Date.now();
  else window.live.polls += 1;
});
document.body.addEventListener("htmx:afterRequest", function (e) {
  if (e.detail.pathInfo.requestPath === "/pages/1/fragment") window.live.fragments += 1;
});
"""
_SHOWN = "return !!document.querySelector('#live-comments #c' + arguments[0])"
_BODIES = (
    "return Array.from(document.querySelectorAll('#live-comments .comment .body'))"
    ".map(function (e) { return e.textContent; })"
)


def _open_live(driver: WebDriver, url: str) -> None:
    driver.get(url)
    wait(driver, 15).until(
        lambda d: (
            js(d, "return !!(window.htmx && window.Fanout)")
            and fanout_state(d) == "connected"
        )
    )
    js(driver, _RECORD)


def _check_live_page(
    driver: WebDriver,
    post: Callable[[str], int],
    take_realtime_down: Callable[[], None],
    label: str,
) -> None:
    """Hints refresh the fragment; then, realtime down, polling does."""
    # The page's own htmx form: the server answers with a fresh form only,
    # and the hint refreshes the list, this view included.
    driver.find_element(By.ID, "live-comment").send_keys("posted with htmx")
    driver.find_element(By.CSS_SELECTOR, "#live-form button").click()
    wait(driver, 5).until(lambda d: "posted with htmx" in js(d, _BODIES))
    assert js(driver, "return Object.keys(window.live.hints).length") == 1

    posted = now_ms()
    comment = post("from another client")
    wait(driver, 5).until(lambda d: js(d, _SHOWN, comment))
    shown = now_ms()
    assert js(driver, "return window.live.hints[arguments[0]]", comment)
    assert js(driver, "return window.live.polls") == 0
    report_latency(f"htmx, {label}: by hint", shown - posted)
    assert shown - posted < 3000, f"took {shown - posted:.0f} ms"

    take_realtime_down()
    wait(driver, 10).until(lambda d: fanout_state(d) != "connected")
    fragments = js(driver, "return window.live.fragments")
    posted = now_ms()
    during = post("while realtime is down")
    wait(driver, 8).until(lambda d: js(d, _SHOWN, during))
    shown = now_ms()
    report_latency(f"htmx, {label}: by polling", shown - posted)
    assert not js(driver, "return window.live.hints[arguments[0]]", during)
    assert js(driver, "return window.live.polls") >= 1
    assert js(driver, "return window.live.fragments") > fragments
    assert fanout_state(driver) != "connected"


def test_live_fragment_on_bayeux(
    browser: Browser, own_realm: RealmProcess, make_app: Callable[..., AppServer]
) -> None:
    server = make_app(own_realm.url, FANOUT_CHANNEL_PREFIX="htmx-", **FAST_POLL)
    driver = browser.driver
    _open_live(driver, f"{server.page_url(1)}/live")
    wait_for_subscribers(own_realm, "/htmx-comments-1", 1)
    _check_live_page(
        driver,
        lambda text: server.post_comment(1, text),
        own_realm.stop,
        "Bayeux",
    )


@pytest.mark.grip_config(**FAST_POLL)
def test_live_fragment_on_grip(
    browser: Browser,
    killer: tuple[StreamKillingProxy, GripStack],
    stack: GripStack,
) -> None:
    front, _ = killer
    driver = browser.driver
    stack.proxy.mark()
    _open_live(driver, f"{page_origin(stack, front.url)}/pages/1/live")
    stack.proxy.wait_streams("comments-1", 1)

    def take_down() -> None:
        # The stream is cut and every new one answered 502, as by a proxy
        # that lost its upstream: the page stays without realtime.
        assert front.kill_streams(then="reject") == 1

    _check_live_page(
        driver,
        lambda text: post_comment(stack.origin.url, 1, text),
        take_down,
        f"GRIP {stack.proxy.kind}",
    )
    assert front.streams_open == 0
