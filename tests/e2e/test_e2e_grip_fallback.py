"""GRIP scenarios 4 and 7 in headless Chromium: when realtime is unavailable,
polling carries the page.

The GRIP counterpart of ``test_e2e_fallback.py``, on both proxies (the
``stack`` fixture). Polling is fast while realtime is down (1 s) and slow
while it is up (5 min), so which of the two delivered a comment shows in its
timing and in the page's counters.

Scenario 4 stops the proxy. Polling can only carry a page whose app is
still reachable, which is the case when the proxy carries the stream alone:
with the local realm, as in development (the page comes from the app, the
stream from the realm), and with Pushpin behind a path router, as in the
"behind nginx" topology of ``docs/deploying.md``. With Pushpin as the front
proxy of the whole site, its outage takes the app down with it.

Scenario 7 breaks the ``integrity`` of the module's own ``<script>``: the
browser refuses the module, so no stream is opened at all, and the
example's own fallback poller keeps the page right.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from flask import Response
from selenium.webdriver.remote.webdriver import WebDriver

from tests.helpers.e2e import FAST_POLL
from tests.helpers.e2e import Browser
from tests.helpers.e2e import OnEveryPage
from tests.helpers.e2e import fanout_state
from tests.helpers.e2e import js
from tests.helpers.e2e import now_ms
from tests.helpers.e2e import open_page
from tests.helpers.e2e import post_comment
from tests.helpers.e2e import report_latency
from tests.helpers.e2e import stats
from tests.helpers.e2e import wait
from tests.helpers.e2e import wait_for_comment
from tests.helpers.e2e_grip import STREAM_PATH
from tests.helpers.e2e_grip import STREAM_RECORDER
from tests.helpers.e2e_grip import module_script
from tests.helpers.e2e_grip import resource_names
from tests.helpers.e2e_grip import streams_held
from tests.helpers.e2e_grip import streams_opened
from tests.helpers.grip_proxies import GripStack
from tests.helpers.grip_proxies import page_origin
from tests.helpers.proxies import StreamRouter

#: FAST_POLL's interval: the example's own poller, used when the module
#: never loaded, polls at the rendered ``FANOUT_POLL_INTERVAL`` too
#: (``example/static/comments.js``).
_FAST_POLL_MS = FAST_POLL["FANOUT_POLL_INTERVAL"] * 1000

#: ``Date.now()`` of each ``connected`` event, recorded in the page.
_WATCH_CONNECTED = (
    "window.connectedAt = [];"
    "Fanout.on('connected', () => window.connectedAt.push(Date.now()));"
)


@pytest.fixture
def stream_only_site(stack: GripStack) -> Iterator[str]:
    """A site where the proxy carries only the stream (see the docstring):
    behind Pushpin, a path router in front; the local realm is that already."""
    proxy_port = urlsplit(stack.proxy.url).port or 80
    with StreamRouter(stack.origin.port, proxy_port) as router:
        yield page_origin(stack, router.url)


def _fetches_settled(driver: WebDriver) -> bool:
    """Every fetch of newer comments the page started has completed."""
    done = len(resource_names(driver, "/comments?since="))
    return bool(done >= stats(driver)["fetches"])


@pytest.mark.grip_config(**FAST_POLL)
@pytest.mark.timeout(60)
def test_proxy_outage_polling_takes_over_then_realtime_resumes(
    browser: Browser, stack: GripStack, stream_only_site: str
) -> None:
    driver = browser.driver
    stack.proxy.mark()
    open_page(driver, f"{stream_only_site}/pages/1")
    stack.proxy.wait_streams("comments-1", 1)
    js(driver, "window.sameDocument = true;" + _WATCH_CONNECTED)

    # Realtime first: a comment arrives by hint.
    first = post_comment(stack.origin.url, 1, "before the outage")
    wait_for_comment(driver, first, timeout=5)
    assert stats(driver)["appendedVia"][str(first)] == "hint"

    stack.proxy.stop()
    wait(driver, 15).until(lambda d: fanout_state(d) != "connected")
    polls = stats(driver)["polls"]
    posted = now_ms()
    during = post_comment(stack.origin.url, 1, "during the outage")
    shown = wait_for_comment(driver, during, timeout=5)
    assert stats(driver)["appendedVia"][str(during)] == "poll"
    # Within the fast interval (1 s), plus a fetch and some slack.
    report_latency(f"{stack.proxy.kind} outage: by polling", shown - posted)
    assert shown - posted < 2500, f"took {shown - posted:.0f} ms by polling"
    # And it keeps polling at that pace while the proxy is away.
    wait(driver, 5).until(lambda d: stats(d)["polls"] >= polls + 3)

    # Same port, new process: the page reconnects without a reload.
    stack.proxy.start()
    restarted = now_ms()
    wait(driver, 10).until(lambda d: js(d, "return window.connectedAt.length") >= 1)
    back = float(js(driver, "return window.connectedAt[0]"))
    report_latency(
        f"{stack.proxy.kind} outage: connected after restart", back - restarted
    )
    assert back - restarted < 10000
    stack.proxy.wait_streams("comments-1", 1)
    assert js(driver, "return window.sameDocument") is True
    # The catch-up poll of the reconnect is done (it would take the next
    # comment from the hint).
    wait(driver).until(_fetches_settled)

    posted = now_ms()
    after = post_comment(stack.origin.url, 1, "after the outage")
    shown = wait_for_comment(driver, after, timeout=5)
    assert stats(driver)["appendedVia"][str(after)] == "hint"
    report_latency(f"{stack.proxy.kind} outage: realtime after restart", shown - posted)
    assert shown - posted < 1000, f"took {shown - posted:.0f} ms after restart"

    # And polling is back to its slow pace: no poll over two fast intervals
    # but the reconnect's catch-up.
    polls = stats(driver)["polls"]
    time.sleep(2.2)
    assert stats(driver)["polls"] == polls


def _break_module_integrity(response: Response) -> Response:
    """Rewrite the module tag's ``integrity`` in every HTML page to a wrong hash."""
    if response.mimetype != "text/html" or response.direct_passthrough:
        return response
    html = response.get_data(as_text=True)
    broken = re.sub(
        r'(<script src="[^"]*flask-fanout-[^"]*" integrity=")sha384-[^"]*"',
        r"\1sha384-" + "A" * 64 + '"',
        html,
    )
    assert broken != html, "no module tag to break"
    response.set_data(broken)
    return response


