"""Scenarios 1, 2, 3 and 6: realtime delivery in a real browser.

Polling is set to two minutes here, so anything that arrives in a second or
two can only have come through the realm.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from selenium.webdriver.common.by import By

from tests.helpers.e2e import AppServer
from tests.helpers.e2e import Browser
from tests.helpers.e2e import RealmProcess
from tests.helpers.e2e import check_burst
from tests.helpers.e2e import comment_ids
from tests.helpers.e2e import js
from tests.helpers.e2e import open_page
from tests.helpers.e2e import report_latency
from tests.helpers.e2e import sign_in
from tests.helpers.e2e import stats
from tests.helpers.e2e import wait
from tests.helpers.e2e import wait_for_comment
from tests.helpers.e2e import wait_for_subscribers

PREFIX = "rt-"


@pytest.fixture(scope="module")
def server(realm: RealmProcess, make_app: Callable[..., AppServer]) -> AppServer:
    return make_app(realm.url, FANOUT_CHANNEL_PREFIX=PREFIX)


def test_comment_from_one_window_appears_in_the_other_within_a_second(
    browser: Browser, server: AppServer, realm: RealmProcess
) -> None:
    driver = browser.driver
    open_page(driver, server.page_url(1))
    receiver = driver.current_window_handle
    driver.switch_to.new_window("window")
    open_page(driver, server.page_url(1))
    poster = driver.current_window_handle
    # Windows of one browser share one connection (js/src/share.ts): the
    # realm has one subscriber for both.
    wait_for_subscribers(realm, f"/{PREFIX}comments-1", 1)
    assert realm.stats()["clients"] == 1

    text = f"hello from window A {uuid.uuid4().hex[:8]}"
    driver.find_element(By.NAME, "comment").send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#comment-form button").click()
    wait(driver).until(lambda d: js(d, "return window.exampleStats.appended") == 1)
    [comment_id] = comment_ids(driver)
    posted_at = stats(driver)["lastPostAt"]

    driver.switch_to.window(receiver)
    shown_at = wait_for_comment(driver, comment_id, timeout=5)
    receiver_stats = stats(driver)
    assert receiver_stats["appendedVia"][str(comment_id)] == "hint"
    assert receiver_stats["polls"] <= 1  # at most the start-up refresh
    latency = shown_at - posted_at
    report_latency("two windows", latency)
    assert 0 < latency < 1000, f"took {latency:.0f} ms"
    text_shown = driver.find_element(By.CSS_SELECTOR, f"#c{comment_id} .body").text
    assert text_shown == text
    driver.switch_to.window(poster)


def test_a_page_receives_nothing_from_another_pages_channel(
    browser: Browser, server: AppServer, realm: RealmProcess
) -> None:
    driver = browser.driver
    open_page(driver, server.page_url(2))
    page2 = driver.current_window_handle
    driver.switch_to.new_window("window")
    open_page(driver, server.page_url(1))
    page1 = driver.current_window_handle
    wait_for_subscribers(realm, f"/{PREFIX}comments-1", 1)
    wait_for_subscribers(realm, f"/{PREFIX}comments-2", 1)
    driver.switch_to.window(page2)
    before = comment_ids(driver)

    for n in range(3):
        comment_id = server.post_comment(1, f"for page 1 only #{n}")
        driver.switch_to.window(page1)
        wait_for_comment(driver, comment_id, timeout=5)
    assert stats(driver)["hints"] >= 1

    driver.switch_to.window(page2)
    page2_stats = stats(driver)
    assert page2_stats["hints"] == 0
    assert comment_ids(driver) == before
    # Page 2 was listening all along: its own channel does reach it.
    own = server.post_comment(2, "for page 2")
    wait_for_comment(driver, own, timeout=5)
    assert stats(driver)["appendedVia"][str(own)] == "hint"


def test_a_burst_of_50_comments_refreshes_at_most_3_times_a_second(
    browser: Browser, server: AppServer, realm: RealmProcess
) -> None:
    driver = browser.driver
    sign_in(driver, server.url)  # page 3 is the example's private page
    open_page(driver, server.page_url(3))
    wait_for_subscribers(realm, f"/{PREFIX}comments-3", 1)
    ids = [server.post_comment(3, f"burst {n}", as_user="bob") for n in range(50)]
    wait_for_comment(driver, ids[-1], timeout=10)

    page = check_burst(driver, ids, "burst")
    assert page["polls"] <= 1


def test_a_page_without_subscriptions_fetches_no_faye(
    browser: Browser, server: AppServer
) -> None:
    driver = browser.driver
    faye_entries = (
        "return performance.getEntriesByType('resource')"
        ".map(e => e.name).filter(n => n.indexOf('faye-browser') >= 0)"
    )
    # A page that subscribes does fetch it (so the check below can see it).
    open_page(driver, server.page_url(1))
    assert len(js(driver, faye_entries)) == 1

    driver.get(server.url + "/")
    wait(driver).until(lambda d: js(d, "return document.readyState") == "complete")
    wait(driver).until(lambda d: js(d, "return !!window.Fanout"))
    # Nothing is pending that could still load it: give deferred work a
    # moment to run, then look.
    time.sleep(0.5)
    assert js(driver, faye_entries) == []
    assert js(driver, "return typeof window.Faye") == "undefined"
    assert js(driver, "return window.Fanout.state") == "idle"
    assert (
        js(driver, "return document.querySelectorAll('script[src*=faye]').length") == 0
    )
    # The module itself is there, with its integrity.
    module = js(
        driver,
        "return document.querySelector('script[src*=\"flask-fanout-\"]').integrity",
    )
    assert module.startswith("sha384-")
