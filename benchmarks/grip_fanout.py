"""Fan-out on the GRIP backend: SSE through Pushpin and the local realm, against Bayeux.

For N subscribers on one channel (``--n``, default 1,000; the full run is
``--n 1000,5000,10000``) and each of these targets, started fresh per N:

* ``ours``: a real Pushpin in front of the example app's stream view
  (``/_fanout/events``, Grip-Sig checked, authorizer called); the app
  publishes with ``fanout.publish(..., blocking=True)``.
* ``ceiling``: the same Pushpin in front of a bare origin that only answers
  the hold (:func:`tests.helpers.pushpin.stream_hold`, same first event and
  keep-alive as ours); the item is POSTed straight to ``/publish/``.
  Pushpin's own ceiling: what ours would be with a free app.
* ``local``: the local realm standing in for Pushpin (its own process,
  ``python -m flask_fanout.realm --origin``) in front of the example app.
* ``bayeux``, ``faye``: Bayeux over WebSocket on the local realm and on Faye's
  own Node server, measured by :func:`benchmarks.realm_fanout.measure`.
* ``ceiling-throttled``: the ceiling with Debian's packaged throttle
  (``message_rate=2500``, ``message_hwm=25000``) at 5,000 subscribers, to
  show what it costs: about 2 s a publish. Every other Pushpin runs without
  it (:class:`tests.helpers.pushpin.Pushpin` leaves both keys out).

The SSE subscribers are raw asyncio sockets
(:class:`tests.helpers.sse.RawSSEStream`), shared out over ``--client-procs``
processes as the Bayeux ones are. They connect in paced batches
(``--inflight`` requests in flight at once over all processes): Pushpin
answers 502 once a few hundred new streams are in flight. A 502 or a dropped
connection is retried, and counted. Once all N have their ``ready`` event
and the proxy reports N streams held, for each target it measures:

* latency: from the publish call until the last of the N has the event,
  one publish at a time, p50 and p99 (nearest rank, :mod:`benchmarks._stats`)
  over ``--publishes`` publishes after 4 warm-ups;
* throughput: ``--burst`` publishes, 4 in flight at a time;
* server CPU per delivery: utime + stime from ``/proc/<pid>/stat`` of the
  server's processes (for Pushpin: the runner, condure, zurl, pushpin-proxy
  and pushpin-handler, also shown apart), over the warm-ups, the latency
  and the throughput phases, divided by the deliveries of all three. The
  app's own CPU (a request per stream, a publish per hint) is not counted:
  it runs in this process, with the origin server;
* memory per connection: growth of the servers' summed RSS / N, from
  before the first connection to all N held.

Everything listens on 127.0.0.1 and is stopped at the end; each phase is
bounded by ``--budget`` seconds. The clients share the machine's cores with
the servers, as in :mod:`benchmarks.realm_fanout`.

Usage::

    .venv/bin/python -m benchmarks.grip_fanout                      # N = 1000
    .venv/bin/python -m benchmarks.grip_fanout --n 1000,5000,10000  # the full run
    .venv/bin/python -m benchmarks.grip_fanout --quick              # N = 200
    .venv/bin/python -m benchmarks.grip_fanout --targets ours,ceiling --n 5000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks._stats import percentile
from benchmarks._stats import ratio
from benchmarks.realm_fanout import WARMUP
from benchmarks.realm_fanout import Arrivals
from benchmarks.realm_fanout import Server
from benchmarks.realm_fanout import Tally
from benchmarks.realm_fanout import freeze_heap
from benchmarks.realm_fanout import measure as measure_bayeux
from benchmarks.realm_fanout import raise_fd_limit
from benchmarks.realm_fanout import start_faye
from benchmarks.realm_fanout import start_realm
from benchmarks.realm_fanout import until_told
from tests.helpers.apps.grip_origin import hint_item
from tests.helpers.grip_proxies import GripStack
from tests.helpers.grip_proxies import LocalProxy
from tests.helpers.grip_proxies import Origin
from tests.helpers.grip_proxies import PushpinProxy
from tests.helpers.grip_proxies import example_app
from tests.helpers.pushpin import GripOrigin
from tests.helpers.pushpin import Pushpin
from tests.helpers.pushpin import stream_hold
from tests.helpers.realm import RealmProcess
from tests.helpers.realm import realm_argv
from tests.helpers.sse import RawSSEStream
from tests.helpers.sse import SSEEvent
from tests.helpers.sse import open_raw_stream
from tests.helpers.threads import cancel_all

#: A public channel of the example app (no prefix: the wire name too).
CHANNEL = "comments-1"
STREAM_PATH = f"/_fanout/events?channel={CHANNEL}"
#: What the example's stream view sends first and after each idle period.
READY = 'retry: 2000\nevent: ready\ndata: {"channels":["comments-1"],"denied":[]}\n\n'
KEEP_ALIVE = "event: keep-alive\ndata: {}\n\n"
KEEP_ALIVE_SECONDS = 20
#: Debian's packaged pushpin.conf throttle, for the one run that shows it.
THROTTLE = {"handler": {"message_rate": "2500", "message_hwm": "25000"}}
#: Attempts per subscriber before a client process gives up.
ATTEMPTS = 12
#: Seconds a subscriber waits for its ``ready`` event before retrying.
READY_TIMEOUT = 60.0
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


# -- server processes, read from /proc ----------------------------------------


def _proc_stat(pid: int) -> tuple[str, float, int]:
    """(name, utime + stime in seconds, RSS in bytes) of one process."""
    with open(f"/proc/{pid}/stat") as file:
        text = file.read()
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # Fields 14 and 15 (utime, stime) and 24 (rss) of proc(5); field 3 is
    # the first after the name.
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS
    return name, cpu, int(fields[21]) * _PAGE


def _cpu_by_name(pids: list[int]) -> dict[str, float]:
    seen: dict[str, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            name, cpu, _ = _proc_stat(pid)
            seen[name] = seen.get(name, 0.0) + cpu
    return seen


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += _proc_stat(pid)[2]
    return total


# -- the SSE targets ----------------------------------------------------------


@dataclass
class _Target:
    """One SSE fan-out set-up: where subscribers connect, how to publish."""

    name: str
    url: str
    #: The server processes whose CPU and memory count.
    pids: Callable[[], list[int]]
    #: Publish hint ``k``; returns once the proxy accepted it.
    publish: Callable[[int], None]
    #: Block until ``n`` streams are held, within the timeout.
    wait_held: Callable[[int, float], None]
    close: Callable[[], None]


def _app_publisher(app: Any) -> Callable[[int], None]:
    def publish(number: int) -> None:
        with app.app_context():
            app.extensions["fanout"].publish(CHANNEL, {"k": number}, blocking=True)

    return publish


def _pushpin_pids(pushpin: Pushpin) -> Callable[[], list[int]]:
    def pids() -> list[int]:
        runner = [pushpin.proc.pid] if pushpin.proc is not None else []
        return runner + pushpin.child_pids

    return pids


def _ours(tmp: Path, n: int) -> _Target:
    stack = GripStack("pushpin", tmp / "ours.sqlite", {})
    assert isinstance(stack.proxy, PushpinProxy)
    pushpin = stack.proxy.pushpin
    stack.proxy.mark()
    return _Target(
        name="ours",
        url=stack.proxy.url + STREAM_PATH,
        pids=_pushpin_pids(pushpin),
        publish=lambda k: stack.publish(CHANNEL, {"k": k}),
        wait_held=lambda count, timeout: stack.proxy.wait_streams(
            CHANNEL, count, timeout
        ),
        close=stack.close,
    )


def _ceiling(
    tmp: Path, n: int, config: dict[str, dict[str, str]] | None = None
) -> _Target:
    origin = GripOrigin().start()
    origin.route(
        "/_fanout/events",
        stream_hold(
            CHANNEL,
            first=READY,
            keep_alive=KEEP_ALIVE_SECONDS,
            keep_alive_content=KEEP_ALIVE,
        ),
    )
    pushpin = Pushpin(origin.port, config=config).start()
    since = pushpin.handler_mark()

    def wait_held(count: int, timeout: float) -> None:
        pushpin.wait_for_subscribers(CHANNEL, count, since=since, timeout=timeout)

    def close() -> None:
        pushpin.close()
        origin.stop()

    return _Target(
        name="ceiling-throttled" if config else "ceiling",
        url=pushpin.url + STREAM_PATH,
        pids=_pushpin_pids(pushpin),
        publish=lambda k: pushpin.publish(hint_item(CHANNEL, {"k": k})),
        wait_held=wait_held,
        close=close,
    )


def _local(tmp: Path, n: int) -> _Target:
    origin = Origin()
    realm = RealmProcess(
        realm_argv(
            "--port",
            "0",
            "--origin",
            origin.url,
            "--max-grip-holds",
            str(n + 1000),
            "--max-connections",
            str(n + 2000),
        )
    )
    # The realm runs in its own process (its CPU and memory apart from the
    # app's and the clients'); LocalProxy, pointed at its port but never
    # started, gives the app's settings and the wait on its /stats.
    proxy = LocalProxy(origin)
    proxy.port = realm.port
    app = example_app(tmp / "local.sqlite", proxy)
    origin.serve(app)

    def close() -> None:
        origin.close()
        realm.terminate()

    return _Target(
        name="local",
        url=proxy.url + STREAM_PATH,
        pids=lambda: [realm.proc.pid],
        publish=_app_publisher(app),
        wait_held=lambda count, timeout: proxy.wait_streams(CHANNEL, count, timeout),
        close=close,
    )


# -- the subscribers ----------------------------------------------------------


def _client_process(url: str, n: int, inflight: int, conn: Connection) -> None:
    """A child process holding ``n`` raw SSE subscribers on ``url``.

    Sends the parent ``("ready", retries)`` once all ``n`` streams are open
    and have had their ``ready`` event, ``("done", k, time)`` when the last
    of them has hint ``k``, and ``("failed", why)`` if a subscriber cannot
    connect or a held stream ends after that; any message from the parent
    stops it.
    """
    raise_fd_limit(n + 256)
    asyncio.run(_client_main(url, n, inflight, conn))
    conn.close()


async def _client_main(url: str, n: int, inflight: int, conn: Connection) -> None:
    arrivals = Arrivals(n, conn)
    streams: set[RawSSEStream] = set()
    retries = 0
    reported = False
    stopping = False

    def on_event(stream: RawSSEStream, event: SSEEvent) -> None:
        if event.type != "message":
            return
        arrivals.got(json.loads(event.data)["data"]["k"])

    gate = asyncio.Semaphore(inflight)

    async def connect() -> RawSSEStream:
        """A stream that has had its ``ready`` event, retrying failures."""
        nonlocal retries
        async with gate:
            for attempt in range(ATTEMPTS):
                stream = await open_raw_stream(url, on_event, timeout=READY_TIMEOUT)
                first = None
                if stream.status == 200:
                    with contextlib.suppress(TimeoutError):
                        first = await asyncio.wait_for(
                            asyncio.shield(stream.first_event), READY_TIMEOUT
                        )
                if first is not None and first.type == "ready":
                    return stream
                stream.close()
                retries += 1
                await asyncio.sleep(min(0.1 * 2**attempt, 5) * (1 + random.random()))
        raise RuntimeError(
            f"no stream after {ATTEMPTS} attempts: status {stream.status}, "
            f"{stream.refusal[:60]!r} {stream.error!r}"
        )

    async def hold() -> None:
        nonlocal retries, reported
        while not stopping:
            try:
                stream = await connect()
            except RuntimeError as exc:
                conn.send(("failed", str(exc)))
                return
            streams.add(stream)
            if len(streams) == n and not reported:
                reported = True
                freeze_heap()
                conn.send(("ready", retries))
            await stream.closed
            streams.discard(stream)
            if stopping:
                return
            if reported:
                conn.send(("failed", f"a held stream ended: {stream.error!r}"))
                return
            # Cut while the others were still connecting (Pushpin does that
            # to a few streams under a connection storm): open it again.
            retries += 1

    tasks = [asyncio.create_task(hold()) for _ in range(n)]
    try:
        await until_told(conn)
    finally:
        stopping = True
        for stream in list(streams):
            stream.close()
        await cancel_all(tasks)


# -- one run --------------------------------------------------------------------


@dataclass
class _Row:
    target: str
    n: int
    p50_ms: float
    p99_ms: float
    publishes_per_s: float | None
    bytes_per_conn: float
    connect_s: float
    cpu_s: float
    #: Every publish the CPU time covers, warm-ups included, times N.
    deliveries: int
    retries: int = 0
    cpu_by_process: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.deliveries * 1e6


async def _settle(
    future: Awaitable[Any], failed: asyncio.Future[str], budget: float
) -> Any:
    """``future``'s result, unless a client fails first or ``budget`` passes."""
    task = asyncio.ensure_future(future)
    done, _ = await asyncio.wait(
        {task, failed}, timeout=budget, return_when=asyncio.FIRST_COMPLETED
    )
    if task in done:
        return task.result()
    task.cancel()
    if failed in done:
        raise RuntimeError(failed.result())
    raise TimeoutError(f"not done within {budget} s")


