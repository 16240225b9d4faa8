"""RateLimitedLog: one line per condition per interval, with a count."""

from __future__ import annotations

import logging
import threading

import pytest

from flask_fanout._ratelimit import RateLimitedLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_one_line_per_interval_with_the_count(
    caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    logs = RateLimitedLog(logging.getLogger("t.rate"), 60, clock=clock)
    with caplog.at_level(logging.WARNING, logger="t.rate"):
        assert logs.warning("emfile", "accept failed: %s", "EMFILE") is True
        for _ in range(2311):
            assert logs.warning("emfile", "accept failed: %s", "EMFILE") is False
        assert logs.suppressed("emfile") == 2311
        clock.now += 60
        assert logs.warning("emfile", "accept failed: %s", "again") is True
    assert messages(caplog) == [
        "accept failed: EMFILE",
        "accept failed: again (and 2311 more like this in the last 60 s)",
    ]


def test_conditions_are_independent(
    caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    logs = RateLimitedLog(logging.getLogger("t.rate"), 10, clock=clock)
    with caplog.at_level(logging.WARNING, logger="t.rate"):
        logs.warning("a", "A")
        logs.warning("b", "B")
        logs.warning("a", "A")
        logs.error("c", "C", exc_info=ValueError("x"))
    assert messages(caplog) == ["A", "B", "C"]
    assert caplog.records[2].levelno == logging.ERROR
    assert caplog.records[2].exc_info is not None


def test_flush_reports_what_was_only_counted(
    caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    logs = RateLimitedLog(logging.getLogger("t.rate"), 60, clock=clock)
    with caplog.at_level(logging.WARNING, logger="t.rate"):
        logs.warning("refused", "refusing connections")
        logs.warning("refused", "refusing connections")
        logs.warning("refused", "refusing connections")
        logs.flush()
        logs.flush()
    assert messages(caplog) == [
        "refusing connections",
        "refused: 2 more occurrences not logged separately",
    ]


def test_memory_is_bounded(clock: Clock) -> None:
    logs = RateLimitedLog(
        logging.getLogger("t.rate"), 60, max_conditions=8, clock=clock
    )
    logging.getLogger("t.rate").propagate = False
    try:
        for number in range(1000):
            logs.warning(f"peer-{number}", "x")
    finally:
        logging.getLogger("t.rate").propagate = True
    assert len(logs._conditions) == 8


def test_threads_share_one_limit(caplog: pytest.LogCaptureFixture) -> None:
    logs = RateLimitedLog(logging.getLogger("t.rate"), 3600)
    with caplog.at_level(logging.WARNING, logger="t.rate"):
        threads = [
            threading.Thread(
                target=lambda: [logs.warning("x", "X") for _ in range(500)]
            )
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert messages(caplog) == ["X"]
    assert logs.suppressed("x") == 1999


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimitedLog(logging.getLogger("t.rate"), 0)
