"""Fan-out benchmark: the local realm against Faye's own Node server.

For N WebSocket subscribers on one channel (default N = 1,000 and 10,000)
it measures, for each server in the same run on the same machine:

* latency: from one publish until every subscriber has the message, p50 and
  p99 over repeated publishes (one at a time);
* throughput: sustained publishes per second, all delivered to all N;
* memory per idle connection: server RSS growth / N once N clients have
  handshaken, subscribed and sit in a held ``/meta/connect``.

Both servers see exactly the same workload from the same client: raw Bayeux
over WebSocket with aiohttp (handshake, subscribe, connect, then read),
spread over ``--client-procs`` processes (default 2), because reading N
sockets in one Python process costs more than either server's fan-out.
Publishes go through each server's own server-side path: the realm publish
API (JWT, what the extension uses) for the local realm, a Bayeux publish
POSTed to ``/bayeux`` for Faye. Loopback only; everything it starts is
stopped at the end, and each phase is bounded by a timeout.

Usage::

    .venv/bin/python -m benchmarks.realm_fanout                 # N = 1000, 10000
    .venv/bin/python -m benchmarks.realm_fanout --subscribers 2000 --publishes 50

Needs ``node`` and ``js/node_modules`` (``make install``) for the Faye side;
``--no-faye`` measures the local realm alone.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import json
import multiprocessing
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import psutil

from benchmarks._stats import percentile
from flask_fanout import _local
from tests.helpers.threads import cancel_all

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CHANNEL = "bench"
WARMUP = 3
HANDSHAKE = {
    "channel": "/meta/handshake",
    "version": "1.0",
    "supportedConnectionTypes": ["websocket"],
}


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        sys.exit(f"need {needed} file descriptors, the hard limit is {hard}")


# -- the two servers ---------------------------------------------------------


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[str]
    url: str
    publish: Callable[[aiohttp.ClientSession, int], Any]

    @property
    def rss(self) -> int:
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def cpu(self) -> float:
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start(argv: list[str], pattern: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=str(REPO))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(pattern, line)
    if match is None:
        proc.kill()
        proc.wait()
        sys.exit(f"{argv[0]} did not start: {line!r}")
    return proc, match.group(1)


#: Set by --profile: run the realm under cProfile and write the stats here.
PROFILE: str | None = None


def start_realm() -> Server:
    profile = ["-m", "cProfile", "-o", PROFILE] if PROFILE else []
    proc, url = start(
        [
            sys.executable,
            *profile,
            "-m",
            "flask_fanout.realm",
            "--port",
            "0",
            "--connect-timeout",
            "600",
        ],
        r"listening on (http://\S+)",
    )
    key = base64.b64decode(_local.LOCAL_REALM_KEY)
    publish_url = f"{url}/realm/{_local.LOCAL_REALM_ID}/publish/"

    async def publish(http: aiohttp.ClientSession, number: int) -> None:
        token = jwt.encode(
            {"iss": _local.LOCAL_REALM_ID, "exp": int(time.time()) + 3600}, key, "HS256"
        )
        body = {"items": [{"channel": CHANNEL, "json-object": {"k": number}}]}
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(publish_url, json=body, headers=headers) as response:
            assert response.status == 200, await response.text()

    return Server("local realm", proc, url, publish)


def start_faye() -> Server:
    node = shutil.which("node")
    if node is None or not (REPO / "js" / "node_modules" / "faye").is_dir():
        sys.exit(
            "Faye needs node and js/node_modules (make install), or pass --no-faye"
        )
    proc, url = start(
        [node, str(HERE / "faye_server.mjs"), "0"], r"listening on (http://\S+)"
    )

    async def publish(http: aiohttp.ClientSession, number: int) -> None:
        body = [{"channel": "/" + CHANNEL, "data": {"k": number}}]
        async with http.post(url + "/bayeux", json=body) as response:
            assert response.status == 200
            assert (await response.json())[0]["successful"], "Faye refused the publish"

    return Server("faye (node)", proc, url, publish)


# -- the subscribers ---------------------------------------------------------


@dataclass
class Tally:
    """When each client process had message ``k`` on all its subscribers."""

    processes: int
    parts: dict[int, list[float]] = field(default_factory=dict)
    done: dict[int, float] = field(default_factory=dict)
    waiters: dict[int, asyncio.Future[float]] = field(default_factory=dict)

    def wait(self, number: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[number] = future
        return future

    def got(self, number: int, when: float) -> None:
        parts = self.parts.setdefault(number, [])
        parts.append(when)
        if len(parts) == self.processes:
            finished = max(parts)  # perf_counter is CLOCK_MONOTONIC: system-wide
            self.done[number] = finished
            del self.parts[number]
            waiter = self.waiters.pop(number, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(finished)


class Arrivals:
    """In a client process: says ``("done", k, time)`` to the parent once
    all ``n`` of its subscribers have had message ``k``."""

    def __init__(self, n: int, conn: Connection) -> None:
        self.n = n
        self.conn = conn
        self._counts: dict[int, int] = {}

    def got(self, number: int) -> None:
        count = self._counts.get(number, 0) + 1
        if count == self.n:
            del self._counts[number]
            self.conn.send(("done", number, time.perf_counter()))
        else:
            self._counts[number] = count


def freeze_heap() -> None:
    """Thousands of idle connections make every full collection in a client
    process slow; freezing them keeps the cost per message flat."""
    gc.collect()
    gc.freeze()


async def until_told(conn: Connection) -> None:
    """Return when the parent sends anything (its way of saying stop)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(conn.fileno(), stop.set)
    try:
        await stop.wait()
    finally:
        loop.remove_reader(conn.fileno())