async def _measure_sse(
    target: _Target,
    n: int,
    publishes: int,
    burst: int,
    budget: float,
    procs: int,
    inflight: int,
) -> _Row:
    loop = asyncio.get_running_loop()
    tally = Tally(procs)
    all_ready: asyncio.Future[None] = loop.create_future()
    failed: asyncio.Future[str] = loop.create_future()
    ready: list[int] = []

    def fail(why: str) -> None:
        if not failed.done():
            failed.set_result(why)

    def on_message(conn: Connection) -> None:
        while conn.poll():
            try:
                message = conn.recv()
            except EOFError:
                loop.remove_reader(conn.fileno())
                fail("a client process died (see its traceback above)")
                return
            if message[0] == "ready":
                ready.append(message[1])
                if len(ready) == procs and not all_ready.done():
                    all_ready.set_result(None)
            elif message[0] == "done":
                tally.got(message[1], message[2])
            elif message[0] == "failed":
                fail(message[1])

    async def publish(number: int) -> None:
        await asyncio.to_thread(target.publish, number)

    context = multiprocessing.get_context("spawn")
    children: list[tuple[Any, Connection]] = []
    # Warm the proxy and the app's publisher before the memory baseline.
    await publish(-WARMUP - 10)
    await asyncio.sleep(0.5)
    rss_before = _rss(target.pids())
    started = time.perf_counter()
    try:
        for index in range(procs):
            share = n // procs + (1 if index < n % procs else 0)
            parent_end, child_end = context.Pipe()
            child = context.Process(
                target=_client_process,
                args=(target.url, share, max(1, inflight // procs), child_end),
                daemon=True,
            )
            child.start()
            child_end.close()
            children.append((child, parent_end))
            loop.add_reader(parent_end.fileno(), on_message, parent_end)
        await _settle(all_ready, failed, budget)
        await _settle(asyncio.to_thread(target.wait_held, n, budget), failed, budget)
        connect_s = time.perf_counter() - started
        await asyncio.sleep(0.5)  # let the servers settle before reading memory
        rss_after = _rss(target.pids())
        cpu_before = _cpu_by_name(target.pids())

        latencies: list[float] = []
        for number in range(-WARMUP - 1, publishes):
            done = tally.wait(number)
            t0 = time.perf_counter()
            await publish(number)
            finished = await _settle(done, failed, budget)
            if number >= 0:
                latencies.append((finished - t0) * 1000)

        per_second = None
        if burst:
            first, last = publishes, publishes + burst - 1
            gate = asyncio.Semaphore(4)

            async def one(number: int) -> None:
                async with gate:
                    await publish(number)

            t0 = time.perf_counter()
            await _settle(
                asyncio.gather(*(one(k) for k in range(first, last + 1))),
                failed,
                budget,
            )
            deadline = time.monotonic() + budget
            while any(k not in tally.done for k in range(first, last + 1)):
                if failed.done():
                    raise RuntimeError(failed.result())
                if time.monotonic() > deadline:
                    raise TimeoutError("throughput phase did not complete")
                await asyncio.sleep(0.005)
            elapsed = max(tally.done[k] for k in range(first, last + 1)) - t0
            per_second = burst / elapsed
        cpu_after = _cpu_by_name(target.pids())
    finally:
        for _, parent_end in children:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(parent_end.fileno())
            with contextlib.suppress(OSError):
                parent_end.send(("stop",))
        for child, parent_end in children:
            child.join(30)
            if child.is_alive():
                child.kill()
                child.join(10)
            parent_end.close()

    by_name = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    return _Row(
        target=target.name,
        n=n,
        p50_ms=statistics.median(latencies),
        p99_ms=percentile(latencies, 0.99),
        publishes_per_s=per_second,
        bytes_per_conn=(rss_after - rss_before) / n,
        connect_s=connect_s,
        cpu_s=sum(by_name.values()),
        deliveries=(WARMUP + 1 + publishes + burst) * n,
        retries=sum(ready),
        cpu_by_process=by_name,
    )


def _run_sse(
    factory: Callable[[Path, int], _Target],
    n: int,
    args: argparse.Namespace,
    *,
    publishes: int | None = None,
    burst: int | None = None,
) -> _Row:
    with tempfile.TemporaryDirectory(prefix="grip-fanout-") as tmp:
        target = factory(Path(tmp), n)
        try:
            print(f"{target.name}: N={n} ...", flush=True)
            return asyncio.run(
                _measure_sse(
                    target,
                    n,
                    args.publishes if publishes is None else publishes,
                    args.burst if burst is None else burst,
                    args.budget,
                    args.client_procs,
                    args.inflight,
                )
            )
        finally:
            target.close()


def _run_bayeux(
    name: str, start: Callable[[], Server], n: int, args: argparse.Namespace
) -> _Row:
    server = start()
    try:
        print(f"{name}: N={n} ...", flush=True)
        result = asyncio.run(
            measure_bayeux(
                server, n, args.publishes, args.burst, args.budget, args.client_procs
            )
        )
    finally:
        server.stop()
    # measure() reads the CPU from before its warm-up publishes, as ours do:
    # count their deliveries too, so CPU per delivery means the same in both.
    return _Row(
        target=name,
        n=n,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        publishes_per_s=result.publishes_per_s,
        bytes_per_conn=result.bytes_per_conn,
        connect_s=result.connect_s,
        cpu_s=result.server_cpu_s,
        deliveries=(WARMUP + 1 + args.publishes + args.burst) * n,
    )


# -- the report -------------------------------------------------------------------


def _report(rows: list[_Row], failures: list[str]) -> None:
    print()
    header = (
        f"{'target':<18}{'N':>7}{'p50 ms':>9}{'p99 ms':>9}{'pub/s':>8}"
        f"{'KiB/conn':>10}{'MiB@N':>8}{'setup s':>9}{'cpu us/dlv':>12}{'retries':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        pub = f"{r.publishes_per_s:8.1f}" if r.publishes_per_s else f"{'-':>8}"
        print(
            f"{r.target:<18}{r.n:>7}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{pub}"
            f"{r.bytes_per_conn / 1024:>10.1f}{r.bytes_per_conn * r.n / 2**20:>8.1f}"
            f"{r.connect_s:>9.1f}{r.cpu_us:>12.1f}{r.retries:>9}"
        )
    print()
    print("CPU per delivery by process (us):")
    for r in rows:
        if r.cpu_by_process:
            per_delivery = {
                name: cpu / r.deliveries * 1e6 for name, cpu in r.cpu_by_process.items()
            }
            parts = "  ".join(
                f"{name} {us:.1f}"
                for name, us in sorted(per_delivery.items(), key=lambda x: -x[1])
                if us >= 0.05
            )
            print(f"  {r.target:<18} N={r.n:<6} {parts}")

    by_n: dict[int, dict[str, _Row]] = {}
    for r in rows:
        by_n.setdefault(r.n, {})[r.target] = r
    print()
    print("Ratios (lower is better):")
    comparisons = [
        ("ours", "ceiling", "ours/ceiling"),
        ("local", "ours", "local/pushpin(ours)"),
        ("local", "ceiling", "local/ceiling"),
        ("bayeux", "local", "bayeux/local-sse"),
        ("bayeux", "faye", "bayeux/faye"),
    ]
    for n, found in sorted(by_n.items()):
        for mine, peer, label in comparisons:
            a, b = found.get(mine), found.get(peer)
            if a is None or b is None:
                continue
            print(
                f"  N={n:<6} {label:<20} p50 {ratio(a.p50_ms, b.p50_ms):>7}"
                f"  p99 {ratio(a.p99_ms, b.p99_ms):>7}"
                f"  cpu/delivery {ratio(a.cpu_us, b.cpu_us):>7}"
                f"  memory/conn {ratio(a.bytes_per_conn, b.bytes_per_conn):>7}"
            )

    print()
    print("Goals:")
    for n, found in sorted(by_n.items()):
        ours, ceiling, local = (found.get(k) for k in ("ours", "ceiling", "local"))
        if ours and ceiling:
            worst = max(ours.p50_ms / ceiling.p50_ms, ours.p99_ms / ceiling.p99_ms)
            verdict = "met" if worst <= 1.1 else "MISSED"
            print(
                f"  N={n}: ours within 1.1x of the bare-origin ceiling "
                f"(worse of p50/p99: {worst:.2f}x): {verdict}"
            )
        pushpin = ours or ceiling
        if local and pushpin:
            verdict = "met" if local.cpu_us <= pushpin.cpu_us else "MISSED"
            print(
                f"  N={n}: local realm CPU/delivery {local.cpu_us:.1f} us <= "
                f"Pushpin's ({pushpin.target}) {pushpin.cpu_us:.1f} us: {verdict}"
            )
    held = [r.target for r in rows if r.n >= 10000 and r.target in ("ours", "ceiling")]
    if held:
        print(f"  10,000 SSE subscribers held through Pushpin: met ({', '.join(held)})")
    for failure in failures:
        print(f"  FAILED: {failure}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n",
        default="1000",
        help="values of N, comma-separated (default %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="N = 200, fewer publishes")
    parser.add_argument("--publishes", type=int, default=20, help="latency samples")
    parser.add_argument(
        "--burst", type=int, default=10, help="publishes in the throughput phase"
    )
    parser.add_argument(
        "--targets",
        default="ours,ceiling,local,bayeux,faye",
        help="comma-separated subset of ours,ceiling,local,bayeux,faye",
    )
    parser.add_argument(
        "--throttled",
        type=int,
        default=None,
        help="N for the run with Debian's throttle (default: 5000 when an N "
        "reaches 5000; 0 to skip)",
    )
    parser.add_argument(
        "--client-procs", type=int, default=2, help="processes holding the clients"
    )
    parser.add_argument(
        "--inflight",
        type=int,
        default=64,
        help="stream requests in flight at once while connecting",
    )
    parser.add_argument(
        "--budget", type=float, default=240, help="seconds allowed per phase"
    )
    parser.add_argument("--json", action="store_true", help="also print JSON")
    args = parser.parse_args()
    ns = [int(x) for x in args.n.split(",") if x.strip()]
    if args.quick:
        ns, args.publishes, args.burst = [200], 10, 5
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - {"ours", "ceiling", "local", "bayeux", "faye"}
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    throttled = args.throttled
    if throttled is None:
        throttled = 5000 if max(ns) >= 5000 and not args.quick else 0
    raise_fd_limit(max([*ns, throttled]) + 1024)

    sse: dict[str, Callable[[Path, int], _Target]] = {
        "ours": _ours,
        "ceiling": _ceiling,
        "local": _local,
    }
    bayeux: dict[str, Callable[[], Server]] = {
        "bayeux": start_realm,
        "faye": start_faye,
    }
    rows: list[_Row] = []
    failures: list[str] = []
    for n in ns:
        for name in targets:
            try:
                if name in sse:
                    rows.append(_run_sse(sse[name], n, args))
                else:
                    rows.append(_run_bayeux(name, bayeux[name], n, args))
            except (RuntimeError, TimeoutError, AssertionError, OSError) as exc:
                failures.append(f"{name} N={n}: {type(exc).__name__}: {exc}")
                print(f"  {failures[-1]}", flush=True)
    if throttled:
        try:
            rows.append(
                _run_sse(
                    lambda tmp, n: _ceiling(tmp, n, THROTTLE),
                    throttled,
                    args,
                    publishes=5,
                    burst=0,
                )
            )
        except (RuntimeError, TimeoutError, AssertionError, OSError) as exc:
            failures.append(f"ceiling-throttled N={throttled}: {exc}")
    _report(rows, failures)
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2))
    print(
        f"\n{os.cpu_count()} CPUs; clients, servers and the app share them "
        "(loopback). CPU per delivery counts the server processes only."
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
