"""Scenario 5 on GRIP: realtime through things that break streaming.

Two proxies of ``tests.helpers.proxies`` sit between the page and the GRIP
proxy (a real Pushpin, then the local realm standing in for it):

* a :class:`BufferingProxy`, like an nginx with response buffering on, passes
  the stream's headers and none of its events. The module's stream-first
  fallback must notice the silence and switch to long-polling holds, whose
  answers end and so get through, and hints must then arrive by long-poll;
* a :class:`StreamKillingProxy` cuts the open stream mid-session. The
  browser reconnects by itself, and hints must keep arriving within a few
  seconds.

Polling is slow (``SLOW_POLL``, two minutes), so a comment shown within
seconds came by realtime, and the page's counters say so.

The page shortens the module's ``connectTimeout`` (how long a stream may stay
silent before the fallback, 10 s by default) to 3 s with
``Fanout.configure()`` before it subscribes, as a page may: the behaviour is
the same, the test only waits less.
"""

from __future__ import annotations

from selenium.webdriver.remote.webdriver import WebDriver

from tests.helpers.e2e import Browser
from tests.helpers.e2e import OnEveryPage
from tests.helpers.e2e import fanout_state
from tests.helpers.e2e import fanout_transport
from tests.helpers.e2e import now_ms
from tests.helpers.e2e import open_page
from tests.helpers.e2e import post_comment
from tests.helpers.e2e import report_latency
from tests.helpers.e2e import stats
from tests.helpers.e2e import wait
from tests.helpers.e2e import wait_for_comment
from tests.helpers.grip_proxies import GripStack
from tests.helpers.grip_proxies import PushpinProxy
from tests.helpers.grip_proxies import page_origin
from tests.helpers.proxies import BufferingProxy
from tests.helpers.proxies import StreamKillingProxy

CHANNEL = "comments-1"
#: ms of stream silence before the fallback (the module's default is 10000).
CONNECT_TIMEOUT = 3000

#: Calls ``Fanout.configure`` the moment the module defines ``window.Fanout``,
#: before the page's script subscribes.
_SHORT_CONNECT_TIMEOUT = """
(function () {
  var client;
  Object.defineProperty(window, "Fanout", {
    configurable: true,
    get: function () { return client; },
    set: function (value) {
      client = value;
      value.configure({ connectTimeout: CONNECT_TIMEOUT });
    },
  });
})();
""".replace("CONNECT_TIMEOUT", str(CONNECT_TIMEOUT))


def _comment_by_hint(
    driver: WebDriver, stack: GripStack, text: str, label: str, within: float = 3000
) -> None:
    """Post as another client; the page shows it, by hint, within ``within`` ms."""
    posted = now_ms()
    comment = post_comment(stack.origin.url, 1, text)
    shown = wait_for_comment(driver, comment, timeout=within / 1000 + 2)
    assert stats(driver)["appendedVia"][str(comment)] == "hint"
    report_latency(f"{stack.proxy.kind}, {label}", shown - posted)
    assert shown - posted < within, f"took {shown - posted:.0f} ms"


def _wait_next_poll(stack: GripStack, since: int) -> None:
    """Wait until the poll sent after an answered one is held.

    Pushpin re-sends a poll to the origin only when its channel is new to it,
    which a channel that just had a poll is not: there the subscription is
    enough (:meth:`~GripProxy.wait_polls` would wait for a re-send).
    """
    if isinstance(stack.proxy, PushpinProxy):
        stack.proxy.pushpin.wait_for_subscribers(CHANNEL, 1, since=since)
    else:
        stack.proxy.wait_polls(CHANNEL, 1)


def test_buffered_stream_falls_back_to_long_polling(
    browser: Browser,
    buffered: tuple[BufferingProxy, GripStack],
    stack: GripStack,
) -> None:
    front, _ = buffered
    driver = browser.driver
    stack.proxy.mark()
    with OnEveryPage(driver, _SHORT_CONNECT_TIMEOUT):
        open_page(driver, f"{page_origin(stack, front.url)}/pages/1", state=None)
        assert fanout_transport(driver) != "long-polling"
        wait(driver, CONNECT_TIMEOUT / 1000 + 10).until(
            lambda d: (
                fanout_transport(d) == "long-polling" and fanout_state(d) == "connected"
            )
        )
    # The stream was tried first, answered as an event stream, and nothing of
    # its body got through; the long-polls then did.
    streams = [e for e in front.exchanges if e.stream]
    assert streams, front.paths
    assert all("mode=poll" not in e.path for e in streams)
    polls = [e for e in front.exchanges if "mode=poll" in e.path]
    assert polls, front.paths
    assert "disconnected" in stats(driver)["states"]

    stack.proxy.wait_polls(CHANNEL, 1)
    since = stack.proxy.mark()
    _comment_by_hint(driver, stack, "over long-polling #1", "buffered: long-polling")
    # The answered poll was replaced at once; the next hint comes the same way.
    _wait_next_poll(stack, since)
    _comment_by_hint(driver, stack, "over long-polling #2", "buffered: long-polling")
    assert fanout_transport(driver) == "long-polling"
    assert any(e.done and e.status == 200 for e in polls)


def test_stream_killed_mid_session_hints_keep_arriving(
    browser: Browser,
    killer: tuple[StreamKillingProxy, GripStack],
    stack: GripStack,
) -> None:
    front, _ = killer
    driver = browser.driver
    stack.proxy.mark()
    open_page(driver, f"{page_origin(stack, front.url)}/pages/1")
    stack.proxy.wait_streams(CHANNEL, 1)
    assert fanout_transport(driver) == "eventsource"
    assert front.streams_open == 1
    _comment_by_hint(driver, stack, "before the kill", "stream: before the kill")

    stack.proxy.mark()
    seen_states = len(stats(driver)["states"])
    killed_at = now_ms()
    assert front.kill_streams() == 1
    wait(driver, 5).until(lambda d: "disconnected" in stats(d)["states"][seen_states:])
    # Published while the page has no stream: the proxy keeps no history, so
    # the catch-up refresh on reconnecting brings it (or, if the stream is
    # already back, the hint does).
    during = post_comment(stack.origin.url, 1, "right after the kill")
    shown = wait_for_comment(driver, during, timeout=10)
    report_latency(f"{stack.proxy.kind}, stream killed: during", shown - killed_at)
    assert shown - killed_at < 6000, f"took {shown - killed_at:.0f} ms"

    wait(driver, 10).until(lambda d: fanout_state(d) == "connected")
    stack.proxy.wait_streams(CHANNEL, 1)
    assert front.streams_open == 1
    for n in range(2):
        _comment_by_hint(driver, stack, f"after the kill #{n}", "stream: after")
    # A cut stream is reopened, not replaced by long-polling.
    assert fanout_transport(driver) == "eventsource"
