"""How much does ``publish()`` add to a request, and how many publishes/s?

Run: ``.venv/bin/python -m benchmarks.publish_overhead`` (or ``make bench``).

A local publish endpoint runs in a *separate process* (so that it does not
compete with the app for the GIL): the test suite's ThreadingHTTPServer on
127.0.0.1, which verifies each request's JWT with PyJWT and its body, like a
realm's publish API, and counts the items. Then, through the Flask test client:

* baseline: a view that does nothing;
* non-blocking: the same view plus ``fanout.publish(...)``;
* blocking: the same view plus ``fanout.publish(..., blocking=True)``.

It prints the median and p99 time ``publish()`` adds (measured inside the
view around the call, and as the difference of whole-request times against
the baseline), the blocking / non-blocking ratio, and the sustained rate of
non-blocking publishes from one process with everything delivered.
Goals: non-blocking adds <= 50 us median; >= 5,000 publishes/s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request

from benchmarks._stats import summary
from tests.helpers.endpoint import KEY_B64
from tests.helpers.endpoint import REALM


def serve_endpoint() -> None:
    """The endpoint process: print the port, then serve until stdin closes.

    It is the test suite's endpoint (:mod:`tests.helpers.endpoint`), which
    verifies each JWT and body as a realm would; a GET answers its count.
    """
    from tests.helpers.endpoint import running_endpoint

    with running_endpoint() as endpoint:
        print(endpoint.port, flush=True)
        sys.stdin.read()  # until the parent closes it


def quantiles(samples: list[float]) -> tuple[float, float]:
    median, p99, _ = summary(samples)
    return median, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=5000, help="requests per variant"
    )
    parser.add_argument("--blocking-requests", type=int, default=1000)
    parser.add_argument(
        "--sustained", type=int, default=50000, help="publishes for the rate"
    )
    parser.add_argument("--endpoint", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.endpoint:
        serve_endpoint()
        return

    from flask import Flask

    from flask_fanout import FanoutExt

    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.publish_overhead", "--endpoint"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    port = int(proc.stdout.readline())
    base = f"http://127.0.0.1:{port}"

    def received() -> int:
        with urllib.request.urlopen(base + "/") as response:
            return int(response.read())

    try:
        app = Flask("bench")
        app.config.update(
            FANOUT_REALM_ID=REALM,
            FANOUT_REALM_KEY=KEY_B64,
            FANOUT_PUBLISH_URL=f"{base}/realm/{REALM}",
            FANOUT_SUPPRESS_SEND=False,
            FANOUT_QUEUE_SIZE=max(10000, args.sustained),
        )
        fanout = FanoutExt(app)
        inside: list[float] = []
        payload = {"changed": "comments", "id": 12345}

        @app.get("/baseline")
        def baseline() -> str:
            return "ok"

        @app.get("/nonblocking")
        def nonblocking() -> str:
            started = time.perf_counter()
            fanout.publish("comments-12345", payload)
            inside.append(time.perf_counter() - started)
            return "ok"

        @app.get("/blocking")
        def blocking() -> str:
            started = time.perf_counter()
            fanout.publish("comments-12345", payload, blocking=True)
            inside.append(time.perf_counter() - started)
            return "ok"

        client = app.test_client()

        def timed(path: str) -> float:
            started = time.perf_counter()
            client.get(path)
            return time.perf_counter() - started

        def run(path: str, count: int) -> tuple[list[float], list[float], list[float]]:
            """Alternate baseline and variant requests, so drift hits both alike."""
            for _ in range(200):  # warm-up
                client.get("/baseline")
                client.get(path)
            inside.clear()
            base, totals = [], []
            for _ in range(count):
                base.append(timed("/baseline"))
                totals.append(timed(path))
            return base, totals, list(inside)

        nb_base, nb_totals, nb_inside = run("/nonblocking", args.requests)
        with app.app_context():
            fanout.flush(60)
        b_base, b_totals, b_inside = run("/blocking", args.blocking_requests)

        us = 1e6
        base_med, base_p99 = quantiles(nb_base + b_base)
        print(
            f"baseline request (Flask test client): median {base_med * us:.1f} us, "
            f"p99 {base_p99 * us:.1f} us"
        )
        rows = []
        for name, base_times, totals, call in (
            ("non-blocking", nb_base, nb_totals, nb_inside),
            ("blocking", b_base, b_totals, b_inside),
        ):
            bmed, bp99 = quantiles(base_times)
            med, p99 = quantiles(totals)
            cmed, cp99 = quantiles(call)
            rows.append(cmed)
            print(
                f"{name:>12} publish(): inside the view median {cmed * us:7.1f} us, "
                f"p99 {cp99 * us:7.1f} us | whole request vs baseline: "
                f"median +{(med - bmed) * us:7.1f} us, p99 +{(p99 - bp99) * us:7.1f} us"
            )
        ratio = rows[1] / rows[0]
        print(f"blocking / non-blocking (median, inside the view): {ratio:.0f}x")
        goal = "OK" if rows[0] * us <= 50 else "MISSED"
        print(f"goal: non-blocking adds <= 50 us median -> {goal}")

        with app.app_context():
            fanout.flush(60)
            before = received()
            stats_before = fanout.stats()
            started = time.perf_counter()
            for i in range(args.sustained):
                fanout.publish("sustained", {"i": i})
            produced = time.perf_counter() - started
            assert fanout.flush(120)
            elapsed = time.perf_counter() - started
            stats = fanout.stats()
        delivered = received() - before
        assert stats.dropped == stats_before.dropped, "publishes were dropped"
        assert stats.failed == stats_before.failed, "publishes failed"
        assert delivered == args.sustained, (delivered, args.sustained)
        rate = args.sustained / elapsed
        print(
            f"sustained: {args.sustained} publishes delivered in {elapsed:.2f} s "
            f"= {rate:,.0f}/s "
            f"(publish loop alone {args.sustained / produced:,.0f}/s); "
            f"{stats.sent - stats_before.sent} sent, 0 dropped, 0 failed"
        )
        print(f"goal: >= 5,000 publishes/s -> {'OK' if rate >= 5000 else 'MISSED'}")
        with app.app_context():
            fanout.close(10)
    finally:
        proc.stdin.close()
        proc.wait(10)


if __name__ == "__main__":
    main()
