"""Scenario 8 on GRIP: the page works under a strict Content-Security-Policy.

Flask-Talisman serves a nonce-based policy with ``'strict-dynamic'``, no
``'unsafe-inline'``, and ``connect-src`` limited to what the page needs:
``'self'`` behind Pushpin, where the page and its stream share an origin,
and ``'self'`` plus the realm's address with the local realm, whose stream
is cross-origin. The page must connect, update by hint, and raise no
``securitypolicyviolation`` event: a recorder installed before the page's
own scripts sees every one, and a request the policy forbids shows that it
would.
"""

from __future__ import annotations

import json

from selenium.webdriver.common.by import By

from tests.helpers.e2e import Browser
from tests.helpers.e2e import OnEveryPage
from tests.helpers.e2e import comment_ids
from tests.helpers.e2e import fanout_transport
from tests.helpers.e2e import js
from tests.helpers.e2e import now_ms
from tests.helpers.e2e import open_page
from tests.helpers.e2e import post_comment
from tests.helpers.e2e import report_latency
from tests.helpers.e2e import stats
from tests.helpers.e2e import strict_csp
from tests.helpers.e2e import wait
from tests.helpers.e2e import wait_for_comment
from tests.helpers.grip_proxies import GripStack
from tests.helpers.grip_proxies import page_origin

#: Records every CSP violation of the document, from before its first script.
_RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.cspViolations.push(e.effectiveDirective + " " + e.blockedURI);
});
"""


def _violations(browser: Browser) -> list[str]:
    """What the recorder saw, and any CSP report in the console."""
    recorded: list[str] = js(browser.driver, "return window.cspViolations || []")
    console = [
        str(entry.get("message"))
        for entry in browser.read_console()
        if "content security policy" in str(entry.get("message")).lower()
    ]
    return recorded + console


def test_strict_csp_page_connects_and_updates_by_hint(
    browser: Browser, stack: GripStack
) -> None:
    # Only the realm is a second origin (its stream); Pushpin serves it all.
    connect_src = ["'self'"]
    if stack.proxy.kind == "local":
        connect_src.append(stack.proxy.url)
    # Before the app's first request: Talisman registers request hooks.
    strict_csp(stack.app, connect_src)
    base = page_origin(stack)
    with stack.app.test_client() as client:
        response = client.get("/pages/1")
        policy = response.headers["Content-Security-Policy"]
        html = response.get_data(as_text=True)
    assert "'strict-dynamic'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert f"connect-src {' '.join(connect_src)}" in policy
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    # Every executable script carries the nonce; only the JSON config does not.
    assert html.count("<script") == html.count(f'nonce="{nonce}"') + 1
    config = json.loads(html.split('id="flask-fanout-config">', 1)[1].split("<")[0])
    assert config["nonce"] == nonce

    driver = browser.driver
    stack.proxy.mark()
    with OnEveryPage(driver, _RECORD_VIOLATIONS):
        open_page(driver, f"{base}/pages/1")
    stack.proxy.wait_streams("comments-1", 1)
    assert fanout_transport(driver) == "eventsource"

    # Posting through the page's own form (a fetch to 'self')...
    driver.find_element(By.NAME, "comment").send_keys("posted under a strict CSP")
    driver.find_element(By.CSS_SELECTOR, "#comment-form button").click()
    wait(driver).until(lambda d: len(comment_ids(d)) == 1)
    # ...and another client's comment arriving by hint.
    posted = now_ms()
    comment = post_comment(stack.origin.url, 1, "pushed under a strict CSP")
    shown = wait_for_comment(driver, comment, timeout=5)
    assert stats(driver)["appendedVia"][str(comment)] == "hint"
    report_latency(f"{stack.proxy.kind}, strict CSP", shown - posted)
    assert shown - posted < 3000, f"took {shown - posted:.0f} ms"
    assert _violations(browser) == []

    # The policy is enforced, and the recorder would have seen a violation:
    # a connection outside connect-src is refused and reported.
    js(driver, "fetch('http://127.0.0.1:9/elsewhere').catch(function () {})")
    wait(driver).until(lambda d: js(d, "return window.cspViolations.length") > 0)
    assert js(driver, "return window.cspViolations")[0].startswith("connect-src")
