"""Items with ``id``/``prev-id`` go out in Pushpin's order, not arrival order."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from flask_fanout.realm._grip_items import GripItem
from flask_fanout.realm._grip_sequence import Sequencer
from tests.helpers.apps.grip_origin import hint_item
from tests.helpers.grip_standin import GripEnv


@pytest.fixture
def env() -> Iterator[GripEnv]:
    with GripEnv() as env:
        yield env


def _data(messages: list[str]) -> list[object]:
    return [json.loads(m)["data"] for m in messages]


def test_an_item_waits_for_its_predecessor(env: GripEnv) -> None:
    stream = env.stream({"channel": "s"})
    env.wait_streams("s", 1)
    env.publish([hint_item("s", 1, item_id="1")])
    stream.wait_events(2)
    early = env.publish([hint_item("s", 3, item_id="3", prev_id="2")])
    assert early.json() == {"published": 1, "delivered": 0}
    assert env.grip()["items_waiting"] == 1
    late = env.publish([hint_item("s", 2, item_id="2", prev_id="1")])
    assert late.json() == {"published": 1, "delivered": 2}
    stream.wait_events(4)
    assert _data(stream.messages()) == [1, 2, 3]
    assert env.grip()["items_waiting"] == 0


def test_no_seq_and_unknown_history_go_out_at_once(env: GripEnv) -> None:
    stream = env.stream({"channel": "n"})
    env.wait_streams("n", 1)
    # Nothing delivered on the channel yet: no last id to wait behind.
    env.publish([hint_item("n", 1, item_id="b", prev_id="a")])
    item = hint_item("n", 2, item_id="d", prev_id="c")
    item["no-seq"] = True
    assert env.publish([item]).json()["delivered"] == 1
    stream.wait_events(3)
    assert _data(stream.messages()) == [1, 2]


def test_an_unheld_channel_forgets_its_last_id(env: GripEnv) -> None:
    first = env.stream({"channel": "f"})
    env.wait_streams("f", 1)
    env.publish([hint_item("f", 1, item_id="1")])
    first.wait_events(2)
    first.close()
    env.wait_grip(lambda g: g["streams_held"] == 0, "the stream released")
    second = env.stream({"channel": "f"})
    env.wait_streams("f", 1)
    # A stale id must not delay the first item after a new subscription.
    assert (
        env.publish([hint_item("f", 9, item_id="9", prev_id="8")]).json()["delivered"]
        == 1
    )
    second.wait_events(2)


def _item(item_id: str, prev_id: str | None = None) -> GripItem:
    return GripItem(channel="c", id=item_id, prev_id=prev_id)


def test_a_waiting_item_goes_out_after_the_wait_without_its_predecessor() -> None:
    """Pushpin's ``message_wait``: 5 s, then the item goes anyway."""
    sequencer: Sequencer[GripItem] = Sequencer(wait=5.0)
    assert sequencer.add(_item("1"), listened=True, now=0) == [_item("1")]
    assert sequencer.add(_item("3", "2"), listened=True, now=1) == []
    assert sequencer.add(_item("4", "3"), listened=True, now=2) == []
    assert sequencer.expire(now=5.9) == []
    # The oldest goes first, and releases the one waiting behind it.
    assert sequencer.expire(now=6.0) == [_item("3", "2"), _item("4", "3")]
    assert sequencer.waiting == 0


def test_waiting_items_are_bounded_per_channel() -> None:
    sequencer: Sequencer[GripItem] = Sequencer(max_pending=2)
    sequencer.add(_item("1"), listened=True, now=0)
    assert sequencer.add(_item("x", "a"), listened=True, now=0) == []
    assert sequencer.add(_item("y", "a"), listened=True, now=0) == []  # same prev
    assert sequencer.add(_item("z", "b"), listened=True, now=0) == []
    assert sequencer.add(_item("w", "c"), listened=True, now=0) == []  # past 2
    assert (sequencer.waiting, sequencer.dropped) == (2, 2)
