"""The bounded queues, the sender threads, flush, fork and exit.

Every endpoint gets a :class:`_Lane`: its own bounded queue and its own lazy
daemon thread, which POSTs whatever has accumulated in batches bounded by
count (``FANOUT_BATCH_SIZE``) and by bytes (``FANOUT_BATCH_BYTES``). One lane
per endpoint, because with several GRIP proxies a slow or dead one must not
hold back the hints for the others.

Why not ``pubcontrol.PubControlClient``: its non-blocking mode keeps an
unbounded queue and drops errors silently unless a callback is given, its
requests carry no timeout, and it flattens the endpoint's answer into a
``ValueError`` string, losing the status.

Every accepted hint ends one of two ways: delivered (``published``), or
logged and signalled (``publish_failed``, ``publish_dropped``).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from blinker import NamedSignal

from . import signals
from ._client import Delivered
from ._client import Endpoint
from ._client import PublishClient
from ._errors import PublishError
from ._message import BODY_OVERHEAD
from ._message import Message
from ._message import Publish
from ._ratelimit import RateLimitedLog

logger = logging.getLogger("flask_fanout")

#: A sender thread with nothing to do for this long exits (and closes its
#: connection); the next publish starts a new one.
IDLE_EXIT = 30.0
#: At most one line per condition (a full queue, failures of one kind at one
#: endpoint) per this many seconds: a dead endpoint must not flood the log.
LOG_INTERVAL = 10.0
#: How long the interpreter may spend flushing queued publishes at exit.
EXIT_FLUSH_BOUND = 5.0
#: Statuses that mean "this request's content was refused": the batch is
#: split to find the item at fault, and the others are still delivered.
_ITEM_REFUSALS = frozenset({400, 413, 422})
#: Extra requests spent isolating refused items, per batch, at most.
MAX_ISOLATION_REQUESTS = 32

_limited = RateLimitedLog(logger, LOG_INTERVAL)


def body_of(batch: Sequence[Message]) -> bytes:
    """The request body of ``batch``: its items, laid out once, spliced in."""
    return ('{"items":[' + ",".join(m.item for m in batch) + "]}").encode("ascii")


class Notifier:
    """Sends the signals with the app as sender, and logs a receiver's error.

    Each receiver is called on its own, because blinker's ``send`` stops at
    the first receiver that raises: one buggy receiver must not hide the
    publish from the others (``record_publishes`` among them). It holds the
    app weakly, so the per-app state can go away with the app.
    """

    def __init__(self, app_ref: Callable[[], Any]) -> None:
        self._app_ref = app_ref

    def send(self, signal: NamedSignal, **kwargs: Any) -> None:
        if not signal.receivers:
            return
        app = self._app_ref()
        if app is None:
            return
        for receiver in signal.receivers_for(app):
            try:
                receiver(app, **kwargs)
            except Exception:
                logger.exception(
                    "A receiver of the Flask-Fanout signal %r raised", signal.name
                )


class _Lane:
    """One endpoint's bounded queue and its daemon thread."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout: float,
        queue_size: int,
        batch_size: int,
        batch_bytes: int,
        notifier: Notifier,
    ) -> None:
        self.endpoint = endpoint
        self._timeout = timeout
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        self._notifier = notifier
        self.reset()

    def reset(self) -> None:
        """(Re)create everything a fork invalidates: locks, thread, counters.

        Re-entrant lock: the app's finalizer (``stop``) can run from the
        garbage collector on a thread that already holds it.
        """
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._progress = threading.Condition(self._lock)
        self._queue: deque[Message] = deque()
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Non-blocking publishes queued, and those sent or failed since:
        # ``flush`` waits for the difference, and it is the pending count.
        self.submitted = 0
        self.finished = 0
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._idle: list[PublishClient] = []

    # -- clients for blocking publishes --------------------------------------

    def take_client(self) -> PublishClient:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return PublishClient(self.endpoint, self._timeout)

    def give_back(self, client: PublishClient) -> None:
        with self._lock:
            if not self._stopping and len(self._idle) < 8:
                self._idle.append(client)
                return
        client.close()

    def count(self, sent: int = 0, failed: int = 0) -> None:
        with self._lock:
            self.sent += sent
            self.failed += failed

    # -- the queue -------------------------------------------------------------

    def enqueue(self, message: Message) -> bool:
        """Queue ``message``; ``False`` (counted, logged, signalled) if full."""
        with self._lock:
            if len(self._queue) < self._queue_size:
                self._queue.append(message)
                self.submitted += 1
                if not self._alive():
                    self._start_thread()
                else:
                    self._wake.notify()
                return True
            self.dropped += 1
            dropped = self.dropped
        _limited.warning(
            f"queue-full:{self.endpoint.name}",
            "Fanout publish queue is full for %s (FANOUT_QUEUE_SIZE=%d): dropped "
            "%d publish(es) in total; is it reachable?",
            self.endpoint.name,
            self._queue_size,
            dropped,
        )
        self._notifier.send(
            signals.publish_dropped,
            publish=message.publish,
            dropped=dropped,
        )
        return False

    def _alive(self) -> bool:
        # A thread killed by a BaseException from a signal receiver has
        # cleared ``_thread`` on its way out; ``is_alive`` also covers a
        # thread that died before it could.
        return self._thread is not None and self._thread.is_alive()

    def _start_thread(self) -> bool:
        # Called with the lock held.
        self._stopping = False
        thread = threading.Thread(
            target=self._run, name="flask-fanout-sender", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:
            # "can't create new thread at interpreter shutdown": the items
            # stay queued; the exit flush reports them.
            logger.warning(
                "Fanout: cannot start the sender thread; publishes stay queued"
            )
            return False
        self._thread = thread
        return True

    def _take_batch(self) -> list[Message]:
        # Called with the lock held and a non-empty queue. The first item
        # always goes (publish() refused any item too big for a batch alone).
        batch = [self._queue.popleft()]
        size = BODY_OVERHEAD + len(batch[0].item)
        while self._queue and len(batch) < self._batch_size:
            extra = len(self._queue[0].item) + 1
            if size + extra > self._batch_bytes:
                break
            size += extra
            batch.append(self._queue.popleft())
        return batch

    def _run(self) -> None:
        client = PublishClient(self.endpoint, self._timeout)
        me = threading.current_thread()
        try:
            while True:
                with self._lock:
                    while not self._queue:
                        if self._stopping or (
                            not self._wake.wait(IDLE_EXIT) and not self._queue
                        ):
                            return
                    batch = self._take_batch()
                outcome: list[tuple[list[Message], PublishError | None]] = []
                try:
                    outcome = deliver(client, batch)
                finally:
                    # Accounted even if delivering or reporting raises, so
                    # ``flush`` can never wait for a batch that is gone.
                    sent = sum(len(b) for b, e in outcome if e is None)
                    with self._lock:
                        self.sent += sent
                        self.failed += len(batch) - sent
                        self.finished += len(batch)
                        self._progress.notify_all()
                for part, error in outcome:
                    try:
                        report(self._notifier, self.endpoint, part, error)
                    except BaseException:
                        # A receiver raised SystemExit, KeyboardInterrupt or
                        # the like: on this thread it can only mean "bug";
                        # it must not end the sending for every later hint.
                        logger.exception(
                            "A Flask-Fanout signal receiver raised on the sender "
                            "thread; the sender carries on"
                        )
        finally:
            client.close()
            with self._lock:
                if self._thread is me:
                    self._thread = None
                self._progress.notify_all()

    # -- control ---------------------------------------------------------------

    def flush(self, deadline: float | None) -> bool:
        with self._lock:
            target = self.submitted
            while self.finished < target:
                if not self._alive() and not self._start_thread():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._progress.wait(remaining)
            return True

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._wake.notify()
            idle, self._idle = self._idle, []
        for client in idle:
            client.close()

    def join(self, deadline: float | None) -> None:
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(
                None if deadline is None else max(0, deadline - time.monotonic())
            )

    def pending(self) -> int:
        with self._lock:
            return self.submitted - self.finished


def deliver(
    client: PublishClient, batch: list[Message]
) -> list[tuple[list[Message], PublishError | None]]:
    """POST ``batch``; on a refusal of its content, isolate the items at fault.

    When the endpoint refuses a batch with 400, 413 or 422, one bad item
    must not take the valid ones with it: the batch is halved and each half
    sent again, down to the single items that are refused, within
    :data:`MAX_ISOLATION_REQUESTS` extra requests. Other failures (no answer,
    5xx, 401) are about the endpoint, not an item, and fail the batch whole.
    """
    results: list[tuple[list[Message], PublishError | None]] = []
    budget = MAX_ISOLATION_REQUESTS
    todo = [batch]
    while todo:
        part = todo.pop(0)
        try:
            client.post(body_of(part), [m.publish.channel for m in part])
        except PublishError as error:
            if error.status in _ITEM_REFUSALS and len(part) > 1 and budget >= 2:
                budget -= 2
                half = len(part) // 2
                todo[:0] = [part[:half], part[half:]]
                continue
            _limited.error(
                f"failed:{client.endpoint.name}:{error.status}",
                "Fanout publish of %d item(s) failed: %s",
                len(part),
                error,
            )
            results.append((part, error))
        except Exception as exc:
            # Never let an unexpected error kill the sender thread.
            logger.exception(
                "Fanout publish of %d item(s) failed unexpectedly", len(part)
            )
            unexpected = PublishError(
                None,
                f"unexpected {type(exc).__name__}: {exc}",
                [m.publish.channel for m in part],
                endpoint=client.endpoint.name,
            )
            results.append((part, unexpected))
        else:
            results.append((part, None))
    return results


def report(
    notifier: Notifier,
    endpoint: Endpoint,
    batch: Sequence[Message],
    error: PublishError | None,
) -> None:
    publishes: list[Publish] = [m.publish for m in batch]
    if error is None:
        notifier.send(signals.published, publishes=publishes)
    else:
        notifier.send(signals.publish_failed, error=error, publishes=publishes)


class Sender:
    """Every lane of one app, and the blocking path beside them."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        timeout: float,
        queue_size: int,
        batch_size: int,
        batch_bytes: int,
        app_ref: Callable[[], Any],
    ) -> None:
        self.notifier = Notifier(app_ref)
        self.lanes = [
            _Lane(
                endpoint,
                timeout=timeout,
                queue_size=queue_size,
                batch_size=batch_size,
                batch_bytes=batch_bytes,
                notifier=self.notifier,
            )
            for endpoint in endpoints
        ]
        _live.add(self)

    def enqueue(self, message: Message) -> None:
        for lane in self.lanes:
            lane.enqueue(message)

    def send_now(self, batch: list[Message]) -> list[Delivered]:
        """Send ``batch`` to every endpoint now, in this thread.

        Every endpoint is tried, so one dead proxy does not keep a hint from
        the others.

        :raises PublishError: the first failure, once all were tried.
        """
        results: list[Delivered] = []
        first: PublishError | None = None
        body = body_of(batch)
        channels = [m.publish.channel for m in batch]
        for lane in self.lanes:
            client = lane.take_client()
            try:
                results.append(client.post(body, channels))
            except PublishError as error:
                lane.count(failed=len(batch))
                report(self.notifier, lane.endpoint, batch, error)
                first = first or error
                continue
            finally:
                lane.give_back(client)
            lane.count(sent=len(batch))
            report(self.notifier, lane.endpoint, batch, None)
        if first is not None:
            raise first
        return results

    def flush(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        return all([lane.flush(deadline) for lane in self.lanes])

    def stop(self) -> None:
        for lane in self.lanes:
            lane.stop()

    def close(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        flushed = self.flush(timeout)
        self.stop()
        for lane in self.lanes:
            lane.join(deadline)
        return flushed

    def after_fork_in_child(self) -> None:
        # In a forked child (gunicorn --preload, multiprocessing) the
        # parent's threads do not exist, its locks may be held and its
        # connections are shared with the parent. The parent still sends
        # what it queued; the child starts afresh. This runs from an
        # ``os.register_at_fork`` hook, before any other thread of the child
        # exists, so no publish can race with it.
        for lane in self.lanes:
            lane.reset()

    def totals(self) -> tuple[int, int, int, int]:
        """``(sent, failed, dropped, pending)`` summed over the endpoints."""
        sent = failed = dropped = pending = 0
        for lane in self.lanes:
            with lane._lock:
                sent += lane.sent
                failed += lane.failed
                dropped += lane.dropped
                pending += lane.submitted - lane.finished
        return sent, failed, dropped, pending


_live: weakref.WeakSet[Sender] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for sender in list(_live):
        sender.after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX; elsewhere there is no fork()
    os.register_at_fork(after_in_child=_reset_after_fork)


@atexit.register
def _flush_at_exit() -> None:
    """Give queued publishes a bounded chance to go out when the process exits."""
    deadline = time.monotonic() + EXIT_FLUSH_BOUND
    for sender in list(_live):
        for lane in sender.lanes:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not lane.flush(
                time.monotonic() + min(remaining, lane._timeout * 2)
            ):
                pending = lane.pending()
                if pending:
                    logger.warning(
                        "Fanout: exiting with %d publish(es) unsent to %s",
                        pending,
                        lane.endpoint.name,
                    )
