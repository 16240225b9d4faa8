"""The registry of held GRIP requests, and the fan-out of published items.

A held stream (``Grip-Hold: stream``) is an HTTP response whose headers and
first content were sent; from then on every ``http-stream`` item published
on one of its channels is appended to it, and its keep-alive is written
after each idle period. A held response (``Grip-Hold: response``, a
long-poll) waits for the first ``http-response`` item on any of its
channels, or for its timeout.

Why items are written straight to each stream's transport: one publish to
N streams is framed once and the same bytes are handed to N sockets without
awaiting anything (as the Bayeux engine does for WebSockets), so a reader
that stalls can never hold up the others. Once its unsent output passes
:attr:`~._limits.Limits.max_stream_buffer` it is cut off; its browser
reconnects and the page refetches. (Pushpin instead queues up to 100 items
per connection and then drops further ones without a word; for hints a
cut-off is the safer of the two, since it makes the page catch up.)

Everything here runs on the realm's event loop thread, so there are no
locks. aiohttp does not tell a handler that its client hung up, so a sweep
every :data:`SWEEP_INTERVAL` seconds notices closed sockets and releases
their holds; writes notice them too.
"""

from __future__ import annotations

import asyncio
import enum
import random
from typing import Any

from flask_fanout.realm import _background
from flask_fanout.realm import _grip_stats
from flask_fanout.realm._grip_instruct import KeepAlive
from flask_fanout.realm._grip_items import GripItem
from flask_fanout.realm._grip_items import ResponseFormat
from flask_fanout.realm._grip_sequence import Sequencer
from flask_fanout.realm._grip_stats import GripStats
from flask_fanout.realm._limits import Limits

#: Seconds between sweeps for hung-up clients and overdue out-of-order items.
SWEEP_INTERVAL = 0.25
#: Pushpin's keep-alive jitter: each keep-alive comes up to this many seconds
#: early, so that streams opened together do not all wake together.
KEEP_ALIVE_JITTER = 1.0


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


#: How a hold ends: an :class:`Ended`, or (long-polls) the published answer.
Outcome = Ended | ResponseFormat


class Held:
    """One held request: its channels and the socket it answers on."""

    __slots__ = ("channels", "done", "finished", "transport")

    def __init__(
        self,
        channels: tuple[str, ...],
        transport: asyncio.BaseTransport,
        done: asyncio.Future[Outcome],
    ) -> None:
        self.channels = channels
        self.transport = transport
        self.done = done
        self.finished = False

    def gone(self) -> bool:
        return self.transport.is_closing()


class HeldStream(Held):
    """A stream whose headers and first content were sent."""

    __slots__ = ("chunked", "ka_delay", "ka_timer", "keep_alive", "last_write")

    def __init__(
        self,
        channels: tuple[str, ...],
        transport: asyncio.WriteTransport,
        done: asyncio.Future[Outcome],
        *,
        chunked: bool,
        keep_alive: KeepAlive | None,
    ) -> None:
        super().__init__(channels, transport, done)
        self.chunked = chunked
        self.keep_alive = keep_alive
        self.last_write = 0.0
        self.ka_delay = 0.0
        self.ka_timer: asyncio.TimerHandle | None = None

    def frame(self, data: bytes) -> bytes:
        """``data`` as it goes on the wire: one HTTP/1.1 chunk, or raw for 1.0."""
        return b"%x\r\n%b\r\n" % (len(data), data) if self.chunked else data

    def write_frame(self, frame: bytes, now: float, limit: int) -> Ended | None:
        """Queue one framed write; say why not if the stream cannot take it."""
        transport = self.transport
        assert isinstance(transport, asyncio.WriteTransport)
        if self.finished or transport.is_closing():
            return Ended.GONE
        if transport.get_write_buffer_size() > limit:
            transport.abort()
            return Ended.SLOW
        transport.write(frame)
        self.last_write = now
        return None


