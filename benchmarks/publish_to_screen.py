"""Publish-to-screen latency in a real browser, realtime against polling.

Runs the example app (werkzeug, threaded) against a standalone local realm,
opens a comments page in headless Chromium and posts comments from Python.
For each comment it records, on one clock (the machine's):

* ``POST -> screen``: from just before the HTTP POST that creates the comment
  until the page has appended it (the page's own ``Date.now()``);
* ``publish -> screen``: from the moment the app hands the hint to the
  publisher (after the commit; the ``publish_accepted`` signal) until then.

Realtime: ``--comments`` comments (default 100), spaced a little over the
JS throttle window so that each one is a first message, not a coalesced one.

Polling: the same page with realtime unavailable (the Bayeux URL points at a
closed port) and a ``--poll-interval`` of 5 s, as the example's pages poll by default.
Comments are posted at random offsets into the poll cycle; the mean latency
is measured over ``--poll-samples`` samples and printed next to the analytic
expectation (interval / 2 plus the fetch).

``--backend grip`` adds the GRIP backend: the same app behind a real
Pushpin (:class:`tests.helpers.grip_proxies.GripStack`), the page loaded
through it, hints on its SSE stream, and the same measurement (plus the time
from the publish until the page's realtime callback ran, its
``hintTimes``), printed in one table next to Bayeux and the polling loop.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.publish_to_screen --comments 100 --poll-samples 16
    .venv/bin/python -m benchmarks.publish_to_screen --backend grip
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import NamedTuple

from benchmarks._stats import percentile
from benchmarks._stats import summary
from flask_fanout import signals
from tests.helpers.e2e import AppServer
from tests.helpers.e2e import Browser
from tests.helpers.e2e import RealmProcess
from tests.helpers.e2e import open_page
from tests.helpers.e2e import post_comment
from tests.helpers.e2e import start_app
from tests.helpers.e2e import stats
from tests.helpers.e2e import wait_for_comment
from tests.helpers.e2e import wait_for_subscribers
from tests.helpers.grip_proxies import GripStack


class PublishClock:
    """When the app accepted each hint for sending, by comment id (ms)."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}

    def __call__(self, sender: Any, publish: Any, **extra: Any) -> None:
        data = getattr(publish, "data", None)
        if isinstance(data, dict) and "comment" in data:
            self.at[int(data["comment"])] = time.time() * 1000


def free_closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Realtime(NamedTuple):
    """One realtime run's samples, in milliseconds."""

    post_to_screen: list[float]
    publish_to_screen: list[float]
    #: From the publish until the page's realtime callback ran.
    publish_to_callback: list[float]


def measure_realtime(
    browser: Browser, server: AppServer, realm: RealmProcess, count: int
) -> Realtime:
    """The Bayeux path: the page's WebSocket to the local realm."""
    return _measure_page(
        browser,
        server.page_url(1),
        lambda: wait_for_subscribers(realm, "/bench-comments-1", 1),
        lambda text: server.post_comment(1, text),
        server.app.config.get("FANOUT_THROTTLE", 0.5),
        count,
    )


def _measure_page(
    browser: Browser,
    page_url: str,
    wait_subscribed: Callable[[], None],
    post: Callable[[str], int],
    throttle: float,
    count: int,
) -> Realtime:
    """Post ``count`` comments and time each until the open page shows it."""
    clock = PublishClock()
    signals.publish_accepted.connect(clock, weak=False)
    driver = browser.driver
    open_page(driver, page_url)
    wait_subscribed()
    series = Realtime([], [], [])
    try:
        for n in range(count):
            started = time.time() * 1000
            comment = post(f"realtime sample {n}")
            shown = wait_for_comment(driver, comment, timeout=10)
            page = stats(driver)
            via = page["appendedVia"][str(comment)]
            if via != "hint":
                raise RuntimeError(f"comment {comment} arrived by {via}, not realtime")
            # The callback that fetched this comment: the last before it showed.
            called = max(t for t in page["hintTimes"] if t <= shown)
            series.post_to_screen.append(shown - started)
            series.publish_to_screen.append(shown - clock.at[comment])
            series.publish_to_callback.append(called - clock.at[comment])
            # Leave the throttle window so the next hint is a leading call.
            time.sleep(throttle + random.uniform(0.05, 0.2))
    finally:
        signals.publish_accepted.disconnect(clock)
    return series


def measure_grip(browser: Browser, tmp: Path, count: int) -> Realtime:
    """The GRIP path: the app and its page behind a real Pushpin, hints on
    the page's SSE stream; comments are posted to the app itself, as on the
    Bayeux path."""
    stack = GripStack(
        "pushpin", tmp / "grip.sqlite", {}, FANOUT_CHANNEL_PREFIX="bench-grip-"
    )
    try:
        stack.proxy.mark()
        return _measure_page(
            browser,
            f"{stack.proxy.url}/pages/1",
            lambda: stack.proxy.wait_streams("bench-grip-comments-1", 1),
            lambda text: post_comment(stack.origin.url, 1, text),
            stack.app.config.get("FANOUT_THROTTLE", 0.5),
            count,
        )
    finally:
        stack.close()


def measure_polling(
    browser: Browser, server: AppServer, samples: int, interval: float
) -> list[float]:
    driver = browser.driver
    open_page(driver, server.page_url(1), state=None)
    latencies: list[float] = []
    for n in range(samples):
        time.sleep(random.uniform(0, interval))
        started = time.time() * 1000
        comment = server.post_comment(1, f"polling sample {n}")
        shown = wait_for_comment(driver, comment, timeout=interval * 3)
        via = stats(driver)["appendedVia"][str(comment)]
        if via != "poll":
            raise RuntimeError(f"comment {comment} arrived by {via}, not polling")
        latencies.append(shown - started)
    return latencies


