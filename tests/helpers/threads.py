"""Running a blocking call (a long-poll, a held request) beside the test."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any
from typing import TypeVar

T = TypeVar("T")


def run_in_thread(
    fn: Callable[..., T], *args: Any, **kwargs: Any
) -> concurrent.futures.Future[T]:
    """``fn(*args, **kwargs)`` on a daemon thread; its result as a future."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)

    import threading

    threading.Thread(target=run, daemon=True).start()
    return future
