"""The GRIP stand-in's bounds, and what the browser gets when the app fails."""

from __future__ import annotations

import json

from tests.helpers.apps.grip_origin import hint_item
from tests.helpers.grip_standin import GripEnv
from tests.helpers.grip_standin import limits
from tests.helpers.realm import free_port


def _chunk_items(channel: str, count: int, size: int) -> list[dict[str, object]]:
    filler = "x" * size
    return [
        {"channel": channel, "http-stream": {"content": f"data: {filler}\n\n"}}
        for _ in range(count)
    ]


def test_a_slow_reader_is_cut_off_without_stalling_the_others() -> None:
    """The bound is on unsent output: a reader that keeps up never reaches it,
    one that stops reading does once the kernel's buffers are full too."""
    with GripEnv(limits=limits(max_stream_buffer=256 * 1024)) as env:
        slow = env.stream({"channel": "big"}, read=False, rcvbuf=4096)
        fast = env.stream({"channel": "big"})
        env.wait_streams("big", 2)
        sent = 0
        # 4 items of 32 KiB a publish, up to 64 publishes (8 MiB): far past
        # what the kernel buffers for a reader that never reads.
        while env.grip()["slow_readers_cut_off"] == 0:
            assert sent < 64 * 4, "the reader that stopped was never cut off"
            answer = env.publish(_chunk_items("big", 4, 32 * 1024))
            assert answer.status_code == 200
            sent += 4
            fast.wait_events(1 + sent)
        env.wait_grip(lambda g: g["stream_subscribers"] == {"big": 1}, "one left")
        env.publish([hint_item("big", "after")])
        fast.wait_events(2 + sent)
        assert not fast.finished.is_set()
        assert env.grip()["slow_readers_cut_off"] == 1
        slow.close()


def test_holds_are_bounded() -> None:
    with GripEnv(limits=limits(max_grip_holds=2)) as env:
        held = [
            env.stream({"channel": "p"}),
            env.stream({"channel": "p", "mode": "poll"}),
        ]
        env.wait_streams("p", 1)
        env.wait_responses("p", 1)

        extra = env.stream({"channel": "p"})
        extra.wait_finished()
        assert (extra.status, extra.ended_cleanly) == (200, True)
        assert extra.events[0].event == "ready"  # then it ends: EventSource retries

        poll = env.stream({"channel": "p", "mode": "poll"})
        poll.wait_finished()
        assert poll.status == 503
        assert poll.header("Retry-After") == "5"
        assert b"--max-grip-holds" in poll.body

        grip = env.grip()
        assert (
            grip["holds_refused"],
            grip["streams_held"],
            grip["responses_held"],
        ) == (
            2,
            1,
            1,
        )
        assert env.publish([hint_item("p", 1)]).json()["delivered"] == 2
        held[1].wait_finished()
        held[0].wait_events(2)


def test_origin_down_is_a_502_naming_it() -> None:
    with GripEnv(origin=False) as env:
        port = free_port()
        env.realm.set_origin(f"http://127.0.0.1:{port}")
        stream = env.stream({"channel": "a"})
        stream.wait_finished()
        assert stream.status == 502
        body = bytes(stream.body).decode()
        assert f"cannot connect to the app at http://127.0.0.1:{port}" in body
        assert stream.header("Content-Type") == "text/plain; charset=utf-8"
        assert env.grip()["origin_errors"] == 1


def test_no_origin_yet_is_a_502_saying_how_to_set_it() -> None:
    with GripEnv(origin=False) as env:
        stream = env.stream({"channel": "a"})
        stream.wait_finished()
        assert stream.status == 502
        assert b"--origin http://HOST:PORT" in stream.body
        assert env.grip()["origin"] is None


def test_a_slow_origin_is_a_502() -> None:
    with GripEnv(limits=limits(origin_timeout=0.5)) as env:
        stream = env.stream({"channel": "a", "sleep": "1.5"})
        stream.wait_finished()
        assert stream.status == 502
        assert b"did not answer within 0.5 s (--origin-timeout)" in stream.body


def test_a_too_large_answer_is_a_502() -> None:
    with GripEnv(limits=limits(max_origin_body=4096)) as env:
        stream = env.stream({"channel": "a", "big": "5000"})
        stream.wait_finished()
        assert stream.status == 502
        assert b"larger than 4096 bytes (--max-origin-body)" in stream.body
        ok = env.stream({"channel": "a", "big": "3000"})
        env.wait_streams("a", 1)
        ok.close()


def test_instructions_that_cannot_be_followed_are_a_502() -> None:
    with GripEnv() as env:
        for query, problem in [
            ({"keepalive": "x; mode=sometimes"}, b"no such mode 'sometimes'"),
            ({"keepalive": "x; format=hex"}, b"no such format 'hex'"),
            ({"keepalive": "\\q; format=cstring"}, b"unknown escape"),
            ({"gripstatus": "abc"}, b"Grip-Status has an invalid status code"),
        ]:
            stream = env.stream({"channel": "a", **query})
            stream.wait_finished()
            assert stream.status == 502, query
            assert problem in bytes(stream.body), (query, bytes(stream.body))
        assert env.grip()["instruct_errors"] == 4
        assert env.grip()["streams_opened"] == 0


def test_per_channel_stats_are_bounded() -> None:
    with GripEnv(limits=limits(stats_channels=2)) as env:
        for channel, count in (("a", 1), ("b", 3), ("c", 2)):
            for _ in range(count):
                env.stream({"channel": channel})
        env.wait_grip(lambda g: g["streams_held"] == 6, "six streams")
        grip = env.grip()
        assert grip["stream_subscribers"] == {"b": 3, "c": 2}
        assert grip["channels"] == 3
        assert json.dumps(grip)  # JSON-ready