async def subscriber(
    http: aiohttp.ClientSession,
    ws_url: str,
    got: Callable[[int], None],
    ready: Callable[[], None],
) -> None:
    async with http.ws_connect(ws_url, max_msg_size=0, autoping=True) as ws:
        await ws.send_str(json.dumps([HANDSHAKE]))
        client_id = json.loads((await ws.receive(60)).data)[0]["clientId"]
        connect = {
            "channel": "/meta/connect",
            "clientId": client_id,
            "connectionType": "websocket",
        }
        subscribe = {
            "channel": "/meta/subscribe",
            "clientId": client_id,
            "subscription": "/" + CHANNEL,
        }
        # As Faye's client does: the subscribe on its own (a connect in the same
        # batch would hold the whole batch's reply on Faye's server), then
        # connect once it is acknowledged.
        await ws.send_str(json.dumps([subscribe]))
        subscribed = False
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            for message in json.loads(msg.data):
                channel = message.get("channel")
                if channel == "/" + CHANNEL:
                    got(message["data"]["k"])
                elif channel == "/meta/subscribe" and not subscribed:
                    subscribed = True
                    await ws.send_str(json.dumps([connect]))
                    ready()
                elif channel == "/meta/connect":
                    await ws.send_str(json.dumps([connect]))


def client_process(ws_url: str, n: int, conn: Connection) -> None:
    """A child process holding ``n`` subscribers.

    It tells the parent ``("ready",)`` once all are subscribed, then
    ``("done", k, time)`` when its last subscriber has message ``k``; any
    message from the parent stops it. Several of these share the client's
    work, which would otherwise dominate the latency being measured.
    """
    raise_fd_limit(n + 256)
    asyncio.run(_client_main(ws_url, n, conn))
    conn.close()


async def _client_main(ws_url: str, n: int, conn: Connection) -> None:
    arrivals = Arrivals(n, conn)
    ready_count = 0

    def ready() -> None:
        nonlocal ready_count
        ready_count += 1
        if ready_count == n:
            freeze_heap()
            conn.send(("ready",))

    stopped = asyncio.ensure_future(until_told(conn))
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        tasks: list[asyncio.Task[None]] = []
        for index in range(n):
            tasks.append(
                asyncio.create_task(subscriber(http, ws_url, arrivals.got, ready))
            )
            if index % 100 == 99:
                while len(tasks) - ready_count > 500 and not stopped.done():
                    await asyncio.sleep(0.005)
        await stopped
        await cancel_all(tasks)


# -- one run -----------------------------------------------------------------


@dataclass
class Result:
    server: str
    n: int
    p50_ms: float
    p99_ms: float
    publishes_per_s: float
    bytes_per_conn: float
    connect_s: float
    server_cpu_s: float
    deliveries: int

    @property
    def cpu_us_per_delivery(self) -> float:
        """Server CPU time per delivered message (publishes included)."""
        return self.server_cpu_s / self.deliveries * 1e6


