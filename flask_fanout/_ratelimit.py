"""Log lines that cannot flood: one per condition per interval, with a count.

A condition that repeats in a tight loop (every ``accept()`` failing with
``EMFILE``, every connection past a cap being refused, every batch to an
endpoint that is down) would otherwise write one line per occurrence: tens of
megabytes in seconds, which hides everything else in the log and can fill the
disk. :class:`RateLimitedLog` writes the first occurrence of a condition at
once, then at most one line per ``interval`` for it, each saying how many
occurrences it stands for. Nothing is lost: :meth:`RateLimitedLog.flush`
writes the counts still pending (call it on shutdown).

It is thread-safe, so the realm's event loop and the extension's sender
thread can each use one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class _Condition:
    __slots__ = ("last", "suppressed")

    def __init__(self, last: float) -> None:
        #: When a line was last written for this condition.
        self.last = last
        #: Occurrences since then that wrote nothing.
        self.suppressed = 0


class RateLimitedLog:
    """Write to ``logger`` at most once per ``interval`` seconds per condition.

    A *condition* is any short string naming what happened, such as
    ``"accept-emfile"`` or ``"publish-failed:https://api.example"``; the
    message itself may change between occurrences (it is formatted only when
    a line is written).

    :param logger: where lines go.
    :param interval: seconds between two lines for one condition.
    :param max_conditions: conditions remembered at once; the least recently
        logged are forgotten first, so conditions made from unbounded input
        (addresses, URLs) cannot grow memory without limit.
    :param clock: a monotonic clock (for tests).

    .. versionadded:: 0.2
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 60.0,
        *,
        max_conditions: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.logger = logger
        self.interval = interval
        self.max_conditions = max_conditions
        self._clock = clock
        self._lock = threading.Lock()
        self._conditions: dict[str, _Condition] = {}

    def log(
        self,
        level: int,
        condition: str,
        msg: str,
        *args: object,
        exc_info: BaseException | bool | None = None,
    ) -> bool:
        """Log ``msg % args`` at ``level``, unless ``condition`` was logged
        less than ``interval`` seconds ago; then only count it.

        A line written after suppressed occurrences ends with how many there
        were, e.g. ``"... (and 2,311 more like this in the last 60 s)"``.

        :returns: whether a line was written.
        """
        now = self._clock()
        with self._lock:
            state = self._conditions.get(condition)
            if state is not None and now - state.last < self.interval:
                state.suppressed += 1
                return False
            suppressed = 0 if state is None else state.suppressed
            if state is None:
                state = _Condition(now)
            else:
                del self._conditions[condition]  # re-inserted last: most recent
                state.last = now
                state.suppressed = 0
            self._conditions[condition] = state
            while len(self._conditions) > self.max_conditions:
                del self._conditions[next(iter(self._conditions))]
        if suppressed:
            msg += " (and %d more like this in the last %.0f s)"
            args = (*args, suppressed, self.interval)
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def warning(self, condition: str, msg: str, *args: object) -> bool:
        """:meth:`log` at ``WARNING``."""
        return self.log(logging.WARNING, condition, msg, *args)

    def error(
        self,
        condition: str,
        msg: str,
        *args: object,
        exc_info: BaseException | bool | None = None,
    ) -> bool:
        """:meth:`log` at ``ERROR``."""
        return self.log(logging.ERROR, condition, msg, *args, exc_info=exc_info)

    def suppressed(self, condition: str) -> int:
        """Occurrences of ``condition`` counted but not yet written."""
        with self._lock:
            state = self._conditions.get(condition)
            return 0 if state is None else state.suppressed

    def flush(self, level: int = logging.WARNING) -> None:
        """Write one line per condition whose occurrences were only counted."""
        with self._lock:
            pending = [
                (name, state.suppressed)
                for name, state in self._conditions.items()
                if state.suppressed
            ]
            for name, _ in pending:
                self._conditions[name].suppressed = 0
        for name, count in pending:
            self.logger.log(
                level, "%s: %d more occurrences not logged separately", name, count
            )
