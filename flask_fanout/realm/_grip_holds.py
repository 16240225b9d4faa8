"""The registry of held GRIP requests, and the fan-out of published items.

A held stream (``Grip-Hold: stream``) is an HTTP response whose headers and
first content were sent; from then on every ``http-stream`` item published
on one of its channels is appended to it. A held response (``Grip-Hold:
response``, a long-poll) waits for the first ``http-response`` item on any
of its channels, or its timeout.

Why items are written straight to each stream's transport: one publish to N
streams is framed once and the same bytes are handed to N sockets without
awaiting anything (as the Bayeux engine does for WebSockets), so a reader
that stalls can never hold up the others. Once its unsent output passes
:attr:`~flask_fanout.realm._grip_options.GripLimits.max_stream_buffer` it is
cut off; its browser reconnects and the page refetches. Pushpin would
instead queue a few items and then drop further ones silently; for hints a
cut-off is the safer of the two, since it makes the page catch up.

Everything here runs on the realm's event loop thread, so there are no
locks. aiohttp does not tell a handler that its client hung up, so a sweep
(every :attr:`~flask_fanout.realm._grip_options.GripLimits.sweep_interval`)
notices closed sockets and releases their holds; writes notice them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import random
from typing import Any

from aiohttp import web

from flask_fanout.realm._grip_instruct import KeepAlive
from flask_fanout.realm._grip_items import GripItem
from flask_fanout.realm._grip_options import GripLimits
from flask_fanout.realm._grip_sequence import Sequencer


class Ended(enum.Enum):
    """Why a hold ended without a published answer."""

    #: A published ``http-stream`` item with ``"action": "close"``.
    CLOSED = "closed"
    #: The response hold's ``Grip-Timeout`` passed.
    TIMEOUT = "timeout"
    #: The client hung up.
    GONE = "gone"
    #: The client stopped reading and its output passed the bound.
    SLOW = "slow"
    #: The realm is shutting down.
    SHUTDOWN = "shutdown"


@dataclasses.dataclass
class GripStats:
    """Counters of the stand-in since the realm started (see ``/stats``)."""

    #: Requests to a ``…/_fanout/events`` path (GET), and preflights.
    requests: int = 0
    preflights: int = 0
    #: Answers from the app without ``Grip-Hold``, sent on unchanged.
    passed_through: int = 0
    streams_opened: int = 0
    responses_opened: int = 0
    #: Holds not taken because a bound was reached (answered at once).
    holds_refused: int = 0
    #: Published items carrying a GRIP format.
    publishes: int = 0
    #: One per (item, held request) written or answered; a close counts.
    deliveries: int = 0
    keep_alives: int = 0
    streams_closed_by_publish: int = 0
    response_timeouts: int = 0
    slow_readers_cut_off: int = 0
    #: 502s: the app could not be reached, timed out, or gave bad GRIP headers.
    origin_errors: int = 0
    instruct_errors: int = 0
    #: Stream requests refused as a loop (the origin is the realm itself).
    loops_refused: int = 0


class Held:
    """One held request: its channels and the socket it answers on."""

    __slots__ = ("channels", "done", "finished", "transport")

    def __init__(
        self,
        channels: tuple[str, ...],
        transport: asyncio.BaseTransport,
        done: asyncio.Future[Any],
    ) -> None:
        self.channels = channels
        self.transport = transport
        #: Resolved with an :class:`Ended` or (responses) a published answer.
        self.done = done
        self.finished = False

    def gone(self) -> bool:
        return self.transport.is_closing()


class HeldStream(Held):
    """A stream whose headers and first content were sent."""

    __slots__ = (
        "chunked",
        "ka_delay",
        "ka_timer",
        "keep_alive",
        "last_write",
        "limit",
        "write_transport",
    )

    def __init__(
        self,
        channels: tuple[str, ...],
        transport: asyncio.WriteTransport,
        done: asyncio.Future[Any],
        *,
        chunked: bool,
        keep_alive: KeepAlive | None,
        limit: int,
    ) -> None:
        super().__init__(channels, transport, done)
        self.write_transport = transport
        self.chunked = chunked
        self.keep_alive = keep_alive
        self.limit = limit
        self.last_write = 0.0
        self.ka_delay = 0.0
        self.ka_timer: asyncio.TimerHandle | None = None

    def frame(self, data: bytes) -> bytes:
        """``data`` as it goes on the wire: one HTTP/1.1 chunk, or raw for 1.0."""
        return b"%x\r\n%b\r\n" % (len(data), data) if self.chunked else data

    def write_frame(self, frame: bytes, now: float) -> Ended | None:
        """Queue one framed write; say why not if the stream cannot take it."""
        transport = self.write_transport
        if self.finished or transport.is_closing():
            return Ended.GONE
        if transport.get_write_buffer_size() > self.limit:
            transport.abort()
            return Ended.SLOW
        transport.write(frame)
        self.last_write = now
        return None


class HeldResponse(Held):
    """A long-poll waiting for an ``http-response`` item or its timeout."""

    __slots__ = ()


class Holds:
    """Every held request of one realm, indexed by channel."""

    def __init__(self, limits: GripLimits, stats: GripStats | None = None) -> None:
        self.limits = limits
        self.stats = stats or GripStats()
        self.streams: set[HeldStream] = set()
        self.responses: set[HeldResponse] = set()
        #: Channel -> the requests held on it (streams and responses).
        self.index: dict[str, set[Held]] = {}
        self.sequencer: Sequencer[GripItem] = Sequencer(
            wait=limits.reorder_wait, max_pending=limits.max_pending_per_channel
        )
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start sweeping (call on the running loop)."""
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def close(self) -> None:
        """Stop sweeping and end every hold (streams end cleanly)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for held in [*self.streams, *self.responses]:
            self._finish(held, Ended.SHUTDOWN)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.limits.sweep_interval)
            self.sweep()

    def sweep(self) -> None:
        """Release holds whose client hung up; send items whose wait is over."""
        for held in [*self.streams, *self.responses]:
            if held.gone():
                self._finish(held, Ended.GONE)
        for item in self.sequencer.expire():
            self.stats.deliveries += self._deliver(item)

    # -- holding -----------------------------------------------------------

    def _channels(self, channels: tuple[str, ...]) -> tuple[str, ...]:
        return channels[: self.limits.max_channels_per_hold]

    def _index(self, held: Held) -> None:
        for channel in held.channels:
            self.index.setdefault(channel, set()).add(held)

    def hold_stream(
        self,
        request: web.Request,
        channels: tuple[str, ...],
        keep_alive: KeepAlive | None,
        *,
        chunked: bool,
        first: bytes,
    ) -> HeldStream | None:
        """Write ``first`` and hold the stream; ``None`` if it cannot be held.

        Writing the first content and subscribing happen with no ``await``
        in between, so no item published meanwhile can be lost or overtake it.
        """
        transport = request.transport
        if len(self.streams) >= self.limits.max_streams:
            self.stats.holds_refused += 1
            return None
        if transport is None or transport.is_closing():
            return None
        assert isinstance(transport, asyncio.WriteTransport)
        loop = asyncio.get_running_loop()
        held = HeldStream(
            self._channels(channels),
            transport,
            loop.create_future(),
            chunked=chunked,
            keep_alive=keep_alive,
            limit=self.limits.max_stream_buffer,
        )
        held.last_write = loop.time()
        if first:
            transport.write(held.frame(first))
        self.streams.add(held)
        self._index(held)
        self.stats.streams_opened += 1
        if keep_alive is not None:
            self._schedule_keep_alive(held, loop.time())
        return held

    def hold_response(
        self, request: web.Request, channels: tuple[str, ...]
    ) -> HeldResponse | None:
        """Hold a long-poll; ``None`` if it cannot be held (answer it at once)."""
        transport = request.transport
        if len(self.responses) >= self.limits.max_responses:
            self.stats.holds_refused += 1
            return None
        if transport is None or transport.is_closing():
            return None
        held = HeldResponse(
            self._channels(channels),
            transport,
            asyncio.get_running_loop().create_future(),
        )
        self.responses.add(held)
        self._index(held)
        self.stats.responses_opened += 1
        return held

    def release(self, held: Held) -> None:
        """Forget ``held`` (idempotent); its handler has finished or is finishing."""
        if isinstance(held, HeldStream):
            if held.ka_timer is not None:
                held.ka_timer.cancel()
                held.ka_timer = None
            self.streams.discard(held)
        elif isinstance(held, HeldResponse):
            self.responses.discard(held)
        held.finished = True
        for channel in held.channels:
            holders = self.index.get(channel)
            if holders is None:
                continue
            holders.discard(held)
            if not holders:
                del self.index[channel]
                self.sequencer.forget(channel)

    def _finish(self, held: Held, outcome: Any) -> None:
        if held.finished:
            return
        self.release(held)
        if outcome is Ended.SLOW:
            self.stats.slow_readers_cut_off += 1
        if not held.done.done():
            held.done.set_result(outcome)

    # -- keep-alives -------------------------------------------------------

    def _schedule_keep_alive(self, held: HeldStream, start: float) -> None:
        """Arm the keep-alive timer ``timeout`` seconds after ``start``.

        Like Pushpin, up to one second earlier at random, so that streams
        opened together do not all wake together.
        """
        keep_alive = held.keep_alive
        assert keep_alive is not None
        held.ka_delay = max(keep_alive.timeout - random.random(), 0.05)
        loop = asyncio.get_running_loop()
        held.ka_timer = loop.call_at(start + held.ka_delay, self._keep_alive, held)

    def _keep_alive(self, held: HeldStream) -> None:
        held.ka_timer = None
        keep_alive = held.keep_alive
        if held.finished or keep_alive is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        idle_until = held.last_write + held.ka_delay
        if keep_alive.mode == "idle" and idle_until > now + 0.001:
            held.ka_timer = loop.call_at(idle_until, self._keep_alive, held)
            return
        ended = held.write_frame(held.frame(keep_alive.data), now)
        if ended is not None:
            self._finish(held, ended)
            return
        self.stats.keep_alives += 1
        self._schedule_keep_alive(held, now)

    # -- publishing --------------------------------------------------------

    def publish(self, items: list[GripItem]) -> int:
        """Deliver ``items`` in order (as the sequencer allows); return deliveries."""
        delivered = 0
        for item in items:
            self.stats.publishes += 1
            ready = self.sequencer.add(item, listened=item.channel in self.index)
            for ready_item in ready:
                delivered += self._deliver(ready_item)
        self.stats.deliveries += delivered
        return delivered

    def _deliver(self, item: GripItem) -> int:
        holders = self.index.get(item.channel)
        if not holders:
            return 0
        now = asyncio.get_running_loop().time()
        frames: dict[bool, bytes] = {}
        delivered = 0
        for held in list(holders):
            if isinstance(held, HeldStream):
                stream = item.stream
                if stream is None:
                    continue
                if stream.close:
                    self.stats.streams_closed_by_publish += 1
                    self._finish(held, Ended.CLOSED)
                    delivered += 1
                    continue
                if not stream.content:
                    delivered += 1  # an empty chunk would end the body
                    continue
                frame = frames.get(held.chunked)
                if frame is None:
                    frame = frames[held.chunked] = held.frame(stream.content)
                ended = held.write_frame(frame, now)
                if ended is None:
                    delivered += 1
                else:
                    self._finish(held, ended)
            elif isinstance(held, HeldResponse) and item.response is not None:
                self._finish(held, item.response)
                delivered += 1
        return delivered

    # -- gauges ------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Gauges and counters, JSON-ready; per-channel counts are bounded."""
        streams: dict[str, int] = {}
        responses: dict[str, int] = {}
        for channel, holders in self.index.items():
            count = sum(1 for h in holders if isinstance(h, HeldStream))
            if count:
                streams[channel] = count
            if len(holders) - count:
                responses[channel] = len(holders) - count
        return {
            "streams_held": len(self.streams),
            "responses_held": len(self.responses),
            "channels": len(self.index),
            "stream_subscribers": _busiest(streams, self.limits.max_stats_channels),
            "response_subscribers": _busiest(responses, self.limits.max_stats_channels),
            "items_waiting": self.sequencer.waiting,
            "items_dropped": self.sequencer.dropped,
            **dataclasses.asdict(self.stats),
        }


def _busiest(counts: dict[str, int], limit: int) -> dict[str, int]:
    if len(counts) > limit:
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return dict(sorted(top))
    return dict(sorted(counts.items()))


#: Where the publish API finds the registry on the realm's application.
HOLDS_KEY = web.AppKey("grip_holds", Holds)
