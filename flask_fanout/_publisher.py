"""Validation, the wire format, and the background sender.

A publish is validated and serialised synchronously, in the caller's thread:
a bad channel or unserialisable data is a programming error and has to fail
where it was made. Sending is a network operation and is done by one daemon
thread per app, which batches whatever has accumulated into a single POST.

Why not ``pubcontrol.PubControlClient`` for the sending? Its non-blocking
mode keeps an unbounded queue and drops errors silently unless a callback is
given, its requests carry no timeout (a stalled endpoint stalls the caller
forever in blocking mode), and it flattens the endpoint's answer into a
``ValueError`` string, losing the status. So the POST is made here with
``requests`` (timeout, status kept), while ``pubcontrol.Item`` still produces
each item of the body, so the wire format stays the library's.

Why sign the JWT here rather than through pubcontrol or ``jwt.encode``?
pubcontrol's helper (``pubcontrol.utilities._gen_auth_jwt_header``) is
private and computes the expiry with ``datetime.utcnow()``, deprecated since
Python 3.12. PyJWT (2.10+) emits ``InsecureKeyLengthWarning`` on *every*
encode with a key shorter than 32 bytes, and the realm key's length is
Fanout's choice, not the user's: the warning could not be acted on, and under
``-W error`` it would turn every publish into a failure. An HS256 JWT is a
few lines of ``hmac``; the claims are the same ``{"iss": <realm>, "exp": now +
3600}``, with a fresh token per request, and the tests verify it with PyJWT.
"""

from __future__ import annotations

import atexit
import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import math
import os
import re
import threading
import time
import weakref
from collections import deque
from typing import Any
from typing import NamedTuple

import requests
from blinker import NamedSignal
from flask import Flask
from pubcontrol import Format
from pubcontrol import Item

from . import signals
from ._channels import validate_channel
from ._config import FanoutConfig
from ._errors import InvalidPublishError
from ._errors import PublishError

logger = logging.getLogger("flask_fanout")

#: A sender thread with nothing to do for this long exits (and closes its
#: connection); the next publish starts a new one.
IDLE_EXIT = 30.0
#: At most one "queue full" log line per this many seconds and sender.
DROP_LOG_INTERVAL = 10.0
#: How long the interpreter may spend flushing queued publishes at exit.
EXIT_FLUSH_BOUND = 5.0

