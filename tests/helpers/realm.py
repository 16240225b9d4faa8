"""Small clients and helpers for the local realm's tests.

Every realm here is a real server on 127.0.0.1 and a free port, stopped by
the fixture that started it. Waiting is always on a condition with a
deadline (:func:`wait_for`), never a fixed sleep.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from flask_fanout import _local
from flask_fanout.realm import Limits

REPO = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).resolve().parent / "node"
READY_RE = re.compile(
    r"flask-fanout local realm listening on (http://(?:[^\s:\[]+|\[[^\]]+\]):(\d+))\n"
)
KEY = _local.LOCAL_REALM_KEY_BYTES
#: Short timeouts so that held connects and expiry are observable quickly.
FAST = Limits(connect_timeout=2.0, session_timeout=2.0)


def wait_for(
    predicate: Callable[[], Any], timeout: float = 10.0, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or predicate}"
            )
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_token(
    realm: str = _local.LOCAL_REALM_ID,
    key: bytes = KEY,
    *,
    exp_in: float = 60,
    claims: dict[str, Any] | None = None,
) -> str:
    payload: dict[str, Any] = {"iss": realm, "exp": int(time.time() + exp_in)}
    payload.update(claims or {})
    payload = {k: v for k, v in payload.items() if v is not None}
    with warnings.catch_warnings():
        # Tests use short keys on purpose: real realm keys may be short.
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(payload, key, algorithm="HS256")


def publish(
    base_url: str,
    items: list[dict[str, Any]],
    *,
    realm: str = _local.LOCAL_REALM_ID,
    token: str | None = None,
) -> requests.Response:
    """POST ``items`` to the realm publish API like pubcontrol does."""
    return requests.post(
        f"{base_url}/realm/{realm}/publish/",
        json={"items": items},
        headers={"Authorization": f"Bearer {token or make_token(realm)}"},
        timeout=10,
    )


class BayeuxHttp:
    """A minimal synchronous long-polling Bayeux client (raw HTTP)."""

    def __init__(self, bayeux_url: str) -> None:
        self.url = bayeux_url
        self.http = requests.Session()
        self.client_id: str | None = None

    def close(self) -> None:
        self.http.close()

    def send(
        self, *messages: dict[str, Any], timeout: float = 10
    ) -> list[dict[str, Any]]:
        response = self.http.post(self.url, json=list(messages), timeout=timeout)
        assert response.status_code == 200, response.text
        replies: list[dict[str, Any]] = response.json()
        return replies

    def handshake(self) -> dict[str, Any]:
        (reply,) = self.send(
            {
                "channel": "/meta/handshake",
                "version": "1.0",
                "supportedConnectionTypes": ["long-polling"],
                "id": "h",
            }
        )
        assert reply["successful"], reply
        self.client_id = reply["clientId"]
        return reply

    def connect(self, timeout_ms: int | None = None) -> list[dict[str, Any]]:
        message: dict[str, Any] = {
            "channel": "/meta/connect",
            "clientId": self.client_id,
            "connectionType": "long-polling",
        }
        if timeout_ms is not None:
            message["advice"] = {"timeout": timeout_ms}
        return self.send(message)

    def subscribe(self, *channels: str) -> list[dict[str, Any]]:
        replies = self.send(
            *(
                {
                    "channel": "/meta/subscribe",
                    "clientId": self.client_id,
                    "subscription": c,
                }
                for c in channels
            )
        )
        assert all(r["successful"] for r in replies), replies
        return replies

    def events(self, timeout_ms: int | None = None) -> list[dict[str, Any]]:
        """Non-meta messages from one connect."""
        return [
            m for m in self.connect(timeout_ms) if not m["channel"].startswith("/meta/")
        ]


class FayeNode:
    """The real Faye Node client in a subprocess, driven over stdin/stdout."""

    def __init__(self, bayeux_url: str, transport: str) -> None:
        node = shutil.which("node")
        if node is None:
            pytest.skip("node is not installed")
        if not (REPO / "js" / "node_modules" / "faye").is_dir():
            pytest.skip("js/node_modules/faye missing: run `make install`")
        self.proc = subprocess.Popen(
            [node, str(NODE_DIR / "faye_client.mjs"), bayeux_url, transport],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait(lambda e: e["event"] == "ready")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.events.append(json.loads(line))
                self._lock.notify_all()

    def command(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def find(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if predicate(e)]

    def wait(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        count: int = 1,
        timeout: float = 15,
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` events match ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [e for e in self.events if predicate(e)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(
                        f"Faye client: wanted {count} matching events, got {found}; "
                        f"all events: {self.events[-20:]}"
                    )
                self._lock.wait(left)

    def messages(self, subscription: str | None = None) -> list[Any]:
        return [
            e["data"]
            for e in self.find(lambda e: e["event"] == "message")
            if subscription is None or e["subscription"] == subscription
        ]

    def subscribe(self, channel: str) -> None:
        self.command(op="subscribe", channel=channel)
        self.wait(lambda e: e["event"] == "subscribed" and e["channel"] == channel)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.command(op="exit")
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self._reader.join(5)
        self.proc.stdout.close()


class RealmProcess:
    """``python -m flask_fanout.realm`` (or any command printing the ready line)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=str(REPO),
        )
        self._stderr: str | None = None
        lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(
            target=lambda: lines.put(self._stdout().readline()), daemon=True
        )
        self._reader.start()
        try:
            self.first_line = lines.get(timeout=20)
        except queue.Empty:
            self.kill()
            raise AssertionError(
                "realm did not print its ready line within 20 s"
            ) from None
        match = READY_RE.fullmatch(self.first_line)
        if match is None:
            self.kill()
            raise AssertionError(
                f"unexpected first line {self.first_line!r}: {self.stderr()}"
            )
        self.url = match.group(1)
        self.port = int(match.group(2))

    def _stdout(self) -> Any:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = requests.get(self.url + "/stats", timeout=10).json()
        return result

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(15)
        self._close_pipes()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(15)
        self._close_pipes()

    def stderr(self) -> str:
        """What the process wrote to stderr (once it has exited)."""
        if self.proc.poll() is None:
            return ""
        if self._stderr is None:
            assert self.proc.stderr is not None
            self._stderr = (
                self.proc.stderr.read() if not self.proc.stderr.closed else ""
            )
        return self._stderr

    def _close_pipes(self) -> None:
        self.stderr()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


