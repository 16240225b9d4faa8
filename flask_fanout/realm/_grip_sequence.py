"""Pushpin's ordering of items by ``id`` / ``prev-id``, per channel.

Pushpin (1.36, ``src/handler/sequencer.cpp``) remembers the ``id`` of the
last item it delivered on each channel that has subscribers. An item whose
``prev-id`` is not that id waits, up to ``message_wait`` (5 s), for the item
it names; when that one comes, both go out in order, and when it never
comes, the waiting item goes out anyway. An item with ``"no-seq": true``, or
for a channel nobody holds, goes out at once without being remembered.

The stand-in does the same, so that an app publishing ids and prev-ids
sees the same delays and order in development as behind Pushpin (the wait
ends at the first sweep after 5 s, within a quarter of a second; Pushpin
checks every second). This module only decides *when* items go out;
delivering them is the hold registry's job.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from typing import Generic
from typing import Protocol
from typing import TypeVar

log = logging.getLogger("flask_fanout.realm")

#: Channels whose last id is remembered; the least recently used go first
#: (Pushpin bounds its table too, at a million).
MAX_LAST_IDS = 100_000


class Sequenced(Protocol):
    """What the sequencer reads from an item."""

    @property
    def channel(self) -> str: ...
    @property
    def id(self) -> str | None: ...
    @property
    def prev_id(self) -> str | None: ...
    @property
    def no_seq(self) -> bool: ...


ItemT = TypeVar("ItemT", bound=Sequenced)


@dataclasses.dataclass
class _Pending(Generic[ItemT]):
    since: float
    item: ItemT


class Sequencer(Generic[ItemT]):
    """Holds back out-of-order items until their predecessor or a deadline."""

    def __init__(self, *, wait: float = 5.0, max_pending: int = 100) -> None:
        self.wait = wait
        self.max_pending = max_pending
        self._last: collections.OrderedDict[str, str] = collections.OrderedDict()
        #: channel -> prev-id -> the item waiting for it.
        self._pending: dict[str, dict[str, _Pending[ItemT]]] = {}
        #: Items dropped: a second item waiting on the same prev-id, or too many.
        self.dropped = 0

    @property
    def waiting(self) -> int:
        """Items held back right now."""
        return sum(len(p) for p in self._pending.values())

    def add(
        self, item: ItemT, *, listened: bool, now: float | None = None
    ) -> list[ItemT]:
        """Take ``item``; return the items (it, and any it unblocks) to send now.

        ``listened`` says whether anyone holds the channel: like Pushpin, an
        item for an unheld channel is not sequenced, so a stale id never
        delays the first item after a new subscription.
        """
        if not listened or item.no_seq:
            return [item]
        last = self._last.get(item.channel)
        if last is not None and item.prev_id is not None and last != item.prev_id:
            pending = self._pending.setdefault(item.channel, {})
            if item.prev_id in pending:
                self._drop(item, "another item already waits for the same prev-id")
            elif len(pending) >= self.max_pending:
                self._drop(item, f"{self.max_pending} items already wait")
            else:
                pending[item.prev_id] = _Pending(
                    time.monotonic() if now is None else now, item
                )
            return []
        return self._send(item)

    def _drop(self, item: ItemT, why: str) -> None:
        self.dropped += 1
        log.warning(
            "GRIP stand-in: dropped item id=%r prev-id=%r on channel %r: %s",
            item.id,
            item.prev_id,
            item.channel,
            why,
        )

    def _remember(self, item: ItemT) -> None:
        if item.id is None:
            self._last.pop(item.channel, None)
            return
        self._last[item.channel] = item.id
        self._last.move_to_end(item.channel)
        while len(self._last) > MAX_LAST_IDS:
            self._last.popitem(last=False)

    def _send(self, item: ItemT) -> list[ItemT]:
        out = [item]
        self._remember(item)
        pending = self._pending.get(item.channel)
        current = item.id
        while pending and current is not None and current in pending:
            follower = pending.pop(current).item
            self._remember(follower)
            out.append(follower)
            current = follower.id
        if pending is not None and not pending:
            del self._pending[item.channel]
        return out

    def expire(self, now: float | None = None) -> list[ItemT]:
        """Items whose wait is over, with whatever each of them unblocks."""
        now = time.monotonic() if now is None else now
        cutoff = now - self.wait
        due = [
            (entry.since, channel, prev_id)
            for channel, pending in self._pending.items()
            for prev_id, entry in pending.items()
            if entry.since <= cutoff
        ]
        out: list[ItemT] = []
        for _, channel, prev_id in sorted(due):
            pending = self._pending.get(channel)
            if pending is None or prev_id not in pending:
                continue  # already sent, unblocked by an earlier one
            item = pending.pop(prev_id).item
            if not pending:
                del self._pending[channel]
            out.extend(self._send(item))
        return out

    def forget(self, channel: str) -> None:
        """Nobody holds ``channel`` any more: drop its last id and waiting items.

        Pushpin does the same when a channel loses its last subscriber.
        """
        self._last.pop(channel, None)
        dropped = self._pending.pop(channel, None)
        if dropped:
            self.dropped += len(dropped)