def _print_comparison(
    bayeux: Realtime, grip: Realtime, poll_ms: list[float], interval: float
) -> None:
    """Both realtime paths and the polling loop in one table (ms)."""
    print()
    print("Side by side (headless Chromium, 1 subscriber; milliseconds):")
    header = (
        f"  {'':<24}{'publish->callback':>22}{'publish->screen':>22}"
        f"{'POST->screen':>22}"
    )
    print(header)
    print(f"  {'':<24}" + f"{'median':>11}{'p99':>11}" * 3)
    for label, series in (
        ("Bayeux (WebSocket)", bayeux),
        ("GRIP (SSE via Pushpin)", grip),
    ):
        cells = "".join(
            f"{result.median:>11.1f}{result.p99:>11.1f}"
            for result in map(
                summary,
                (
                    series.publish_to_callback,
                    series.publish_to_screen,
                    series.post_to_screen,
                ),
            )
        )
        print(f"  {label:<24}{cells}")
    polled = summary(poll_ms)
    blank = f"{'-':>11}{'-':>11}" * 2
    print(
        f"  {f'polling every {interval:g} s':<24}{blank}"
        f"{polled.median:>11.1f}{polled.p99:>11.1f}"
    )
    callback = summary(grip.publish_to_callback).median
    verdict = "met" if callback <= 5 else "MISSED"
    print(
        f"Goal: publish -> browser callback median <= 5 ms through Pushpin: "
        f"{callback:.1f} ms, {verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=100)
    parser.add_argument("--poll-samples", type=int, default=12)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--backend",
        choices=["bayeux", "grip"],
        default="bayeux",
        help="bayeux (default): the local realm's WebSocket, then polling; "
        "grip: also the GRIP backend through a real Pushpin, printed next to both",
    )
    args = parser.parse_args()
    random.seed(args.seed)

    realm = RealmProcess().start()
    browser = Browser()
    servers: list[AppServer] = []
    grip: Realtime | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            realtime_app = start_app(
                Path(tmp) / "realtime.sqlite",
                realm.url,
                FANOUT_CHANNEL_PREFIX="bench-",
            )
            servers.append(realtime_app)
            print(f"realtime: {args.comments} comments over WebSocket ...", flush=True)
            bayeux = measure_realtime(browser, realtime_app, realm, args.comments)
            post_ms, publish_ms = bayeux.post_to_screen, bayeux.publish_to_screen

            if args.backend == "grip":
                print(
                    f"GRIP: {args.comments} comments over SSE through Pushpin ...",
                    flush=True,
                )
                grip = measure_grip(browser, Path(tmp), args.comments)

            polling_app = start_app(
                Path(tmp) / "polling.sqlite",
                realm.url,
                bayeux_url=f"http://127.0.0.1:{free_closed_port()}/bayeux",
                FANOUT_CHANNEL_PREFIX="bench-poll-",
                FANOUT_POLL_INTERVAL=args.poll_interval,
            )
            servers.append(polling_app)
            print(
                f"polling: {args.poll_samples} comments, realtime down, "
                f"{args.poll_interval:g} s interval ...",
                flush=True,
            )
            poll_ms = measure_polling(
                browser, polling_app, args.poll_samples, args.poll_interval
            )
            for server in servers:
                server.stop()
            servers.clear()
    finally:
        for server in servers:
            server.stop()
        browser.quit()
        realm.stop()

    print()
    print(f"Realtime (WebSocket, headless Chromium), {len(post_ms)} comments:")
    print(
        f"  publish -> screen  median {statistics.median(publish_ms):7.1f} ms"
        f"   p99 {percentile(publish_ms, 0.99):7.1f} ms"
        f"   max {max(publish_ms):7.1f} ms"
    )
    print(
        f"  POST -> screen     median {statistics.median(post_ms):7.1f} ms"
        f"   p99 {percentile(post_ms, 0.99):7.1f} ms"
        f"   max {max(post_ms):7.1f} ms"
    )
    if grip is not None:
        print(
            f"Realtime (GRIP: SSE through Pushpin, headless Chromium), "
            f"{len(grip.post_to_screen)} comments:"
        )
        for label, series in (
            ("publish -> callback", grip.publish_to_callback),
            ("publish -> screen", grip.publish_to_screen),
            ("POST -> screen", grip.post_to_screen),
        ):
            print(
                f"  {label:<19} median {statistics.median(series):7.1f} ms"
                f"   p99 {percentile(series, 0.99):7.1f} ms"
                f"   max {max(series):7.1f} ms"
            )
    print(
        f"Polling every {args.poll_interval:g} s (realtime down), "
        f"{len(poll_ms)} samples:"
    )
    print(
        f"  POST -> screen     mean {statistics.mean(poll_ms):9.1f} ms"
        f"   min {min(poll_ms):7.1f} ms   max {max(poll_ms):7.1f} ms"
    )
    print(
        f"  analytic mean      {args.poll_interval * 500:9.1f} ms"
        " (interval / 2, plus a fetch of a few ms)"
    )
    print(
        f"Ratio (polling mean / realtime POST->screen median): "
        f"{statistics.mean(poll_ms) / statistics.median(post_ms):.0f}x"
    )
    if grip is not None:
        _print_comparison(bayeux, grip, poll_ms, args.poll_interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