_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
#: Stands for an item's data in pubcontrol's export (see ``Publisher._body``).
_DATA = object()
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def _b64url(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


_JWT_HEADER = _b64url(b'{"alg":"HS256","typ":"JWT"}')


@dataclasses.dataclass(frozen=True, slots=True)
class Publish:
    """One accepted publish, as recorded and as reported by the signals.

    :param channel: The logical channel, as given to ``publish()`` (without
        ``FANOUT_CHANNEL_PREFIX``).
    :param data: The data as given. It was serialised when it was accepted,
        so later changes to the object do not change what is sent.
    :param id: The item id, if any.
    :param prev_id: The previous item id, if any.

    .. versionadded:: 0.1
    """

    channel: str
    data: Any
    id: str | None = None
    prev_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PublishStats:
    """Counters of one app's sender, since start-up (or since a fork).

    :param sent: Publishes the endpoint accepted.
    :param failed: Publishes lost to a failed request (blocking ones included).
    :param dropped: Non-blocking publishes dropped because the queue was full.
    :param pending: Publishes queued or in flight right now.

    .. versionadded:: 0.1
    """

    sent: int
    failed: int
    dropped: int
    pending: int


class Pending(NamedTuple):
    """A validated publish, ready for the wire (internal)."""

    publish: Publish
    wire_channel: str
    #: ``data`` serialised once, at publish time.
    text: str


class _JsonObject(Format):  # type: ignore[misc]
    """The ``json-object`` format: the value subscribers receive as-is.

    The ``fanout`` package has the same class; it is not a dependency, and
    pubcontrol only ships the :class:`~pubcontrol.Format` base.
    """

    def __init__(self, value: Any) -> None:
        self.value = value

    def name(self) -> str:
        return "json-object"

    def export(self) -> Any:
        return self.value


def prepare(
    config: FanoutConfig,
    channel: object,
    data: Any,
    id: object = None,
    prev_id: object = None,
) -> Pending:
    """Validate one publish and serialise its data (internal).

    :raises InvalidChannelError: for a bad channel name.
    :raises InvalidPublishError: for unserialisable data or a bad id.
    """
    name = validate_channel(channel)
    if id is not None and (type(id) is not str or not id):
        raise InvalidPublishError(
            name, f"id must be a non-empty str or None, got {id!r}"
        )
    if prev_id is not None and (type(prev_id) is not str or not prev_id):
        raise InvalidPublishError(
            name, f"prev_id must be a non-empty str or None, got {prev_id!r}"
        )
    try:
        text = _ENCODER.encode(data)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidPublishError(
            name, f"data is not JSON-serialisable: {exc}"
        ) from exc
    return Pending(Publish(name, data, id, prev_id), config.channel_prefix + name, text)


def _describe(exc: requests.RequestException, url: str, config: FanoutConfig) -> str:
    """A short, secret-free description of a network error."""
    if isinstance(exc, requests.Timeout):
        return f"no answer from {url} within {config.timeout:g} s (FANOUT_TIMEOUT)"
    found = _ERRNO.search(str(exc))
    reason = found.group().strip() if found else type(exc).__name__
    message = f"cannot reach {url}: {reason}"
    if config.local and isinstance(exc, requests.ConnectionError):
        message += (
            " (is the local realm running? Start it with `flask fanout realm`, "
            "or let the development server embed it)"
        )
    return message


class Publisher:
    """The sender of one app: a bounded queue and one lazy daemon thread.

    It holds the app only through a weak reference (for the signals' sender),
    so that the per-app state in the extension's ``WeakKeyDictionary`` can go
    away with the app.
    """

    def __init__(self, config: FanoutConfig, app: Flask) -> None:
        self.config = config
        self.url = config.publish_url + "/publish/"
        self._app_ref = weakref.ref(app)
        self._init_runtime()
        finalizer = weakref.finalize(app, self.stop)
        # At exit the module's own hook flushes with a bound instead.
        finalizer.atexit = False
        _live.add(self)

    def _init_runtime(self) -> None:
        # Everything that a fork invalidates: locks, the thread, connections.
        # Re-entrant: the app's finalizer (stop) can run from the garbage
        # collector on a thread that already holds the lock.
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._progress = threading.Condition(self._lock)
        self._queue: deque[Pending] = deque()
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Non-blocking publishes queued, and those sent or failed since:
        # ``flush`` waits for the difference, and it is ``stats().pending``.
        self._submitted = 0
        self._finished = 0
        self._sent = 0
        self._failed = 0
        self._dropped = 0
        self._dropped_unlogged = 0
        self._last_drop_log = -math.inf
        self._idle_sessions: list[requests.Session] = []

    def _after_fork_in_child(self) -> None:
        # In a forked child (gunicorn --preload, multiprocessing) the
        # parent's thread does not exist, its locks may be held and its
        # connections are shared with the parent. The parent still sends what
        # it queued; the child starts afresh. This runs from an
        # ``os.register_at_fork`` hook, before any other thread of the child
        # exists, so no publish can race with it (a check on the first
        # publish could: two threads would both reset the queue).
        stale = self._idle_sessions
        self._init_runtime()
        for session in stale:
            session.close()

    # Sessions -------------------------------------------------------------
    # Blocking publishes, possibly from several threads at once, each borrow
    # an idle session, so their keep-alive connections are reused without a
    # Session ever being shared between threads. The sender has its own.

    def _take_session(self) -> requests.Session:
        with self._lock:
            if self._idle_sessions:
                return self._idle_sessions.pop()
        return requests.Session()

    def _give_back(self, session: requests.Session) -> None:
        with self._lock:
            if not self._stopping:
                self._idle_sessions.append(session)
                return
        session.close()

    # Sending --------------------------------------------------------------

    def _token(self) -> str:
        """A fresh HS256 JWT for the realm (see the module docstring for why
        it is not made with ``jwt.encode``)."""
        claims = {"iss": self.config.realm_id, "exp": int(time.time()) + 3600}
        signing_input = _JWT_HEADER + b"." + _b64url(_ENCODER.encode(claims).encode())
        signature = hmac.digest(self.config.realm_key, signing_input, hashlib.sha256)
        return (signing_input + b"." + _b64url(signature)).decode("ascii")

    def _body(self, batch: list[Pending]) -> bytes:
        # pubcontrol's Item lays out each item (the format name as a key,
        # "id" and "prev-id" only when set). The data was serialised once, at
        # publish time; a sentinel stands in for it so that the text is
        # spliced in rather than parsed and serialised again, which keeps
        # this thread's share of the GIL (and so the views' p99) small.
        encode = _ENCODER.encode
        items = []
        for pending in batch:
            publish = pending.publish
            item = Item(
                _JsonObject(_DATA), id=publish.id, prev_id=publish.prev_id
            ).export()
            item["channel"] = pending.wire_channel
            fields = [
                f"{encode(key)}:{pending.text if value is _DATA else encode(value)}"
                for key, value in item.items()
            ]
            items.append("{" + ",".join(fields) + "}")
        return ('{"items":[' + ",".join(items) + "]}").encode("utf-8")

    def _post(self, session: requests.Session, batch: list[Pending]) -> None:
        """POST ``batch`` in one request; raise :class:`PublishError`."""
        channels = [pending.publish.channel for pending in batch]
        body = self._body(batch)
        token = self._token()
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        }
        try:
            # No redirects: requests would turn the POST into a GET.
            response = session.post(
                self.url,
                data=body,
                headers=headers,
                timeout=self.config.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise PublishError(
                None, _describe(exc, self.url, self.config), channels
            ) from None
        with response:
            if 200 <= response.status_code < 300:
                return
            if response.is_redirect:
                location = response.headers.get("Location", "?")
                raise PublishError(
                    response.status_code,
                    f"redirected to {location}; point FANOUT_PUBLISH_URL at the target",
                    channels,
                )
            # An endpoint (or a proxy's error page) may echo the request's
            # headers; the token must not reach logs or signal receivers.
            text = response.text.replace(token, "<token>")
            message = " ".join(text.split())[:300] or response.reason or "(empty body)"
            raise PublishError(response.status_code, message, channels)

    def signal(self, signal: NamedSignal, **kwargs: Any) -> None:
        """Send ``signal`` with the app as sender; log a receiver's error.

        Each receiver is called on its own, because blinker's ``send`` stops
        at the first receiver that raises: one buggy receiver must not hide
        the publish from the others (``record_publishes`` among them).
        """
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

    def _report(self, batch: list[Pending], error: PublishError | None) -> None:
        publishes = [pending.publish for pending in batch]
        if error is None:
            self.signal(signals.published, publishes=publishes)
        else:
            self.signal(signals.publish_failed, error=error, publishes=publishes)

    def send_now(self, batch: list[Pending]) -> None:
        """Send ``batch`` inline (``blocking=True``); raise :class:`PublishError`."""
        session = self._take_session()
        try:
            self._post(session, batch)
        except PublishError as error:
            with self._lock:
                self._failed += len(batch)
            self._report(batch, error)
            raise
        finally:
            self._give_back(session)
        with self._lock:
            self._sent += len(batch)
        self._report(batch, None)

    def enqueue(self, pending: Pending) -> bool:
        """Queue ``pending`` for the sender; ``False`` if the queue was full."""
        with self._lock:
            if len(self._queue) < self.config.queue_size:
                self._queue.append(pending)
                self._submitted += 1
                if self._thread is None:
                    self._start_thread()
                else:
                    self._wake.notify()
                return True
            self._dropped += 1
            dropped = self._dropped
            now = time.monotonic()
            log_count = 0
            if now - self._last_drop_log >= DROP_LOG_INTERVAL:
                log_count = self._dropped_unlogged + 1
                self._dropped_unlogged = 0
                self._last_drop_log = now
            else:
                self._dropped_unlogged += 1
        if log_count:
            logger.warning(
                "Fanout publish queue is full (FANOUT_QUEUE_SIZE=%d): dropped %d "
                "publish(es) since the last report, %d in total; "
                "is the endpoint %s reachable?",
                self.config.queue_size,
                log_count,
                dropped,
                self.url,
            )
        self.signal(signals.publish_dropped, publish=pending.publish, dropped=dropped)
        return False

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

    def _run(self) -> None:
        session = requests.Session()
        try:
            while True:
                with self._lock:
                    while not self._queue:
                        if self._stopping or (
                            not self._wake.wait(IDLE_EXIT) and not self._queue
                        ):
                            self._thread = None
                            self._progress.notify_all()
                            return
                    count = min(len(self._queue), self.config.batch_size)
                    batch = [self._queue.popleft() for _ in range(count)]
                error = self._deliver(session, batch)
                with self._lock:
                    if error is None:
                        self._sent += count
                    else:
                        self._failed += count
                    self._finished += count
                    self._progress.notify_all()
                self._report(batch, error)
        finally:
            session.close()

    def _deliver(
        self, session: requests.Session, batch: list[Pending]
    ) -> PublishError | None:
        try:
            self._post(session, batch)
        except PublishError as error:
            logger.error("Fanout publish of %d item(s) failed: %s", len(batch), error)
            return error
        except Exception as exc:
            # Never let an unexpected error kill the sender thread.
            channels = [pending.publish.channel for pending in batch]
            logger.exception(
                "Fanout publish of %d item(s) failed unexpectedly", len(batch)
            )
            return PublishError(
                None, f"unexpected {type(exc).__name__}: {exc}", channels
            )
        return None

    # Control --------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued before the call has been sent or has
        failed. ``True`` if so, ``False`` if ``timeout`` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._submitted
            while self._finished < target:
                if self._thread is None and not self._start_thread():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._progress.wait(remaining)
            return True

    def stop(self) -> None:
        """Ask the thread to exit once the queue is empty; close idle sessions."""
        with self._lock:
            self._stopping = True
            self._wake.notify()
            idle, self._idle_sessions = self._idle_sessions, []
        for session in idle:
            session.close()

    def close(self, timeout: float | None = None) -> bool:
        """Flush, then stop the thread and close connections, all within
        ``timeout`` (not ``timeout`` for each step)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        flushed = self.flush(timeout)
        self.stop()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(
                None if deadline is None else max(0, deadline - time.monotonic())
            )
        return flushed

    def stats(self) -> PublishStats:
        """A consistent snapshot of the counters (taken under the lock)."""
        with self._lock:
            return PublishStats(
                sent=self._sent,
                failed=self._failed,
                dropped=self._dropped,
                pending=self._submitted - self._finished,
            )


_live: weakref.WeakSet[Publisher] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for publisher in list(_live):
        publisher._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX; elsewhere there is no fork()
    os.register_at_fork(after_in_child=_reset_after_fork)


@atexit.register
def _flush_at_exit() -> None:
    """Give queued publishes a bounded chance to go out when the process exits."""
    deadline = time.monotonic() + EXIT_FLUSH_BOUND
    for publisher in list(_live):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not publisher.flush(
            min(remaining, publisher.config.timeout * 2)
        ):
            pending = publisher.stats().pending
            if pending:
                logger.warning("Fanout: exiting with %d publish(es) unsent", pending)
