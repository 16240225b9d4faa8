"""Scale-out on GRIP in the browser: two Pushpins, one app, one publish.

Two Pushpin instances stand in front of the same origin app, whose
``FANOUT_GRIP_URL`` lists both publish endpoints (as
``tests/grip/test_grip_scale_out.py`` builds it without a browser). A window
on each instance holds its stream there; one comment, so one publish, must
update both windows by hint. Pushpin only: with the local realm the app
renders a single stream address, the realm's, so two realms in front of one
app would need two apps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.e2e import Browser
from tests.helpers.e2e import now_ms
from tests.helpers.e2e import open_page
from tests.helpers.e2e import post_comment
from tests.helpers.e2e import report_latency
from tests.helpers.e2e import stats
from tests.helpers.e2e import wait_for_comment
from tests.helpers.grip_proxies import Origin
from tests.helpers.grip_proxies import PushpinProxy
from tests.helpers.grip_proxies import example_app

CHANNEL = "comments-1"


@pytest.fixture
def two_pushpins(
    pushpin_binary: str, tmp_path: Path
) -> Iterator[tuple[Origin, list[PushpinProxy]]]:
    """The example app behind two Pushpins, publishing to both."""
    origin = Origin()
    proxies: list[PushpinProxy] = []
    try:
        for _ in range(2):
            proxies.append(PushpinProxy(origin))
            proxies[-1].start()
        app = example_app(
            tmp_path / "app.sqlite",
            proxies[0],
            FANOUT_GRIP_URL=[proxy.pushpin.grip_url for proxy in proxies],
        )
        origin.serve(app)
        yield origin, proxies
    finally:
        origin.close()
        for proxy in proxies:
            proxy.close()


def test_one_publish_updates_windows_on_two_pushpins(
    browser: Browser, two_pushpins: tuple[Origin, list[PushpinProxy]]
) -> None:
    origin, proxies = two_pushpins
    driver = browser.driver
    windows = []
    marks = []
    for index, proxy in enumerate(proxies):
        if index:
            driver.switch_to.new_window("window")
        marks.append(proxy.mark())
        open_page(driver, f"{proxy.url}/pages/1")
        proxy.wait_streams(CHANNEL, 1)
        windows.append(driver.current_window_handle)

    posted = now_ms()
    comment = post_comment(origin.url, 1, "one publish, two proxies")
    for proxy, since in zip(proxies, marks, strict=True):
        # Each instance got the item and delivered it to its one stream.
        proxy.pushpin.wait_for_delivery(CHANNEL, 1, since=since, timeout=5)
    for window in windows:
        driver.switch_to.window(window)
        shown = wait_for_comment(driver, comment, timeout=5)
        assert stats(driver)["appendedVia"][str(comment)] == "hint"
        report_latency("two Pushpins, one publish", shown - posted)
        assert shown - posted < 3000, f"took {shown - posted:.0f} ms"
