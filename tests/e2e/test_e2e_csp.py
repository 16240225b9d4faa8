"""Scenario 8: the page works under a strict Content-Security-Policy.

Flask-Talisman serves a nonce-based policy with ``'strict-dynamic'``, no
``'unsafe-inline'``, and ``connect-src`` limited to the app and the realm.
``fanout.script()`` picks Talisman's nonce up by itself; the module passes it
on to the Faye script it injects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selenium.webdriver.common.by import By

from tests.helpers.e2e import AppServer
from tests.helpers.e2e import Browser
from tests.helpers.e2e import RealmProcess
from tests.helpers.e2e import comment_ids
from tests.helpers.e2e import fanout_transport
from tests.helpers.e2e import http_get
from tests.helpers.e2e import js
from tests.helpers.e2e import now_ms
from tests.helpers.e2e import open_page
from tests.helpers.e2e import stats
from tests.helpers.e2e import strict_csp
from tests.helpers.e2e import wait
from tests.helpers.e2e import wait_for_comment
from tests.helpers.e2e import wait_for_subscribers


def _csp_for(realm_url: str) -> Callable[[Any], None]:
    """The strict policy, connecting only to the page's origin and the realm."""
    realm_ws = realm_url.replace("http://", "ws://", 1)
    return lambda app: strict_csp(app, ["'self'", realm_url, realm_ws])


def csp_violations(browser: Browser) -> list[str]:
    return [
        str(entry.get("message"))
        for entry in browser.read_console()
        if "content security policy" in str(entry.get("message")).lower()
    ]


def check_page_under_csp(
    browser: Browser, server: AppServer, realm: RealmProcess, channel: str
) -> None:
    driver = browser.driver
    status, _ = http_get(server.page_url(1))
    assert status == 200
    open_page(driver, server.page_url(1), state=None)
    wait(driver, 20).until(lambda d: js(d, "return window.Fanout.state") == "connected")
    wait_for_subscribers(realm, channel, 1)

    # Posting through the page's own form (fetch to 'self')...
    driver.find_element(By.NAME, "comment").send_keys("posted under a strict CSP")
    driver.find_element(By.CSS_SELECTOR, "#comment-form button").click()
    wait(driver).until(lambda d: len(comment_ids(d)) == 1)
    # ...and another client's comment arriving by realtime.
    posted = now_ms()
    comment = server.post_comment(1, "pushed under a strict CSP")
    shown = wait_for_comment(driver, comment, timeout=5)
    assert stats(driver)["appendedVia"][str(comment)] == "hint"
    assert shown - posted < 2000
    assert csp_violations(browser) == []


def test_strict_csp_page_works_over_websocket(
    browser: Browser, realm: RealmProcess, make_app: Callable[..., AppServer]
) -> None:
    server = make_app(
        realm.url, FANOUT_CHANNEL_PREFIX="csp-", customize=_csp_for(realm.url)
    )
    with server.app.test_client() as client:
        response = client.get("/pages/1")
        policy = response.headers["Content-Security-Policy"]
        html = response.get_data(as_text=True)
    assert "'strict-dynamic'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    # Every executable script carries the nonce; only the JSON data block does not.
    assert html.count("<script") == html.count(f'nonce="{nonce}"') + 1

    check_page_under_csp(browser, server, realm, "/csp-comments-1")
    assert fanout_transport(browser.driver) == "websocket"
    nonce_on_faye = js(
        browser.driver,
        "var s = document.querySelector('script[src*=\"faye-browser\"]');"
        "return s && s.nonce",
    )
    assert nonce_on_faye

    # The policy is enforced, and the console check above would have seen a
    # violation: a connection to an origin outside connect-src is refused.
    js(browser.driver, "fetch('http://127.0.0.1:9/elsewhere').catch(function () {})")
    wait(browser.driver).until(lambda d: csp_violations(browser))
    assert "connect-src" in csp_violations(browser)[0]


def test_strict_csp_page_works_over_jsonp_and_cors_long_polling(
    browser: Browser,
    realm_without_websocket: RealmProcess,
    make_app: Callable[..., AppServer],
) -> None:
    realm = realm_without_websocket
    server = make_app(
        realm.url, FANOUT_CHANNEL_PREFIX="csp-", customize=_csp_for(realm.url)
    )
    check_page_under_csp(browser, server, realm, "/csp-comments-1")
    assert fanout_transport(browser.driver) in {
        "long-polling",
        "cross-origin-long-polling",
        "callback-polling",
    }