@pytest.mark.grip_config(**FAST_POLL)
def test_wrong_module_integrity_is_refused_and_polling_keeps_the_page_right(
    browser: Browser, stack: GripStack
) -> None:
    stack.app.after_request(_break_module_integrity)
    driver = browser.driver
    held = streams_held(stack)
    with OnEveryPage(driver, STREAM_RECORDER):
        open_page(driver, page_origin(stack) + "/pages/1", state=None)
        assert module_script(driver)["integrity"] == "sha384-" + "A" * 64
        # The browser refused the module: no Fanout, the example polls alone.
        assert js(driver, "return typeof window.Fanout") == "undefined"
        assert stats(driver)["state"] == "failed"
        console = " ".join(str(e.get("message")) for e in browser.read_console())
        assert "integrity" in console.lower(), console

        posted = now_ms()
        comment = post_comment(stack.origin.url, 1, "arrives by polling")
        shown = wait_for_comment(driver, comment, timeout=10)
        assert stats(driver)["appendedVia"][str(comment)] == "poll"
        report_latency(f"{stack.proxy.kind} wrong SRI: by polling", shown - posted)
        assert shown - posted < _FAST_POLL_MS + 1500
        # Nothing of realtime was even tried.
        assert streams_opened(driver) == []
        assert resource_names(driver, STREAM_PATH) == []
    assert streams_held(stack) == held