async def measure(
    server: Server, n: int, repeats: int, burst: int, budget: float, procs: int
) -> Result:
    loop = asyncio.get_running_loop()
    ws_url = server.url.replace("http://", "ws://") + "/bayeux"
    tally = Tally(procs)
    all_ready: asyncio.Future[None] = loop.create_future()
    ready_count = 0

    def on_message(conn: Connection) -> None:
        nonlocal ready_count
        while conn.poll():
            try:
                message = conn.recv()
            except EOFError:
                loop.remove_reader(conn.fileno())
                if not all_ready.done():
                    all_ready.set_exception(RuntimeError("a client process died"))
                return
            if message[0] == "ready":
                ready_count += 1
                if ready_count == procs and not all_ready.done():
                    all_ready.set_result(None)
            elif message[0] == "done":
                tally.got(message[1], message[2])

    context = multiprocessing.get_context("spawn")
    children: list[tuple[Any, Connection]] = []
    async with aiohttp.ClientSession() as publisher:
        # Warm the server (imports, JIT, pools) before the memory baseline.
        await server.publish(publisher, -WARMUP - 10)
        rss_before = server.rss
        started = time.perf_counter()
        try:
            for index in range(procs):
                share = n // procs + (1 if index < n % procs else 0)
                parent_end, child_end = context.Pipe()
                child = context.Process(
                    target=client_process, args=(ws_url, share, child_end), daemon=True
                )
                child.start()
                child_end.close()
                children.append((child, parent_end))
                loop.add_reader(parent_end.fileno(), on_message, parent_end)
            await asyncio.wait_for(all_ready, budget)
            connect_s = time.perf_counter() - started
            await asyncio.sleep(0.5)  # let the server settle before measuring memory
            rss_after = server.rss
            cpu_before = server.cpu()

            # Latency: one publish at a time, until all N have it. The first
            # WARMUP publishes (first use of code paths) don't count.
            latencies: list[float] = []
            for number in range(-WARMUP - 1, repeats):
                done = tally.wait(number)
                t0 = time.perf_counter()
                await server.publish(publisher, number)
                finished = await asyncio.wait_for(done, budget)
                if number >= 0:
                    latencies.append((finished - t0) * 1000)

            # Throughput: `burst` publishes back to back (4 in flight at a time).
            first = repeats
            last = first + burst - 1
            t0 = time.perf_counter()
            semaphore = asyncio.Semaphore(4)

            async def one(number: int) -> None:
                async with semaphore:
                    await server.publish(publisher, number)

            await asyncio.gather(*(one(k) for k in range(first, last + 1)))
            deadline = time.monotonic() + budget
            while any(k not in tally.done for k in range(first, last + 1)):
                if time.monotonic() > deadline:
                    raise TimeoutError("throughput phase did not complete")
                await asyncio.sleep(0.005)
            elapsed = max(tally.done[k] for k in range(first, last + 1)) - t0
            cpu = server.cpu() - cpu_before
        finally:
            for _, parent_end in children:
                loop.remove_reader(parent_end.fileno())
                with contextlib.suppress(OSError):
                    parent_end.send(("stop",))
            for child, parent_end in children:
                child.join(30)
                if child.is_alive():
                    child.kill()
                    child.join(10)
                parent_end.close()

    return Result(
        server=server.name,
        n=n,
        p50_ms=statistics.median(latencies),
        p99_ms=percentile(latencies, 0.99),
        publishes_per_s=burst / elapsed,
        bytes_per_conn=(rss_after - rss_before) / n,
        connect_s=connect_s,
        server_cpu_s=cpu,
        deliveries=(repeats + burst) * n,
    )


def report(results: list[Result]) -> None:
    print()
    header = (
        f"{'server':<14}{'N':>7}{'p50 ms':>10}{'p99 ms':>10}{'pub/s':>9}"
        f"{'KiB/conn':>10}{'MiB@N':>8}{'setup s':>9}{'cpu us/msg':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.server:<14}{r.n:>7}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}{r.publishes_per_s:>9.1f}"
            f"{r.bytes_per_conn / 1024:>10.1f}{r.bytes_per_conn * r.n / 2**20:>8.1f}"
            f"{r.connect_s:>9.1f}{r.cpu_us_per_delivery:>12.1f}"
        )
    by_n: dict[int, dict[str, Result]] = {}
    for r in results:
        by_n.setdefault(r.n, {})[r.server] = r
    print()
    for n, pair in sorted(by_n.items()):
        ours, faye = pair.get("local realm"), pair.get("faye (node)")
        if ours is None or faye is None:
            continue
        print(
            f"N={n}: realm/faye  p50 {ours.p50_ms / faye.p50_ms:.2f}x"
            f"  p99 {ours.p99_ms / faye.p99_ms:.2f}x"
            f"  pub/s {ours.publishes_per_s / faye.publishes_per_s:.2f}x"
            f"  memory/conn {ours.bytes_per_conn / max(faye.bytes_per_conn, 1):.2f}x"
            f"  cpu/msg {ours.cpu_us_per_delivery / faye.cpu_us_per_delivery:.2f}x"
            "  (pub/s: higher is better; the rest: lower)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--subscribers", type=int, nargs="+", default=[1000, 10000], help="values of N"
    )
    parser.add_argument(
        "--publishes", type=int, default=30, help="latency samples per N"
    )
    parser.add_argument(
        "--burst", type=int, default=30, help="publishes in the throughput phase"
    )
    parser.add_argument(
        "--budget", type=float, default=120, help="seconds allowed per phase"
    )
    parser.add_argument("--no-faye", action="store_true", help="skip Faye's server")
    parser.add_argument(
        "--client-procs",
        type=int,
        default=2,
        help="processes sharing the subscribers (default %(default)s)",
    )
    parser.add_argument(
        "--json", action="store_true", help="also print results as JSON"
    )
    parser.add_argument(
        "--profile", metavar="PATH", help="cProfile the realm into PATH"
    )
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    raise_fd_limit(max(args.subscribers) + 1024)

    results: list[Result] = []
    for n in args.subscribers:
        factories = [start_realm] + ([] if args.no_faye else [start_faye])
        for factory in factories:
            server = factory()
            try:
                print(f"{server.name}: N={n} ...", flush=True)
                result = asyncio.run(
                    measure(
                        server,
                        n,
                        args.publishes,
                        args.burst,
                        args.budget,
                        args.client_procs,
                    )
                )
                results.append(result)
            finally:
                server.stop()
    report(results)
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
    print(f"\n{os.cpu_count()} CPUs; client and servers share them (loopback).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
