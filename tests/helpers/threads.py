"""Running work beside the test: a blocking call (a long-poll, a held
request) on a thread, or tasks on the test's event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from collections.abc import Iterable
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


async def cancel_all(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until every one has ended, errors ignored,
    so nothing of a run is still reading when the next one starts."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