class Holds:
    """Every held request of one realm, indexed by channel."""

    def __init__(self, limits: Limits, stats: GripStats) -> None:
        self.limits = limits
        self.stats = stats
        self.streams: set[HeldStream] = set()
        self.responses: set[Held] = set()
        #: Channel -> the streams / long-polls held on it.
        self.stream_index: dict[str, set[HeldStream]] = {}
        self.response_index: dict[str, set[Held]] = {}
        self.sequencer: Sequencer[GripItem] = Sequencer()
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start sweeping (call on the running loop)."""
        self._sweeper = _background.start(self._sweep_forever())

    async def close(self) -> None:
        """Stop sweeping and end every hold (streams end cleanly)."""
        await _background.stop(self._sweeper)
        self._sweeper = None
        for held in [*self.streams, *self.responses]:
            self._finish(held, Ended.SHUTDOWN)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            self.sweep()

    def sweep(self) -> None:
        """Release holds whose client hung up; send items whose wait is over."""
        for held in [*self.streams, *self.responses]:
            if held.gone():
                self._finish(held, Ended.GONE)
        for item in self.sequencer.expire():
            self.stats.deliveries += self._deliver(item)

    # -- holding -----------------------------------------------------------

    @property
    def full(self) -> bool:
        """Whether ``max_grip_holds`` requests are held already."""
        return len(self.streams) + len(self.responses) >= self.limits.max_grip_holds

    def refused(self) -> None:
        """Count a hold not taken because :attr:`full`."""
        self.stats.holds_refused += 1

    def hold_stream(
        self,
        transport: asyncio.WriteTransport,
        channels: tuple[str, ...],
        keep_alive: KeepAlive | None,
        *,
        chunked: bool,
        first: bytes,
    ) -> HeldStream:
        """Write ``first`` and hold the stream.

        Writing the first content and subscribing happen with no ``await``
        in between, so no item published meanwhile can be lost or overtake it.
        """
        loop = asyncio.get_running_loop()
        held = HeldStream(
            channels,
            transport,
            loop.create_future(),
            chunked=chunked,
            keep_alive=keep_alive,
        )
        held.last_write = loop.time()
        if first:
            transport.write(held.frame(first))
        self.streams.add(held)
        for channel in channels:
            self.stream_index.setdefault(channel, set()).add(held)
        self.stats.streams_opened += 1
        if keep_alive is not None:
            self._schedule_keep_alive(held, loop.time())
        return held

    def hold_response(
        self, transport: asyncio.BaseTransport, channels: tuple[str, ...]
    ) -> Held:
        """Hold a long-poll until a published answer, or :meth:`release`."""
        held = Held(channels, transport, asyncio.get_running_loop().create_future())
        self.responses.add(held)
        for channel in channels:
            self.response_index.setdefault(channel, set()).add(held)
        self.stats.responses_opened += 1
        return held

    def release(self, held: Held) -> None:
        """Forget ``held`` (idempotent); its handler has finished or is finishing."""
        if held.finished:
            return
        held.finished = True
        index: dict[str, Any]
        if isinstance(held, HeldStream):
            if held.ka_timer is not None:
                held.ka_timer.cancel()
                held.ka_timer = None
            self.streams.discard(held)
            index = self.stream_index
        else:
            self.responses.discard(held)
            index = self.response_index
        for channel in held.channels:
            holders = index.get(channel)
            if holders is None:
                continue
            holders.discard(held)
            if not holders:
                del index[channel]
                if not self._listened(channel):
                    # As Pushpin does when a channel loses its last
                    # subscriber: its last id is forgotten.
                    self.sequencer.forget(channel)

    def _finish(self, held: Held, outcome: Outcome) -> None:
        if held.finished:
            return
        self.release(held)
        if outcome is Ended.SLOW:
            self.stats.slow_readers_cut_off += 1
        if not held.done.done():
            held.done.set_result(outcome)

    def _listened(self, channel: str) -> bool:
        return channel in self.stream_index or channel in self.response_index

    # -- keep-alives -------------------------------------------------------

    def _schedule_keep_alive(self, held: HeldStream, start: float) -> None:
        """Arm the keep-alive ``timeout`` seconds after ``start``, jittered."""
        keep_alive = held.keep_alive
        assert keep_alive is not None
        held.ka_delay = max(keep_alive.timeout - random.random() * KEEP_ALIVE_JITTER, 0)
        loop = asyncio.get_running_loop()
        held.ka_timer = loop.call_at(start + held.ka_delay, self._keep_alive, held)

    def _keep_alive(self, held: HeldStream) -> None:
        """The keep-alive timer fired: write it, unless the stream was busy.

        In ``idle`` mode each write postpones the keep-alive; rather than
        re-arm a timer on every write, the timer checks when it fires.
        """
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
        ended = held.write_frame(
            held.frame(keep_alive.data), now, self.limits.max_stream_buffer
        )
        if ended is not None:
            self._finish(held, ended)
            return
        self.stats.keep_alives += 1
        self._schedule_keep_alive(held, now)

    # -- publishing --------------------------------------------------------

    def publish(self, item: GripItem) -> int:
        """Deliver ``item`` (as the sequencer allows); return the deliveries."""
        self.stats.publishes += 1
        delivered = 0
        for ready in self.sequencer.add(item, listened=self._listened(item.channel)):
            delivered += self._deliver(ready)
        self.stats.deliveries += delivered
        return delivered

    def _deliver(self, item: GripItem) -> int:
        delivered = 0
        stream = item.stream
        streams = self.stream_index.get(item.channel) if stream is not None else None
        if stream is not None and streams:
            now = asyncio.get_running_loop().time()
            limit = self.limits.max_stream_buffer
            frames: dict[bool, bytes] = {}
            for held in list(streams):
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
                ended = held.write_frame(frame, now, limit)
                if ended is None:
                    delivered += 1
                else:
                    self._finish(held, ended)
        response = item.response
        polls = self.response_index.get(item.channel) if response is not None else None
        if response is not None and polls:
            for poll in list(polls):
                self._finish(poll, response)
                delivered += 1
        return delivered

    # -- gauges ------------------------------------------------------------

    def snapshot(self, origin: str | None) -> dict[str, Any]:
        """The ``grip`` section of ``/stats``; per-channel counts are bounded."""
        return _grip_stats.snapshot(
            self.stats,
            origin=origin,
            streams={c: len(h) for c, h in self.stream_index.items()},
            responses={c: len(h) for c, h in self.response_index.items()},
            streams_held=len(self.streams),
            responses_held=len(self.responses),
            items_waiting=self.sequencer.waiting,
            items_dropped=self.sequencer.dropped,
            limit=self.limits.stats_channels,
        )
