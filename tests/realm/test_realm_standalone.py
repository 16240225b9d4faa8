"""The standalone realm: ``python -m``, ``flask fanout realm``, and gunicorn."""

from __future__ import annotations

import base64
import concurrent.futures
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers.realm import BayeuxHttp
from tests.helpers.realm import Gunicorn
from tests.helpers.realm import RealmProcess
from tests.helpers.realm import free_port
from tests.helpers.realm import make_token
from tests.helpers.realm import publish

APPS = Path(__file__).resolve().parents[1] / "helpers" / "apps"


def test_python_m_prints_the_ready_line_and_serves(
    realm_process: Callable[..., RealmProcess],
) -> None:
    realm = realm_process("--port", "0")
    assert realm.first_line == f"flask-fanout local realm listening on {realm.url}\n"
    client = BayeuxHttp(realm.url + "/bayeux")
    client.handshake()
    client.subscribe("/a")
    assert (
        publish(realm.url, [{"channel": "a", "json-object": 1}]).json()["delivered"]
        == 1
    )
    assert [e["data"] for e in client.events()] == [1]
    client.close()
    assert realm.terminate() == 0


def test_options(realm_process: Callable[..., RealmProcess]) -> None:
    key = base64.b64encode(b"s" * 32).decode()
    realm = realm_process(
        "--port",
        "0",
        "--realm",
        "r1",
        "--key",
        key,
        "--no-websocket",
        "--allow-client-publish",
    )
    token = make_token("r1", b"s" * 32)
    assert publish(
        realm.url, [{"channel": "a", "json-object": 1}], realm="r1", token=token
    ).ok
    assert publish(realm.url, [{"channel": "a", "json-object": 1}]).status_code == 401
    upgrade = requests.get(
        realm.url + "/bayeux",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
        timeout=10,
    )
    assert upgrade.status_code == 403
    client = BayeuxHttp(realm.url + "/bayeux")
    client.handshake()
    (reply,) = client.send({"channel": "/x", "clientId": client.client_id, "data": 1})
    assert reply["successful"] is True
    client.close()


def test_port_taken_and_bad_key_exit_with_a_message(
    realm_process: Callable[..., RealmProcess],
) -> None:
    realm = realm_process("--port", "0")
    argv = [sys.executable, "-m", "flask_fanout.realm"]
    taken = subprocess.run(
        [*argv, "--port", str(realm.port)], capture_output=True, text=True, timeout=30
    )
    assert taken.returncode == 1
    assert "already in use" in taken.stderr
    bad = subprocess.run(
        [*argv, "--port", "0", "--key", "not base64!"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2
    assert "base64" in bad.stderr


def flask_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(APPS), env.get("PYTHONPATH")])
    )
    return env


def test_flask_fanout_realm_takes_defaults_from_the_app() -> None:
    key = b"c" * 32
    env = flask_env(REALM_ID="clirealm", REALM_KEY=base64.b64encode(key).decode())
    realm = RealmProcess(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "fanout_app",
            "fanout",
            "realm",
            "--port",
            "0",
        ],
        env=env,
    )
    try:
        item = [{"channel": "a", "json-object": 1}]
        token = make_token("clirealm", key)
        assert publish(realm.url, item, realm="clirealm", token=token).ok
        assert publish(realm.url, item).status_code == 401
        assert realm.terminate() == 0
    finally:
        realm.kill()


def test_gunicorn_workers_all_reach_the_subscriber(
    realm_process: Callable[..., RealmProcess],
) -> None:
    """Four gunicorn workers and one standalone realm: every publish arrives."""
    realm = realm_process("--port", "0")
    subscriber = BayeuxHttp(realm.url + "/bayeux")
    subscriber.handshake()
    subscriber.subscribe("/workers")
    port = free_port()
    try:
        gunicorn = Gunicorn(
            "fanout_app:app", port, workers=4, env=flask_env(REALM_URL=realm.url)
        )
        with gunicorn:
            _publish_from_every_worker(gunicorn.url, subscriber)
    finally:
        subscriber.close()


def _publish_from_every_worker(url: str, subscriber: BayeuxHttp) -> None:
    """Publish until all four workers have; every hint reaches the subscriber."""
    deadline = time.monotonic() + 60
    pids: set[int] = set()
    sent = 0

    def post(number: int) -> int:
        response = requests.post(
            f"{url}/publish/{number}", timeout=10, headers={"Connection": "close"}
        )
        assert response.status_code == 200, response.text
        pid: int = response.json()["pid"]
        return pid

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        while len(pids) < 4:
            assert time.monotonic() < deadline, f"only workers {pids} answered"
            pids.update(pool.map(post, range(sent, sent + 16)))
            sent += 16
    received: list[dict[str, Any]] = []
    while len(received) < sent:
        assert time.monotonic() < deadline, f"received {len(received)} of {sent}"
        received.extend(e["data"] for e in subscriber.events())
    assert sorted(m["n"] for m in received) == list(range(sent))
    assert {m["pid"] for m in received} == pids
    assert len(pids) == 4


@pytest.mark.parametrize("args", [["--port", "notanumber"], ["--bogus"]])
def test_bad_arguments(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flask_fanout.realm", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
