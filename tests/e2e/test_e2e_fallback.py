"""Scenarios 4 and 7: when realtime is unavailable, polling carries the page.

Polling here is fast while realtime is down (1 s) and slow while it is up
(5 min), so which of the two delivered a comment is visible in its timing and
in the page's counters.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask_fanout import _static
from tests.helpers.e2e import FAST_POLL
from tests.helpers.e2e import AppServer
from tests.helpers.e2e import Browser
from tests.helpers.e2e import RealmProcess
from tests.helpers.e2e import fanout_state
from tests.helpers.e2e import js
from tests.helpers.e2e import now_ms
from tests.helpers.e2e import open_page
from tests.helpers.e2e import report_latency
from tests.helpers.e2e import stats
from tests.helpers.e2e import wait
from tests.helpers.e2e import wait_for_comment
from tests.helpers.e2e import wait_for_subscribers

PREFIX = "fb-"


def test_realm_outage_polling_takes_over_then_realtime_resumes(
    browser: Browser, own_realm: RealmProcess, make_app: Callable[..., AppServer]
) -> None:
    server = make_app(own_realm.url, FANOUT_CHANNEL_PREFIX=PREFIX, **FAST_POLL)
    driver = browser.driver
    open_page(driver, server.page_url(1))
    wait_for_subscribers(own_realm, f"/{PREFIX}comments-1", 1)
    js(driver, "window.sameDocument = true")

    # Realtime first: a comment arrives by hint.
    first = server.post_comment(1, "before the outage")
    wait_for_comment(driver, first, timeout=5)
    assert stats(driver)["appendedVia"][str(first)] == "hint"

    own_realm.stop()
    wait(driver, 15).until(lambda d: fanout_state(d) != "connected")
    posted = now_ms()
    during = server.post_comment(1, "during the outage")
    shown = wait_for_comment(driver, during, timeout=5)
    assert stats(driver)["appendedVia"][str(during)] == "poll"
    # Within the fast interval (1 s), plus a fetch and some slack.
    report_latency("outage: by polling", shown - posted)
    assert shown - posted < 2500, f"took {shown - posted:.0f} ms by polling"

    # Same port, new process: the page reconnects without a reload.
    own_realm.start()
    wait(driver, 30).until(lambda d: fanout_state(d) == "connected")
    wait_for_subscribers(own_realm, f"/{PREFIX}comments-1", 1, timeout=15)
    assert js(driver, "return window.sameDocument") is True

    posted = now_ms()
    after = server.post_comment(1, "after the outage")
    shown = wait_for_comment(driver, after, timeout=5)
    assert stats(driver)["appendedVia"][str(after)] == "hint"
    report_latency("outage: realtime after restart", shown - posted)
    assert shown - posted < 1000, f"took {shown - posted:.0f} ms after restart"

    # And polling is back to its slow pace: at most one more poll (the
    # catch-up right after the reconnect) over three fast intervals.
    polls = stats(driver)["polls"]
    time.sleep(3.2)
    assert stats(driver)["polls"] - polls <= 1


def test_wrong_faye_integrity_is_refused_and_polling_keeps_the_page_right(
    browser: Browser, own_realm: RealmProcess, make_app: Callable[..., AppServer]
) -> None:
    faye = _static.faye_filename()
    server = make_app(
        own_realm.url,
        FANOUT_CHANNEL_PREFIX=PREFIX + "sri-",
        FANOUT_FAYE_URL=f"/_fanout/static/{faye}",
        FANOUT_FAYE_INTEGRITY="sha384-" + "A" * 64,
        **FAST_POLL,
    )
    driver = browser.driver
    open_page(driver, server.page_url(1), state="failed")
    assert js(driver, "return typeof window.Faye") == "undefined"
    console = " ".join(str(entry.get("message")) for entry in browser.read_console())
    assert "integrity" in console.lower(), console

    posted = now_ms()
    comment = server.post_comment(1, "arrives by polling")
    shown = wait_for_comment(driver, comment, timeout=5)
    assert stats(driver)["appendedVia"][str(comment)] == "poll"
    assert shown - posted < 2500
    assert own_realm.stats()["subscribers"].get(f"/{PREFIX}sri-comments-1", 0) == 0
