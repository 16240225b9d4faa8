"""Real Pushpin instances for the GRIP tests, and a small GRIP origin to put behind one.

:class:`Pushpin` runs Debian's ``pushpin`` (the runner plus condure, zurl,
pushpin-proxy and pushpin-handler) with a private directory, config and
routes file, on five loopback ports of its own, so several can run side by
side and next to another test run. Why each step is the way it is:

* **Config.** Debian's packaged ``pushpin.conf`` does not start zurl and
  points the proxy at a system zurl under ``/var/run/zurl``; without one,
  proxied requests hang while publishing still answers 200. Ours runs zurl
  itself with its sockets under the private run directory. It also leaves out
  the packaged ``message_rate``/``message_hwm`` throttling, which caps delivery
  at 2,500 messages a second.
* **Readiness.** condure accepts connections and ``/publish/`` answers about
  50 ms after spawn, before the proxy and handler are wired together; a
  request sent then is dropped or gets ``500 Accept service unavailable``.
  :meth:`Pushpin.start` therefore waits until a publish, a request proxied
  through zurl (to a port of our own that refuses it, so the origin need not
  be serving yet) *and* a stream held by Pushpin's built-in test handler all
  work,
  and until condure's keep-alive timer is past the connection slots a test
  will use first: a keep-alive that lands on a stream mid-handoff cuts it
  (:meth:`Pushpin._sweeps_done` has the details).
* **Subscriptions.** Pushpin keeps no history: a publish to a channel nobody
  is subscribed to yet is lost. Tests wait for the subscription, either on the
  client's first SSE chunk or, for clients they can't watch (browsers), on the
  ``subscribe … channel=x`` lines of ``pushpin-handler.log``
  (:meth:`Pushpin.wait_for_subscribers`), never on a sleep.
* **Stopping.** SIGTERM to the runner stops every child and frees the ports.
  SIGKILL to the runner leaves its four children running with their ports
  bound, so :meth:`Pushpin.stop` also kills, by PID, any child still alive.
  Instances still running when the interpreter exits are stopped then too,
  since they run in sessions of their own and would otherwise outlive it.
* **Keys.** By default an instance signs ``Grip-Sig`` with
  :data:`tests.helpers.grip.SIG_KEY` and ``SIG_ISS``, and its
  :attr:`Pushpin.grip_url` tells an app to verify exactly those, so
  ``grip_app(pushpin.grip_url)`` accepts what this Pushpin forwards.

:class:`GripOrigin` is the origin side: a threaded ``http.server`` that checks
every request's ``Grip-Sig`` with PyJWT and answers each path as the test
scripted it (:func:`stream_hold`, :func:`response_hold` build the usual GRIP
answers).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from typing import TypeVar

import jwt
import psutil
import pytest

from tests.helpers.grip import SIG_ISS
from tests.helpers.grip import SIG_KEY
from tests.helpers.grip import proxy_uri
from tests.helpers.ports import free_ports
from tests.helpers.ports import wait_ports_free

_T = TypeVar("_T")

#: Host of the routes-file entry served by Pushpin's built-in test handler.
PROBE_HOST = "probe.invalid"
#: Host of the routes-file entry that sends requests, through zurl, to a
#: loopback port that refuses connections: a prompt 502 once zurl is wired.
ZURL_PROBE_HOST = "zurl-probe.invalid"
#: The services a test instance runs; zurl included (see the module docstring).
SERVICES = ("condure", "zurl", "pushpin-proxy", "pushpin-handler")
#: Seconds after condure's start by which its keep-alive timer has swept the
#: first 336 connection slots of each worker (see :meth:`Pushpin._sweeps_done`).
_SWEEPS_CLEAR = 0.35
#: The environment variable that turns a missing Pushpin into a skip.
SKIP_ENV = "FLASK_FANOUT_SKIP_PUSHPIN"

# Pushpin puts any string in a channel (spaces, the empty one), unquoted.
_SUBSCRIBE = re.compile(r"^\[INFO\] (\S+ \S+) subscribe (\S+) channel=(.*?)( retry)?$")
_PUBLISH = re.compile(r"^\[INFO\] (\S+ \S+) publish channel=(.*) receivers=(\d+)$")


#: Instances with processes that may be alive, for the exit hook below.
_LIVE: set[Pushpin] = set()


@atexit.register
def _stop_leftovers() -> None:
    """Stop whatever a crashed test run left running (fixtures normally do)."""
    for instance in list(_LIVE):
        with contextlib.suppress(Exception):
            instance.stop(timeout=2)


def _process_age(pid: int) -> float:
    """Seconds since process ``pid`` started, to the kernel's clock tick.

    Both ends are on the boot clock: ``/proc/<pid>/stat`` gives the start in
    ticks since boot, ``CLOCK_BOOTTIME`` gives now. psutil's
    ``create_time()`` adds that start to ``/proc/stat``'s ``btime``, which is
    whole seconds, so it can be up to a second early, and a wait measured
    from it can end before it began (seen in CI as a stream cut at start).
    """
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name, which is in parentheses and may hold
    # spaces; ``starttime`` is field 22 of the whole line.
    fields = stat[stat.rindex(")") + 2 :].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return time.clock_gettime(time.CLOCK_BOOTTIME) - started


class PushpinError(RuntimeError):
    """Pushpin did not start, or did not stop cleanly; the message has its logs."""


def require_pushpin() -> str:
    """The ``pushpin`` binary, or skip/fail the calling test.

    CI installs Pushpin (``make install-system``), so a missing one is a
    failure, not a silent skip; ``FLASK_FANOUT_SKIP_PUSHPIN=1`` opts out.
    """
    binary = shutil.which("pushpin")
    if binary is None:
        message = (
            "The GRIP tests need Debian's pushpin (`make install-system`); "
            f"set {SKIP_ENV}=1 to skip them."
        )
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(message)
        pytest.fail(message)
    return binary


@dataclass(frozen=True)
class PushpinPorts:
    """The five TCP ports of one instance, all on 127.0.0.1."""

    http: int  #: condure: what clients (browsers, SSE clients) connect to
    publish: int  #: the handler's HTTP control API (``POST /publish/``)
    pull: int  #: ZeroMQ PULL, one-part publishes
    sub: int  #: ZeroMQ SUB (bound), channel + item publishes
    command: int  #: ZeroMQ REP, commands

    def all(self) -> tuple[int, ...]:
        return (self.http, self.publish, self.pull, self.sub, self.command)


@dataclass(frozen=True)
class Subscription:
    """One ``subscribe`` line of the handler log: a connection joined a channel."""

    time: str
    uri: str
    channel: str
    #: The handler marks subscriptions of requests the proxy retried.
    retry: bool


@dataclass(frozen=True)
class Delivery:
    """One ``publish`` line of the handler log: how many connections got an item."""

    time: str
    channel: str
    receivers: int


@dataclass
class _Child:
    pid: int
    created: float


class Pushpin:
    """One real Pushpin with a private directory, config and five ports.

    ``origin_port`` is where the catch-all route sends requests (several
    ports make several targets of that route). ``route_options`` are appended
    to each target (``over_http`` for WebSocket-over-HTTP, ...); ``config`` adds
    or overrides keys by section, e.g. ``{"handler": {"message_rate": "2500"}}``.
    Nothing listens until :meth:`start`; :meth:`stop` is idempotent.
    """

    def __init__(
        self,
        origin_port: int | Sequence[int],
        *,
        sig_key: bytes | str = SIG_KEY,
        sig_iss: str = SIG_ISS,
        route_options: Sequence[str] = (),
        config: Mapping[str, Mapping[str, str]] | None = None,
        directory: Path | None = None,
        ready_timeout: float = 10.0,
    ) -> None:
        self.binary = require_pushpin()
        self.sig_key = sig_key.encode() if isinstance(sig_key, str) else sig_key
        if len(self.sig_key) < 32:
            # PyJWT warns (an error under our test settings) for shorter keys.
            raise ValueError(
                f"sig_key must have at least 32 bytes, not {len(self.sig_key)}"
            )
        ports = [origin_port] if isinstance(origin_port, int) else list(origin_port)
        if not ports:
            raise ValueError("Pushpin needs at least one origin port")
        self.origin_ports = ports
        self.sig_iss = sig_iss
        self.route_options = list(route_options)
        self.extra_config = {k: dict(v) for k, v in (config or {}).items()}
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="flask-fanout-pushpin-"))
        self.ready_timeout = ready_timeout
        # Bound and never listening: connecting to it is refused at once. The
        # readiness probe proxies to it rather than to the origin, so Pushpin
        # can start before the origin serves, and the origin never sees it.
        self._refuser = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._refuser.bind(("127.0.0.1", 0))
        self._ports_assigned: PushpinPorts | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._children: list[_Child] = []
        #: How long the last :meth:`start` took until ready, in seconds.
        self.startup_seconds: float | None = None

    # ------------------------------------------------------------ addresses

    @property
    def ports(self) -> PushpinPorts:
        """The five ports, picked by the first :meth:`start` and kept after."""
        if self._ports_assigned is None:
            raise PushpinError("Pushpin has no ports before its first start()")
        return self._ports_assigned

    @property
    def url(self) -> str:
        """What clients connect to: ``http://127.0.0.1:<http port>``."""
        return f"http://127.0.0.1:{self.ports.http}"

    @property
    def control_url(self) -> str:
        """The publish API's base address, bare: ``http://127.0.0.1:<publish port>``."""
        return f"http://127.0.0.1:{self.ports.publish}"

    @property
    def grip_url(self) -> str:
        """This instance as a ``FANOUT_GRIP_URL`` (gripcontrol's URI convention).

        It carries ``verify-key=base64:…`` and ``verify-iss``, so an app given
        it checks this instance's ``Grip-Sig``; with the default key and
        issuer that is :data:`tests.helpers.grip.SIG_KEY` and ``SIG_ISS``.
        No publish credentials: Pushpin ignores them (see
        :meth:`grip_url_with`).
        """
        return self.grip_url_with()

    @property
    def publish_url(self) -> str:
        """Where items are POSTed: :attr:`control_url` plus ``/publish/``."""
        return f"{self.control_url}/publish/"

    @property
    def sig_key_base64(self) -> str:
        return base64.b64encode(self.sig_key).decode()

    def grip_url_with(
        self, *, verify: bool = True, key: str | None = None, iss: str | None = None
    ) -> str:
        """:attr:`control_url` as a gripcontrol URI with the parameters asked for.

        ``verify`` adds ``verify-key`` and ``verify-iss`` (what :attr:`grip_url`
        has); ``key``/``iss`` add publish credentials, which make a client sign
        its publishes, to show Pushpin does not mind them.
        """
        uri = (
            proxy_uri(self.control_url, key=self.sig_key, iss=self.sig_iss)
            if verify
            else f"{self.control_url}/"
        )
        extra = [(name, value) for name, value in (("iss", iss), ("key", key)) if value]
        if not extra:
            return uri
        query = urllib.parse.urlencode(extra, safe=":", quote_via=urllib.parse.quote)
        return f"{uri}{'&' if '?' in uri else '?'}{query}"

    # ------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """Whether the runner process is alive (its children may outlive it)."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def child_pids(self) -> list[int]:
        """The PIDs of the runner's children (condure, zurl, proxy, handler)
        still running, as their ``run/*.pid`` files named them."""
        return [child.pid for child in self._alive_children()]

    def start(self) -> Pushpin:
        """Start and wait until truly ready; :class:`PushpinError` otherwise.

        The first start picks five free ports; if Pushpin fails because one was
        taken meanwhile (another test process picked it too), it tries again
        with new ones. Later starts (:meth:`restart`) keep the ports.
        """
        if self.running:
            raise PushpinError("Pushpin is already running")
        first = self._ports_assigned is None
        attempts = 3 if first else 1
        for attempt in range(attempts):
            if first:
                self._ports_assigned = PushpinPorts(*free_ports(5))
            try:
                self._spawn_and_wait()
                return self
            except PushpinError:
                self._terminate(check_ports=False)
                if attempt + 1 == attempts or not self._port_conflict():
                    raise
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the runner, wait, SIGKILL what is left; check the ports are free."""
        self._terminate(timeout=timeout, check_ports=True)

    def kill(self, *, children: bool = True) -> None:
        """Die abruptly (SIGKILL), as in a crash, for fault tests.

        With ``children`` (the default) every process goes at once: clients
        see their connections reset, like a machine going away. Without it only
        the runner dies and its children keep serving, which is what a SIGKILL
        to the runner does; :meth:`stop` then cleans them up.
        """
        if self.proc is None:
            return
        self._read_children()
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait(5)
        if children:
            for child in self._alive_children():
                with contextlib.suppress(psutil.Error):
                    psutil.Process(child.pid).kill()
            self._wait_children_gone(5)
            self._children = []
            self._remove_pid_files()
            self._check_ports_free()

    def restart(self) -> Pushpin:
        """Stop (if running) and start again on the *same* ports."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop, and remove the directory if this instance made it."""
        self.stop()
        self._refuser.close()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Pushpin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- files

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.dir / "log"

    def log(self, name: str = "pushpin-handler") -> str:
        """A log file's text (``condure``, ``zurl``, ``pushpin-proxy``,
        ``pushpin-handler``, or ``runner`` for the runner's own output).

        Pushpin appends on restart, so this covers every run of the instance.
        """
        path = (
            self.dir / "runner.log"
            if name == "runner"
            else self.log_dir / f"{name}.log"
        )
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of every log, for error messages."""
        parts = []
        for name in ("runner", *SERVICES):
            text = self.log(name).splitlines()[-lines:]
            if text:
                parts.append(f"--- {name}\n" + "\n".join(text))
        return "\n".join(parts) or "(no log output)"

    def handler_mark(self) -> int:
        """A position in the handler log; as ``since``, it hides earlier lines."""
        try:
            return (self.log_dir / "pushpin-handler.log").stat().st_size
        except FileNotFoundError:
            return 0

    def _handler_lines(self, since: int) -> list[str]:
        try:
            with open(self.log_dir / "pushpin-handler.log", "rb") as file:
                file.seek(since)
                data = file.read()
        except FileNotFoundError:
            return []
        # Only whole lines: the handler may be half-way through writing one.
        complete = data[: data.rfind(b"\n") + 1]
        return complete.decode(errors="replace").splitlines()

    def subscriptions(
        self,
        channel: str | None = None,
        since: int = 0,
        *,
        retry: bool | None = None,
    ) -> list[Subscription]:
        """Subscriptions the handler logged: one per held request and channel.

        ``retry`` keeps only the requests Pushpin re-sent to the origin
        (True) or only first requests (False); see :meth:`wait_for_subscribers`.
        """
        found = []
        for line in self._handler_lines(since):
            match = _SUBSCRIBE.match(line)
            if not match or channel not in (None, match.group(3)):
                continue
            sub = Subscription(
                match.group(1), match.group(2), match.group(3), bool(match.group(4))
            )
            if retry in (None, sub.retry):
                found.append(sub)
        return found

    def deliveries(self, channel: str | None = None, since: int = 0) -> list[Delivery]:
        """Publishes the handler logged, with how many connections each reached."""
        found = []
        for line in self._handler_lines(since):
            match = _PUBLISH.match(line)
            if match and channel in (None, match.group(2)):
                found.append(
                    Delivery(match.group(1), match.group(2), int(match.group(3)))
                )
        return found

    def wait_for_subscribers(
        self,
        channel: str,
        count: int = 1,
        *,
        since: int = 0,
        retry: bool | None = None,
        timeout: float = 10.0,
    ) -> list[Subscription]:
        """Wait until ``count`` held requests subscribed to ``channel`` after ``since``.

        The handler logs a subscription once the request is held on the
        channel, so a publish after this returns reaches it. (It does not log
        unsubscribes: take a :meth:`handler_mark` before the clients connect.)

        One caveat for long-polls: about a second after a channel gets its
        first subscriber, Pushpin re-sends the held long-polls on it to the
        origin (``SUBSCRIBED_DELAY`` in its ``src/handler/engine.cpp``), and
        an ``http-response`` published while one is away is dropped for it.
        ``retry=True`` waits for those re-held requests (logged ``… retry``),
        after which nothing more happens to them until they are answered.
        """

        def enough() -> list[Subscription] | None:
            found = self.subscriptions(channel, since, retry=retry)
            return found if len(found) >= count else None

        found = _wait(enough, timeout)
        if found is None:
            have = len(self.subscriptions(channel, since, retry=retry))
            raise AssertionError(
                f"{have} of {count} subscriptions to {channel!r} "
                f"(retry={retry}) after {timeout}s:\n" + self.log_tail()
            )
        return found

    def wait_for_delivery(
        self,
        channel: str,
        receivers: int = 0,
        *,
        since: int = 0,
        timeout: float = 10.0,
    ) -> Delivery:
        """Wait for the handler to log a publish to ``channel`` that reached at
        least ``receivers`` connections (after ``since``); that log line."""

        def found() -> Delivery | None:
            return next(
                (
                    d
                    for d in self.deliveries(channel, since)
                    if d.receivers >= receivers
                ),
                None,
            )

        delivery = _wait(found, timeout)
        if delivery is None:
            seen = [d.receivers for d in self.deliveries(channel, since)]
            raise AssertionError(
                f"no publish to {channel!r} reaching {receivers} receivers logged "
                f"(saw {seen}):\n" + self.log_tail()
            )
        return delivery

    # ------------------------------------------------------------ publishing

    def post_publish(
        self,
        body: bytes | str | Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, str]:
        """POST a body to ``/publish/`` as is; the status and the answer's text."""
        data = (
            json.dumps(body).encode()
            if isinstance(body, Mapping)
            else body.encode()
            if isinstance(body, str)
            else body
        )
        send = {"Content-Type": "application/json", **(headers or {})}
        answer = http_request(
            self.publish_url, method="POST", headers=send, body=data, timeout=timeout
        )
        return answer.status, answer.body.decode(errors="replace")

    def publish(self, *items: Mapping[str, Any]) -> None:
        """Publish ``items`` (each ``{"channel", "formats": …}``); assert 200."""
        status, text = self.post_publish({"items": list(items)})
        assert status == 200, f"publish answered {status}: {text}"

    def publish_stream(self, channel: str, content: str, **item: Any) -> None:
        """Publish one ``http-stream`` chunk (an SSE event, usually) to ``channel``."""
        self.publish(
            {
                "channel": channel,
                **item,
                "formats": {"http-stream": {"content": content}},
            }
        )

    def publish_response(
        self,
        channel: str,
        body: str,
        *,
        code: int = 200,
        headers: Mapping[str, str] | None = None,
        **item: Any,
    ) -> None:
        """Publish one ``http-response`` (what held long-polls get) to ``channel``."""
        response: dict[str, Any] = {"code": code, "body": body}
        if headers is not None:
            response["headers"] = dict(headers)
        self.publish(
            {"channel": channel, **item, "formats": {"http-response": response}}
        )

    # ------------------------------------------------------------- internals

    def _write_config(self) -> Path:
        ports = self.ports
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        options = "".join(f",{opt}" for opt in self.route_options)
        targets = " ".join(f"127.0.0.1:{port}{options}" for port in self.origin_ports)
        refused = self._refuser.getsockname()[1]
        (self.dir / "routes").write_text(
            f"{PROBE_HOST} test\n{ZURL_PROBE_HOST} 127.0.0.1:{refused}\n* {targets}\n"
        )
        sections: dict[str, dict[str, str]] = {
            "global": {
                "include": "{libdir}/internal.conf",
                "rundir": str(self.run_dir),
            },
            "runner": {
                "services": ",".join(SERVICES),
                "http_port": f"127.0.0.1:{ports.http}",
                "logdir": str(self.log_dir),
            },
            "proxy": {
                "routesfile": "routes",
                "sig_iss": self.sig_iss,
                "sig_key": f"base64:{self.sig_key_base64}",
                # Our own zurl, not Debian's system one (see module docstring).
                "zurl_out_specs": "ipc://{rundir}/{ipc_prefix}zurl-in",
                "zurl_out_stream_specs": "ipc://{rundir}/{ipc_prefix}zurl-in-stream",
                "zurl_in_specs": "ipc://{rundir}/{ipc_prefix}zurl-out",
            },
            "handler": {
                "push_in_http_addr": "127.0.0.1",
                "push_in_http_port": str(ports.publish),
                "push_in_spec": f"tcp://127.0.0.1:{ports.pull}",
                "push_in_sub_specs": f"tcp://127.0.0.1:{ports.sub}",
                "command_spec": f"tcp://127.0.0.1:{ports.command}",
                "stats_spec": "ipc://{rundir}/{ipc_prefix}stats",
            },
        }
        for section, values in self.extra_config.items():
            sections.setdefault(section, {}).update(values)
        text = "".join(
            f"[{name}]\n" + "".join(f"{k}={v}\n" for k, v in values.items())
            for name, values in sections.items()
        )
        path = self.dir / "pushpin.conf"
        path.write_text(text)
        return path

    def _spawn_and_wait(self) -> None:
        config = self._write_config()
        self._remove_pid_files()
        started = time.monotonic()
        with open(self.dir / "runner.log", "ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "--config", str(config)],
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE.add(self)
        deadline = started + self.ready_timeout
        checks: list[tuple[str, Callable[[], bool]]] = [
            ("publish API", self._publish_ready),
            ("proxy to the origin", self._proxy_ready),
            ("held stream", self._stream_ready),
            ("condure's first keep-alive sweeps", self._sweeps_done),
        ]
        pending = "spawn"
        while checks:
            if self.proc.poll() is not None:
                raise PushpinError(
                    f"pushpin exited with {self.proc.returncode} while waiting for "
                    f"its {pending}:\n{self.log_tail()}"
                )
            pending, check = checks[0]
            if check():
                checks.pop(0)
                continue
            if time.monotonic() > deadline:
                raise PushpinError(
                    f"pushpin not ready after {self.ready_timeout}s (waiting for its "
                    f"{pending}):\n{self.log_tail()}"
                )
            time.sleep(0.05)
        self.startup_seconds = time.monotonic() - started
        self._read_children()

    def _sweeps_done(self) -> bool:
        """Whether condure's keep-alive timer has passed the low connection slots.

        Every 100 ms condure sends a keep-alive for the next slice of its
        connection table (``stream_maxconn / 450`` slots, 112 with the
        runner's default ``client_maxconn``), so one sweep takes 45 s. A
        keep-alive for a request that is being handed from the proxy to the
        handler goes to the proxy, and the handler then cancels the stream
        ("received message out of sequence"): the client gets a ``200`` head
        and a cut body. A fresh instance's connections sit in the first
        slots, which the first ticks reach about 100-300 ms after condure
        starts; once they are past, those slots are not visited again for
        45 s. (Seen as 3 of 60 fresh instances cutting some of 50 streams
        opened at once right after start; 0 of 120 once this waited. See
        ``src/connmgr/server.rs`` of fastly/pushpin, ``KEEP_ALIVE_*``.) The
        age is :func:`_process_age`'s, on the boot clock.
        """
        try:
            pid = int((self.run_dir / "condure.pid").read_text().strip())
            age = _process_age(pid)
        except (OSError, ValueError, IndexError):
            return False
        return age >= _SWEEPS_CLEAR

    def _publish_ready(self) -> bool:
        try:
            status, _ = self.post_publish({"items": []}, timeout=0.5)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200

    def _proxy_ready(self) -> bool:
        try:
            answer = http_request(
                f"{self.url}/", headers={"Host": ZURL_PROBE_HOST}, timeout=0.5
            )
        except (OSError, http.client.HTTPException):
            return False
        # A 502 (the refused upstream) means condure, the proxy and zurl all
        # took part; 500 is "Accept service unavailable" (not wired yet).
        return answer.status == 502

    def _stream_ready(self) -> bool:
        request = (
            f"GET /stream?channel=__probe HTTP/1.1\r\nHost: {PROBE_HOST}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        received = b""
        try:
            with socket.create_connection(("127.0.0.1", self.ports.http), 0.5) as sock:
                sock.sendall(request)
                while b"[stream opened]" not in received:
                    chunk = sock.recv(4096)
                    if not chunk:
                        return False
                    received += chunk
        except OSError:
            return False
        return True

    def _read_children(self) -> None:
        """Remember the children by PID and start time (PIDs get reused)."""
        known = {child.pid for child in self._children}
        for path in sorted(self.run_dir.glob("*.pid")):
            with contextlib.suppress(ValueError, OSError, psutil.Error):
                pid = int(path.read_text().strip())
                if pid not in known:
                    self._children.append(
                        _Child(pid, psutil.Process(pid).create_time())
                    )

    def _alive_children(self) -> list[_Child]:
        alive = []
        for child in self._children:
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(child.pid)
                if (
                    process.create_time() == child.created
                    and process.status() != psutil.STATUS_ZOMBIE
                ):
                    alive.append(child)
        return alive

    def _wait_children_gone(self, timeout: float) -> list[_Child]:
        """The children still alive after waiting up to ``timeout`` for them to exit."""
        _wait(lambda: not self._alive_children(), timeout)
        return self._alive_children()

    def _remove_pid_files(self) -> None:
        for path in self.run_dir.glob("*.pid"):
            path.unlink(missing_ok=True)

    def _terminate(self, *, timeout: float = 5.0, check_ports: bool) -> None:
        if self.proc is None and not self._children:
            return
        self._read_children()
        grace = 0.0  # a runner that died on its own has stopped no children
        if self.proc is not None:
            if self.proc.poll() is None:
                grace = 0.5
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None
        # The runner stops its children on SIGTERM; after a crash or a SIGKILL
        # (see kill()) they are still running, so kill them by PID.
        if self._wait_children_gone(grace):
            for child in self._alive_children():
                with contextlib.suppress(psutil.Error):
                    psutil.Process(child.pid).kill()
            left = self._wait_children_gone(5.0)
            if left:
                raise PushpinError(
                    f"pushpin children still alive: {[c.pid for c in left]}"
                )
        self._children = []
        self._remove_pid_files()
        _LIVE.discard(self)
        if check_ports:
            self._check_ports_free()

    def _check_ports_free(self) -> None:
        if self._ports_assigned is None:
            return
        busy = wait_ports_free(self.ports.all(), timeout=5.0)
        if busy:
            raise PushpinError(f"ports still in use after stopping pushpin: {busy}")

    def _port_conflict(self) -> bool:
        """Whether, with this instance stopped, one of its ports is still taken."""
        return self._ports_assigned is not None and bool(
            wait_ports_free(self.ports.all(), 0.5)
        )


@dataclass(frozen=True)
class RawResponse:
    """A whole plain-HTTP answer: status, headers in order, body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first header of that name, case-insensitively."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def http_request(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> RawResponse:
    """One request on a fresh connection, read to the end (e.g. a long-poll).

    Unlike urllib it neither raises on 4xx/5xx nor follows redirects: tests
    look at exactly what Pushpin sent.
    """
    parts = urllib.parse.urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return RawResponse(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


def _wait(predicate: Callable[[], _T], timeout: float, step: float = 0.02) -> _T:
    """Poll ``predicate`` until it is truthy or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


# ------------------------------------------------------------------ origin


@dataclass
class OriginAnswer:
    """What :class:`GripOrigin` sends back for a request."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | str = b""


@dataclass
class OriginRequest:
    """A request that reached the origin, with the verdict on its ``Grip-Sig``."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    #: The verified claims, or None when the signature is missing or bad.
    claims: dict[str, Any] | None
    sig_error: str | None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


Responder = OriginAnswer | Callable[[OriginRequest], OriginAnswer]


def stream_hold(
    channels: Sequence[str] | str,
    *,
    first: str = "event: ready\ndata: {}\n\n",
    keep_alive: int | None = 20,
    keep_alive_content: str = ":\n\n",
    headers: Sequence[tuple[str, str]] = (),
) -> OriginAnswer:
    """The origin's answer that makes Pushpin hold an SSE stream on ``channels``.

    ``keep_alive`` is the idle time in seconds after which Pushpin sends
    ``keep_alive_content`` (None: no ``Grip-Keep-Alive``). The content goes
    into the header in Pushpin's ``cstring`` format, so its line breaks are
    written as a literal backslash-n (see :func:`cstring`). An empty
    ``channels`` sends no ``Grip-Channel`` at all.
    """
    names = [channels] if isinstance(channels, str) else list(channels)
    grip: list[tuple[str, str]] = [
        ("Content-Type", "text/event-stream"),
        ("Cache-Control", "no-store"),
        ("Grip-Hold", "stream"),
    ]
    if names:
        grip.append(("Grip-Channel", ", ".join(names)))
    if keep_alive is not None:
        grip.append(
            (
                "Grip-Keep-Alive",
                f"{cstring(keep_alive_content)}; format=cstring; timeout={keep_alive}",
            )
        )
    return OriginAnswer(200, [*grip, *headers], first)


def cstring(text: str) -> str:
    """``text`` escaped as a ``Grip-Keep-Alive`` value in ``format=cstring``.

    Pushpin unescapes ``\\\\``, ``\\n``, ``\\r`` and ``\\xHH``; a header
    value can carry no raw line break. ``;`` would end the value early (it
    starts the parameters), so it is refused rather than escaped.
    """
    if ";" in text:
        raise ValueError(f"a keep-alive value can't contain ';': {text!r}")
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def response_hold(
    channels: Sequence[str] | str,
    *,
    timeout: int | None = None,
    body: str = '{"hints":[]}',
    headers: Sequence[tuple[str, str]] = (),
) -> OriginAnswer:
    """The origin's answer that makes Pushpin hold a long-poll on ``channels``.

    ``body`` (with ``headers``) is what the client gets if nothing is
    published within ``timeout`` seconds (Pushpin's default: 55).
    """
    names = [channels] if isinstance(channels, str) else list(channels)
    grip = [
        ("Content-Type", "application/json"),
        ("Grip-Hold", "response"),
        ("Grip-Channel", ", ".join(names)),
    ]
    if timeout is not None:
        grip.append(("Grip-Timeout", str(timeout)))
    return OriginAnswer(200, [*grip, *headers], body)


class _OriginServer(ThreadingHTTPServer):
    # zurl opens a connection to the origin per request in flight; with the
    # socketserver default backlog of 5, a burst of them overflows it and the
    # kernel drops SYNs, which the client retries only after a second.
    request_queue_size = 1024
    daemon_threads = True


class GripOrigin:
    """A GRIP origin on a free loopback port that checks every ``Grip-Sig``.

    Each path answers as scripted with :meth:`route` (a fixed
    :class:`OriginAnswer` or a function of the request); other paths get 404.
    With ``require_sig`` a request whose signature is missing or wrong gets a
    403 and is never held, as the real stream endpoint does. Every request is
    recorded; tests wait on them with :meth:`wait_for_requests`.
    """

    def __init__(
        self,
        *,
        sig_key: bytes = SIG_KEY,
        sig_iss: str | None = SIG_ISS,
        require_sig: bool = True,
    ) -> None:
        self.sig_key = sig_key
        self.sig_iss = sig_iss
        self.require_sig = require_sig
        self.routes: dict[str, Responder] = {}
        self.requests: list[OriginRequest] = []
        self.cond = threading.Condition()
        self._server = _OriginServer(("127.0.0.1", 0), _origin_handler(self))
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GripOrigin:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> GripOrigin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def route(self, path: str, answer: Responder) -> None:
        """Answer requests for ``path`` (without the query) with ``answer``."""
        self.routes[path] = answer

    def verify(self, token: str | None) -> tuple[dict[str, Any] | None, str | None]:
        """Check a ``Grip-Sig`` as an app must: HS256, ``exp`` required, ``iss``."""
        if not token:
            return None, "missing"
        try:
            claims = jwt.decode(
                token,
                self.sig_key,
                algorithms=["HS256"],
                issuer=self.sig_iss,
                options={"require": ["exp"]},
            )
        except jwt.InvalidTokenError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return claims, None

    def requests_for(self, path: str) -> list[OriginRequest]:
        with self.cond:
            return [r for r in self.requests if r.path == path]

    def wait_for_requests(
        self, count: int = 1, *, path: str | None = None, timeout: float = 10.0
    ) -> list[OriginRequest]:
        def matching() -> list[OriginRequest]:
            return [r for r in self.requests if path in (None, r.path)]

        with self.cond:
            ok = self.cond.wait_for(lambda: len(matching()) >= count, timeout)
            found = matching()
        assert ok, f"{len(found)} of {count} requests for {path or 'any path'}"
        return found


def _origin_handler(origin: GripOrigin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            parts = urllib.parse.urlsplit(self.path)
            claims, error = origin.verify(self.headers.get("Grip-Sig"))
            request = OriginRequest(
                method=self.command,
                path=parts.path,
                query=urllib.parse.parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                claims=claims,
                sig_error=error,
            )
            with origin.cond:
                origin.requests.append(request)
                origin.cond.notify_all()
            responder = origin.routes.get(parts.path)
            if origin.require_sig and error is not None:
                answer = OriginAnswer(
                    403, [("Content-Type", "text/plain")], f"Grip-Sig {error}\n"
                )
            elif responder is None:
                answer = OriginAnswer(
                    404, [("Content-Type", "text/plain")], "not found\n"
                )
            elif isinstance(responder, OriginAnswer):
                answer = responder
            else:
                answer = responder(request)
            body = answer.body.encode() if isinstance(answer.body, str) else answer.body
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def running_pushpin(origin_port: int, **options: Any) -> Iterator[Pushpin]:
    """A started :class:`Pushpin` for ``with`` blocks outside pytest fixtures."""
    instance = Pushpin(origin_port, **options)
    try:
        yield instance.start()
    finally:
        instance.close()
