"""The README's run command: ``flask run --debug`` with the embedded realm.

``make demo`` runs ``FLASK_APP=example.app flask run --debug``. With no realm
configured, the extension starts the local realm inside the development
server on the first request. This runs that command (on free ports instead
of 5000 and 7999, and a temporary database) and checks that two comments
travel in real time, with no other process involved.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.helpers.e2e import ROOT
from tests.helpers.e2e import Browser
from tests.helpers.e2e import fanout_transport
from tests.helpers.e2e import http_get
from tests.helpers.e2e import now_ms
from tests.helpers.e2e import open_page
from tests.helpers.e2e import report_latency
from tests.helpers.e2e import stats
from tests.helpers.e2e import wait_for_comment
from tests.helpers.e2e import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoServer:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.realm_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "flask-run.log"
        env = {
            **os.environ,
            "FLASK_APP": "example.app",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'demo.sqlite'}",
            "FANOUT_LOCAL_REALM_PORT": str(self.realm_port),
            "FANOUT_POLL_INTERVAL": "120",
        }
        env.pop("FANOUT_LOCAL_REALM_EMBED", None)
        cmd = [sys.executable, "-m", "flask", "run", "--debug"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log, "w") as log:
            # A session of its own: the reloader forks a child, and stopping
            # the process group stops both (and only them).
            self.proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 30) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError("flask run exited:\n" + self.log.read_text())
            try:
                return http_get(self.url + "/")[0] == 200
            except OSError:
                return False

        wait_until(up, timeout, "flask run did not answer:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # The reloader's child may outlive its parent by a moment.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("demo"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_readme_command_serves_the_example_with_the_embedded_realm(
    browser: Browser, demo: DemoServer
) -> None:
    driver = browser.driver
    open_page(driver, f"{demo.url}/pages/1", state="connected")
    assert fanout_transport(driver) == "websocket"
    # The embedded realm answers on the configured port, in the same process.
    status, _ = http_get(f"http://127.0.0.1:{demo.realm_port}/stats")
    assert status == 200
    wait_until(
        lambda: (
            b'"/comments-1": 1'
            in http_get(f"http://127.0.0.1:{demo.realm_port}/stats")[1]
        ),
        10,
        "the page never subscribed",
    )

    driver.find_element(By.NAME, "comment").send_keys("hello from the demo")
    driver.find_element(By.CSS_SELECTOR, "#comment-form button").click()
    wait_until(lambda: stats(driver)["appended"] == 1, 10, "own comment not shown")

    # Another client posts: it arrives by realtime.
    request = urllib.request.Request(
        f"{demo.url}/pages/1/comments",
        data=json.dumps({"comment": "from elsewhere"}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    posted = now_ms()
    with urllib.request.urlopen(request, timeout=10) as response:
        comment = int(json.load(response)["id"])
    shown = wait_for_comment(driver, comment, timeout=5)
    report_latency("flask run + embedded realm", shown - posted)
    assert stats(driver)["appendedVia"][str(comment)] == "hint"
    assert shown - posted < 1000
