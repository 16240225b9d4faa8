"""A reconnect storm: a thousand streams cut at once all come back.

1,000 raw SSE clients hold the example app's stream through the proxy; the
proxy is stopped and started again on the same ports, which cuts every
stream at the same moment, and they all reconnect at once. Pushpin answers
502 to the overflow of such a storm (its queue to zurl holds 100 requests),
and a browser's ``EventSource`` closes for good on a 502, so coming back
rests on the JS module's own reconnects. The test proves that policy is
enough: every client gets its ``ready`` event again and the next hint.

Each client behaves as a page running the module does
(``js/src/transports/eventsource.ts``), with :class:`_Page` holding the
rules: a network error (refused, reset, a stream that ends) is retried by
``EventSource`` itself after the stream's ``retry:`` delay (2 s, the same for
every client: the storm); a non-200 answer closes the ``EventSource``, and
the module opens a new one after ``backoff(attempt)``: 1 s doubling to 64 s,
plus up to 1 s of jitter, reset by a ``ready`` event; a stream that gives no
``ready`` within ``connectTimeout`` (10 s) is replaced the same way. The
clients are :class:`tests.helpers.sse.RawSSEStream` sockets on one event
loop, so a thousand cost little.

It runs behind a real Pushpin and behind the local realm standing in for it
(the ``stack`` fixture): both must survive the same storm.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import random
import resource
import time
from collections.abc import Callable
from collections.abc import Iterator

import pytest

from tests.helpers.grip_proxies import GripStack
from tests.helpers.sse import RawSSEStream
from tests.helpers.sse import SSEEvent
from tests.helpers.sse import open_raw_stream
from tests.helpers.threads import cancel_all

CLIENTS = 1000
CHANNEL = "comments-1"
#: The module's ``connectTimeout`` default, seconds.
CONNECT_TIMEOUT = 10.0
#: Chromium's reconnection time until a stream sets ``retry:``, seconds.
DEFAULT_RETRY = 3.0
#: Clients opened at once before the storm, as pages open over time.
BATCH = 50

pytestmark = pytest.mark.timeout(90)


def _backoff(attempt: int) -> float:
    """The module's ``backoff(attempt)``, in seconds."""
    return min(2.0**attempt, 64.0) + random.random()


class _Page:
    """One page's stream, reconnecting as ``EventSource`` and the module do."""

    def __init__(self, url: str, changed: asyncio.Event) -> None:
        self.url = url
        self.changed = changed
        self.readies = 0
        self.hints: list[object] = []
        #: The stream that has had its ``ready`` and is still open, if any.
        self.live: RawSSEStream | None = None
        #: Why connection attempts failed: "network", "no ready", or a status.
        self.failures: collections.Counter[str] = collections.Counter()

    def _on_event(self, stream: RawSSEStream, event: SSEEvent) -> None:
        if event.type == "message":
            self.hints.append(json.loads(event.data)["data"])
            self.changed.set()

    async def run(self) -> None:
        attempt = 0  # the module's backoff counter
        retry = DEFAULT_RETRY  # the EventSource's reconnection time
        while True:
            stream = await open_raw_stream(
                self.url, self._on_event, timeout=CONNECT_TIMEOUT
            )
            try:
                if stream.status == 0:
                    # A network error: EventSource retries by itself.
                    self.failures["network"] += 1
                    delay = retry
                elif stream.status != 200:
                    # Closed for good: the module opens a new EventSource.
                    text = stream.refusal.decode(errors="replace").strip()[:40]
                    self.failures[f"{stream.status} {text}".strip()] += 1
                    delay, retry = _backoff(attempt), DEFAULT_RETRY
                    attempt += 1
                else:
                    first = None
                    with contextlib.suppress(TimeoutError):
                        first = await asyncio.wait_for(
                            asyncio.shield(stream.first_event), CONNECT_TIMEOUT
                        )
                    if first is None or first.type != "ready":
                        # The module's watchdog replaces a silent stream.
                        self.failures["no ready"] += 1
                        delay, retry = _backoff(attempt), DEFAULT_RETRY
                        attempt += 1
                    elif json.loads(first.data)["channels"] != [CHANNEL]:
                        # Denied: the module gives up on it (never seen here).
                        self.failures[f"ready {first.data}"] += 1
                        return
                    else:
                        attempt = 0
                        self.readies += 1
                        self.live = stream
                        self.changed.set()
                        await stream.closed
                        self.live = None
                        retry = (stream.retry or retry * 1000) / 1000
                        delay = retry
            finally:
                stream.close()
                self.live = None
                self.changed.set()
            await asyncio.sleep(delay)


