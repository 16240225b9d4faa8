"""A private channel in headless Chromium, on both GRIP proxies: page 3 of the
example, whose channel the app's authorizer grants to signed-in visitors only.

Two browsers, because the windows of one browser share its cookies (and its
stream): the module's Chromium is signed in; a second one, with a profile of
its own, is not. Both listen while the same hint is published. The
signed-in window gets it; the signed-out one is told once, by an ``error``
event naming the channel, that the channel is denied, and nothing of the
channel reaches it, not even in the raw stream, while its public channel
keeps working. The private page itself answers 403 with the members-only
template.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By

from tests.helpers.e2e import Browser
from tests.helpers.e2e import OnEveryPage
from tests.helpers.e2e import browser_for_test
from tests.helpers.e2e import fanout_state
from tests.helpers.e2e import http_get
from tests.helpers.e2e import js
from tests.helpers.e2e import open_page
from tests.helpers.e2e import post_comment
from tests.helpers.e2e import sign_in
from tests.helpers.e2e import stats
from tests.helpers.e2e import wait
from tests.helpers.e2e import wait_for_comment
from tests.helpers.e2e_grip import STREAM_RECORDER
from tests.helpers.e2e_grip import page_url
from tests.helpers.e2e_grip import stream_events
from tests.helpers.e2e_grip import streams_opened
from tests.helpers.grip_proxies import GripStack
from tests.helpers.grip_proxies import page_origin

#: In a public page: also subscribe to the private channel, recording the
#: module's errors and every call of the callback.
_ALSO_SUBSCRIBE_PRIVATE = """
window.fanoutErrors = [];
window.privateCalls = [];
Fanout.on('error', (e) => window.fanoutErrors.push(
  {message: String(e && e.message), channel: e && e.channel}));
Fanout.subscribe('comments-3', (data) => window.privateCalls.push(data));
"""


@pytest.fixture(scope="module")
def other_browser_session() -> Iterator[Browser]:
    session = Browser()
    yield session
    session.quit()


@pytest.fixture
def signed_out(
    other_browser_session: Browser, request: pytest.FixtureRequest
) -> Iterator[Browser]:
    """A second Chromium, never signed in; artifacts on failure."""
    yield from browser_for_test(other_browser_session, request, "-signed-out")


def test_the_private_page_answers_403_to_a_signed_out_visitor(
    signed_out: Browser, stack: GripStack
) -> None:
    status, _ = http_get(page_url(stack, 3))
    assert status == 403
    driver = signed_out.driver
    driver.get(page_url(stack, 3))
    assert driver.find_elements(By.ID, "members-only")
    assert not driver.find_elements(By.ID, "discussion")
    # Its comments too, asked for the way the page script would.
    answer = js(
        driver,
        "return fetch('/pages/3/comments?since=0', "
        "{headers: {Accept: 'application/json'}}).then(r => r.status)",
    )
    assert answer == 403


def test_hints_reach_the_signed_in_window_and_never_the_signed_out_one(
    browser: Browser, signed_out: Browser, stack: GripStack
) -> None:
    stack.proxy.mark()
    member = browser.driver
    sign_in(member, page_origin(stack), "ann")
    open_page(member, page_url(stack, 3))
    stack.proxy.wait_streams("comments-3", 1)

    outsider = signed_out.driver
    with OnEveryPage(outsider, STREAM_RECORDER):
        open_page(outsider, page_url(stack, 1))
        js(outsider, _ALSO_SUBSCRIBE_PRIVATE)
        wait(outsider).until(lambda d: js(d, "return window.fanoutErrors.length") > 0)
        [error] = js(outsider, "return window.fanoutErrors")
        assert error["channel"] == "comments-3"
        assert "comments-3" in error["message"]
        # The page's public channel is still carried, on the new stream.
        assert fanout_state(outsider) == "connected"
        stack.proxy.wait_streams("comments-1", 1)

        secret = post_comment(stack.origin.url, 3, "members only", as_user="bob")
        wait_for_comment(member, secret, timeout=5)
        assert stats(member)["appendedVia"][str(secret)] == "hint"

        # A public comment after it reaches the outsider by hint, so the
        # private hint, published first on the same proxy, had its chance.
        public = post_comment(stack.origin.url, 1, "for everyone")
        wait_for_comment(outsider, public, timeout=5)
        assert stats(outsider)["appendedVia"][str(public)] == "hint"

        assert js(outsider, "return window.privateCalls") == []
        hints = [e for e in stream_events(outsider) if e["type"] == "message"]
        assert [h["data"]["channel"] for h in hints] == ["comments-1"]
        readies = [e["data"] for e in stream_events(outsider) if e["type"] == "ready"]
        assert {"channels": ["comments-1"], "denied": ["comments-3"]} in readies
        # Told once, not in a loop: one error, and the stream opened for the
        # two channels was not retried.
        assert len(js(outsider, "return window.fanoutErrors")) == 1
        assert len(streams_opened(outsider)) == 2
        assert "members only" not in outsider.page_source
