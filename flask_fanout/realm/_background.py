"""Background tasks of the realm's engines: started on the running loop,
stopped by cancelling and waiting, so a closed engine leaves nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


def start(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run ``coro`` on the running loop (call from the loop's thread)."""
    return asyncio.get_running_loop().create_task(coro)


async def stop(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait until it has ended; ``None`` is a no-op.

    Its ``CancelledError`` is the expected end, so it is not raised here.
    """
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