def realm_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask_fanout.realm", *args]


class Gunicorn:
    """``gunicorn -w N`` serving ``app_spec`` on ``port``, for the tests that
    need several real worker processes behind one realm.

    Used as a context manager: entering waits until ``probe_path`` answers;
    leaving stops the workers (killing them if they linger) and checks that
    their log holds no traceback and no ``[ERROR]`` line.
    """

    def __init__(
        self,
        app_spec: str,
        port: int,
        *,
        workers: int,
        env: dict[str, str],
        probe_path: str = "/",
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.probe_path = probe_path
        self.log: list[str] = []
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{port}",
                "--graceful-timeout",
                "5",
                app_spec,
            ],
            env=env,
            cwd=str(REPO),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(
            target=lambda: self.log.extend(self._process.stderr or []), daemon=True
        )
        self._reader.start()

    def __enter__(self) -> Gunicorn:
        try:
            self._wait_ready(timeout=60)
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._stop()
        if exc_type is None:
            errors = [x for x in self.log if re.search(r"Traceback|\[ERROR\]", x)]
            assert not errors, "".join(self.log)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(self.url + self.probe_path, timeout=2)
                return
            except requests.ConnectionError:
                assert self._process.poll() is None, "".join(self.log)
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.05)

    def _stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)
        self._reader.join(5)
        if self._process.stderr is not None:
            self._process.stderr.close()
