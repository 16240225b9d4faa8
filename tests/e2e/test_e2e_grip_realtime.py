"""GRIP scenarios 1, 2, 3 and 6 in headless Chromium: realtime delivery.

The GRIP counterpart of ``test_e2e_realtime.py``. Every test runs twice,
through the ``stack`` fixture: behind a real Pushpin, then behind the local
realm standing in for one. Polling is set to minutes (``SLOW_POLL``), so
anything that arrives within a second or two came by a hint on the stream.

The windows of one browser share one stream (the module elects a leader
tab), so these tests also cover the relay between tabs: the second window
gets its hints through the first one's stream.
"""

from __future__ import annotations

import time
import uuid

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.helpers.e2e import Browser
from tests.helpers.e2e import OnEveryPage
from tests.helpers.e2e import check_burst
from tests.helpers.e2e import comment_ids
from tests.helpers.e2e import fanout_state
from tests.helpers.e2e import fanout_transport
from tests.helpers.e2e import js
from tests.helpers.e2e import open_page
from tests.helpers.e2e import post_comment
from tests.helpers.e2e import report_latency
from tests.helpers.e2e import stats
from tests.helpers.e2e import wait
from tests.helpers.e2e import wait_for_comment
from tests.helpers.e2e_grip import STREAM_PATH
from tests.helpers.e2e_grip import STREAM_RECORDER
from tests.helpers.e2e_grip import assert_no_faye
from tests.helpers.e2e_grip import module_script
from tests.helpers.e2e_grip import page_url
from tests.helpers.e2e_grip import resource_names
from tests.helpers.e2e_grip import streams_held
from tests.helpers.e2e_grip import streams_opened
from tests.helpers.grip_proxies import GripStack
from tests.helpers.grip_proxies import page_origin

#: Records, in a window, the channel of every ``fanout:hint`` DOM event.
_WATCH_HINT_EVENTS = (
    "window.hintChannels = [];"
    "document.body.addEventListener('fanout:hint',"
    " (e) => window.hintChannels.push(e.detail.channel));"
)


def _post_in_window(driver: WebDriver, text: str) -> int:
    """Post through the page's own form; the new comment's id."""
    before = stats(driver)["appended"]
    driver.find_element(By.NAME, "comment").send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#comment-form button").click()
    wait(driver).until(lambda d: stats(d)["appended"] == before + 1)
    return comment_ids(driver)[-1]


def _assert_grip_page(driver: WebDriver) -> None:
    """Realtime over the native EventSource, and no Faye anywhere."""
    assert fanout_transport(driver) == "eventsource"
    assert ".grip.min.js" in module_script(driver)["src"]
    assert_no_faye(driver)


def test_a_comment_from_one_window_appears_in_the_other_within_a_second(
    browser: Browser, stack: GripStack
) -> None:
    driver = browser.driver
    stack.proxy.mark()
    open_page(driver, page_url(stack, 1))
    first = driver.current_window_handle
    driver.switch_to.new_window("window")
    open_page(driver, page_url(stack, 1))
    second = driver.current_window_handle
    # One stream for both windows: the first window's.
    stack.proxy.wait_streams("comments-1", 1)

    # Each way: the first window (which holds the stream) to the second
    # (which gets the hint relayed), then back.
    for poster, receiver in ((first, second), (second, first)):
        driver.switch_to.window(poster)
        text = f"hello {uuid.uuid4().hex[:8]}"
        comment_id = _post_in_window(driver, text)
        posted_at = stats(driver)["lastPostAt"]

        driver.switch_to.window(receiver)
        shown_at = wait_for_comment(driver, comment_id, timeout=5)
        page = stats(driver)
        assert page["appendedVia"][str(comment_id)] == "hint"
        assert page["polls"] == 0
        latency = shown_at - posted_at
        report_latency(f"{stack.proxy.kind}: two windows", latency)
        assert 0 < latency < 1000, f"took {latency:.0f} ms"
        shown = driver.find_element(By.CSS_SELECTOR, f"#c{comment_id} .body").text
        assert shown == text
        _assert_grip_page(driver)


def test_a_page_receives_nothing_from_another_pages_channel(
    browser: Browser, stack: GripStack
) -> None:
    driver = browser.driver
    stack.proxy.mark()
    open_page(driver, page_url(stack, 2))
    js(driver, _WATCH_HINT_EVENTS)
    page2 = driver.current_window_handle
    driver.switch_to.new_window("window")
    open_page(driver, page_url(stack, 1))
    page1 = driver.current_window_handle
    # The shared stream now carries both pages' channels.
    stack.proxy.wait_streams("comments-2", 1)
    stack.proxy.wait_streams("comments-1", 1)
    driver.switch_to.window(page2)
    before = comment_ids(driver)

    driver.switch_to.window(page1)
    for n in range(3):
        comment_id = post_comment(stack.origin.url, 1, f"for page 1 only #{n}")
        wait_for_comment(driver, comment_id, timeout=5)
        assert stats(driver)["appendedVia"][str(comment_id)] == "hint"

    driver.switch_to.window(page2)
    assert stats(driver)["hints"] == 0
    assert js(driver, "return window.hintChannels") == []
    assert comment_ids(driver) == before
    # Page 2 was listening all along: its own channel does reach it.
    own = post_comment(stack.origin.url, 2, "for page 2")
    wait_for_comment(driver, own, timeout=5)
    assert stats(driver)["appendedVia"][str(own)] == "hint"
    assert js(driver, "return window.hintChannels") == ["comments-2"]


def test_a_burst_of_50_comments_refreshes_at_most_3_times_a_second(
    browser: Browser, stack: GripStack
) -> None:
    driver = browser.driver
    stack.proxy.mark()
    open_page(driver, page_url(stack, 1))
    stack.proxy.wait_streams("comments-1", 1)
    ids = [post_comment(stack.origin.url, 1, f"burst {n}") for n in range(50)]
    wait_for_comment(driver, ids[-1], timeout=10)

    page = check_burst(driver, ids, f"burst, {stack.proxy.kind}")
    assert page["polls"] == 0
    assert set(page["appendedVia"].values()) <= {"hint", "more"}


def test_a_page_without_subscriptions_opens_no_stream_and_loads_no_faye(
    browser: Browser, stack: GripStack
) -> None:
    driver = browser.driver
    stack.proxy.mark()
    with OnEveryPage(driver, STREAM_RECORDER):
        # A page that subscribes does open the stream, so the checks below
        # can see one.
        open_page(driver, page_url(stack, 1))
        [stream] = streams_opened(driver)
        assert STREAM_PATH + "?channel=comments-1" in stream
        _assert_grip_page(driver)
        stack.proxy.wait_streams("comments-1", 1)
        held = streams_held(stack)

        driver.get(page_origin(stack) + "/")
        wait(driver).until(lambda d: js(d, "return document.readyState") == "complete")
        # The module would open a stream 50 ms (its debounce) after a
        # subscribe; nothing on this page subscribes, so give it well over
        # that, then look.
        time.sleep(0.3)
        assert js(driver, "return window.Fanout.state") == "idle"
        assert fanout_transport(driver) is None
        assert streams_opened(driver) == []
        assert resource_names(driver, STREAM_PATH) == []
        assert streams_held(stack) == held
        assert fanout_state(driver) == "idle"
        assert_no_faye(driver)
        # The module itself is there, the GRIP build, with its integrity.
        module = module_script(driver)
        assert ".grip.min.js" in module["src"]
        assert module["integrity"].startswith("sha384-")
