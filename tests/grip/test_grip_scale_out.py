"""Scale-out: two app processes behind two proxies; a publish from either
process reaches the subscribers on both."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers.grip_proxies import GripProxy
from tests.helpers.grip_proxies import LocalProxy
from tests.helpers.grip_proxies import Origin
from tests.helpers.grip_proxies import PushpinProxy
from tests.helpers.sse import SSEClient

ROOT = Path(__file__).resolve().parents[2]


class AppProcess:
    """The example app in its own process (a second "server")."""

    def __init__(self, port: int, db: Path, settings: dict[str, object]) -> None:
        env_settings = json.dumps(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db}",
                "FANOUT_SUPPRESS_SEND": False,
                **settings,
            }
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.helpers.apps.serve_example",
                str(port),
                env_settings,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("serving on "), line
        self.url = line.split()[-1]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(params=["pushpin", "local"])
def two_stacks(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[list[AppProcess], list[GripProxy]]]:
    # Each proxy fronts its own app process; each app publishes to both.
    ports = [Origin(), Origin()]  # reserve two origin ports
    origin_ports = [p.port for p in ports]
    for reserved in ports:
        reserved.server.server_close()
    proxies: list[GripProxy] = []
    for reserved in ports:
        proxy: GripProxy = (PushpinProxy if request.param == "pushpin" else LocalProxy)(
            reserved
        )
        proxy.start()
        proxies.append(proxy)
    grip_urls = [_grip_url(p) for p in proxies]
    db = tmp_path / "shared.sqlite"
    apps = []
    try:
        for port in origin_ports:
            apps.append(
                AppProcess(
                    port,
                    db,
                    {"FANOUT_GRIP_URL": grip_urls, "FANOUT_USE_LOCAL_REALM": True},
                )
            )
        yield apps, proxies
    finally:
        for app in apps:
            app.close()
        for started in proxies:
            started.close()


def _grip_url(proxy: object) -> str:
    if isinstance(proxy, PushpinProxy):
        return proxy.pushpin.grip_url
    assert isinstance(proxy, LocalProxy)
    return proxy.grip_url


def test_a_publish_from_either_process_reaches_both_proxies(
    two_stacks: tuple[list[AppProcess], list[object]],
) -> None:
    apps, proxies = two_stacks
    clients = []
    for proxy in proxies:
        proxy.mark()  # type: ignore[attr-defined]
        client = SSEClient(
            f"{proxy.url}/_fanout/events?channel=comments-1"  # type: ignore[attr-defined]
        ).connect()
        client.wait_for_event(1)
        proxy.wait_streams("comments-1", 1)  # type: ignore[attr-defined]
        clients.append(client)
    try:
        for number, app in enumerate(apps, start=1):
            answer = requests.post(
                f"{app.url}/pages/1/comments",
                json={"comment": f"from {number}"},
                timeout=10,
            )
            assert answer.status_code == 201
            for client in clients:
                hint = json.loads(client.wait_for_event(1 + number).data)
                assert hint["channel"] == "comments-1"
    finally:
        for client in clients:
            client.close()
