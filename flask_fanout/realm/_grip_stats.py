"""Counters of the GRIP stand-in, served in the ``grip`` section of ``/stats``.

Plain integers bumped on the realm's event loop thread only, like the
Bayeux counters (``_stats``). Tests wait on them ("two streams held on
channel ``x``") instead of sleeping; developers read them to see whether
their pages are connected.
"""

from __future__ import annotations

import dataclasses
import heapq
from typing import Any


@dataclasses.dataclass
class GripStats:
    """Totals since the realm started."""

    #: ``GET …/_fanout/events`` requests, and preflights answered.
    requests: int = 0
    preflights: int = 0
    #: Answers of the app without ``Grip-Hold``, sent on unchanged.
    passed_through: int = 0
    streams_opened: int = 0
    responses_opened: int = 0
    #: Holds refused because ``max_grip_holds`` were held already.
    holds_refused: int = 0
    #: Published items carrying ``http-stream`` or ``http-response``.
    publishes: int = 0
    #: One per (item, held request) written or answered; a close counts.
    deliveries: int = 0
    keep_alives: int = 0
    streams_closed_by_publish: int = 0
    response_timeouts: int = 0
    slow_readers_cut_off: int = 0
    #: 502s: the app was unreachable or too slow, or its answer too large.
    origin_errors: int = 0
    #: 502s for GRIP instructions that cannot be followed, and streams
    #: ended after their first content (a ``prev-id`` without a next link).
    instruct_errors: int = 0
    #: Requests refused as a loop (the origin is the realm itself).
    loops_refused: int = 0


def busiest(counts: dict[str, int], limit: int) -> dict[str, int]:
    """At most ``limit`` of ``counts``, the largest, sorted by name."""
    if len(counts) > limit:
        counts = dict(heapq.nlargest(limit, counts.items(), key=lambda kv: kv[1]))
    return dict(sorted(counts.items()))


def snapshot(
    stats: GripStats,
    *,
    origin: str | None,
    streams: dict[str, int],
    responses: dict[str, int],
    streams_held: int,
    responses_held: int,
    items_waiting: int,
    items_dropped: int,
    limit: int,
) -> dict[str, Any]:
    """The ``grip`` section of ``/stats``; per-channel counts at most ``limit``."""
    return {
        "origin": origin,
        "streams_held": streams_held,
        "responses_held": responses_held,
        "channels": len(streams.keys() | responses.keys()),
        "stream_subscribers": busiest(streams, limit),
        "response_subscribers": busiest(responses, limit),
        "items_waiting": items_waiting,
        "items_dropped": items_dropped,
        **dataclasses.asdict(stats),
    }