def _all_ready(pages: list[_Page]) -> bool:
    return all(page.readies for page in pages)


def _failures(pages: list[_Page]) -> collections.Counter[str]:
    return sum((page.failures for page in pages), collections.Counter[str]())


async def _until(
    pages: list[_Page], predicate: Callable[[], bool], timeout: float, what: str
) -> float:
    """Wait (woken by the pages) until ``predicate()``; the seconds it took."""
    changed = pages[0].changed
    started = time.monotonic()
    deadline = started + timeout
    while not predicate():
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}; "
                f"{sum(1 for p in pages if p.live)} of {len(pages)} streams open, "
                f"failed attempts so far: {dict(_failures(pages))}"
            )
        changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), min(left, 0.2))
    return time.monotonic() - started


async def _storm(stack: GripStack) -> None:
    changed = asyncio.Event()
    url = f"{stack.proxy.url}/_fanout/events?channel={CHANNEL}"
    pages = [_Page(url, changed) for _ in range(CLIENTS)]
    tasks: list[asyncio.Task[None]] = []
    try:
        stack.proxy.mark()
        for start in range(0, CLIENTS, BATCH):
            batch = pages[start : start + BATCH]
            tasks += [asyncio.create_task(page.run()) for page in batch]
            await _until(
                batch,
                functools.partial(_all_ready, batch),
                30,
                f"clients {start}-{start + BATCH} to connect",
            )
        await asyncio.to_thread(stack.proxy.wait_streams, CHANNEL, CLIENTS, 30)
        await asyncio.to_thread(stack.publish, CHANNEL, {"n": 1})
        await _until(pages, lambda: all(p.hints for p in pages), 15, "the first hint")
        before = _failures(pages)

        # The storm: every stream cut at once, the proxy back on its ports.
        cut = time.monotonic()
        await asyncio.to_thread(stack.proxy.stop)
        await _until(
            pages, lambda: not any(p.live for p in pages), 10, "every stream cut"
        )
        stack.proxy.mark()
        await asyncio.to_thread(stack.proxy.start)
        restarted = time.monotonic() - cut
        await _until(
            pages,
            lambda: all(p.readies >= 2 and p.live for p in pages),
            75,
            "every client's second ready event",
        )
        back = time.monotonic() - cut
        await asyncio.to_thread(stack.proxy.wait_streams, CHANNEL, CLIENTS, 30)
        assert all(p.live for p in pages), "a stream was cut after coming back"
        await asyncio.to_thread(stack.publish, CHANNEL, {"n": 2})
        await _until(
            pages,
            lambda: all(len(p.hints) >= 2 for p in pages),
            15,
            "the hint after the storm",
        )
        after = _failures(pages)
        print(
            f"\n{stack.proxy.kind}: restarted {restarted:.1f} s after the cut, "
            f"all {CLIENTS} clients back after {back:.1f} s; failed attempts: "
            f"{dict(before)} before, {dict(after - before)} in the storm"
        )
        assert [p.hints for p in pages] == [[{"n": 1}, {"n": 2}]] * CLIENTS
    finally:
        await cancel_all(tasks)


@pytest.fixture
def _open_files() -> Iterator[None]:
    """Room for the clients' sockets and, for the local realm, the proxy's."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 4 * CLIENTS + 512
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} open files; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("_open_files")
def test_a_thousand_streams_cut_at_once_all_come_back(stack: GripStack) -> None:
    asyncio.run(_storm(stack))
