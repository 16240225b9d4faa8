"""The pieces of the end-to-end harness; ``conftest.py`` turns them into fixtures.

* :class:`RealmProcess`: the local realm as a subprocess
  (``python -m flask_fanout.realm``) on a free port, which it can stop and
  start again on the *same* port.
* :func:`start_app`: the example app served by werkzeug's threaded server on
  another port, so the page and the realm are cross-origin, as a page and a
  Fanout Cloud realm are.
* :class:`WebSocketKillingProxy`: sits between the browser and a realm when a
  test needs to kill WebSockets while plain HTTP keeps working.
* :class:`Browser`: headless Chromium keeping its console log; on a failure
  :func:`save_artifacts` writes a screenshot, the page's counters and the
  console log to ``tests/e2e/artifacts/``.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parents[1] / "e2e" / "artifacts"
READY = re.compile(r"^flask-fanout local realm listening on (http://\S+):(\d+)\s*$")

#: Realtime scenarios: polling so slow that only realtime explains an update.
SLOW_POLL = {"FANOUT_POLL_INTERVAL": 120, "FANOUT_POLL_CONNECTED_INTERVAL": 300}
#: Where polling must carry the page: fast while realtime is down.
FAST_POLL = {"FANOUT_POLL_INTERVAL": 1, "FANOUT_POLL_CONNECTED_INTERVAL": 300}


# --------------------------------------------------------------------- realm


class RealmProcess:
    """A standalone local realm in a subprocess, restartable on its port."""

    def __init__(self, *, websocket: bool = True) -> None:
        self.websocket = websocket
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> RealmProcess:
        assert self.proc is None, "realm already running"
        cmd = [sys.executable, "-u", "-m", "flask_fanout.realm", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port)]
        if not self.websocket:
            cmd.append("--no-websocket")
        deadline = time.monotonic() + timeout
        while True:
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            assert proc.stdout is not None
            ready = threading.Event()
            found: list[int] = []

            def drain(
                stream: Any = proc.stdout,
                ready: threading.Event = ready,
                found: list[int] = found,
            ) -> None:
                for line in stream:
                    self.output.append(line.rstrip())
                    match = READY.match(line)
                    if match and not ready.is_set():
                        found.append(int(match.group(2)))
                        ready.set()
                ready.set()

            reader = threading.Thread(target=drain, daemon=True)
            reader.start()
            if not ready.wait(max(0.1, deadline - time.monotonic())):
                proc.kill()
                proc.wait()
                self._close(proc, reader)
                raise RuntimeError(
                    "realm did not start:\n" + "\n".join(self.output[-20:])
                )
            if found:
                self.proc = proc
                self._reader = reader
                self.port = found[0]
                return self
            # Exited before listening: on a restart the old socket may still
            # be closing. Try again until the deadline.
            proc.wait()
            self._close(proc, reader)
            if time.monotonic() > deadline:
                raise RuntimeError("realm exited:\n" + "\n".join(self.output[-20:]))
            time.sleep(0.2)

    @staticmethod
    def _close(proc: subprocess.Popen[str], reader: threading.Thread | None) -> None:
        if reader is not None:
            reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()

    def stop(self) -> None:
        """Stop the realm (SIGTERM, then SIGKILL) and wait until it is gone."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._close(self.proc, self._reader)
        self.proc = None

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/stats", timeout=5) as response:
            return json.load(response)  # type: ignore[no-any-return]


# ----------------------------------------------------------------- app server


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class AppServer:
    """The example app, served over real HTTP by werkzeug in a thread."""

    def __init__(self, server: BaseWSGIServer, app: Any) -> None:
        self.server = server
        self.app = app
        self.url = f"http://127.0.0.1:{server.server_port}"
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()

    def page_url(self, page_id: int) -> str:
        return f"{self.url}/pages/{page_id}"

    def post_comment(self, page_id: int, text: str, *, as_user: str = "") -> int:
        """POST a comment to this server; see :func:`post_comment`."""
        return post_comment(self.url, page_id, text, as_user=as_user)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        # Stop the app's publisher thread and close its connections.
        with self.app.app_context():
            self.app.extensions["fanout"].close(timeout=2)


def post_comment(base_url: str, page_id: int, text: str, *, as_user: str = "") -> int:
    """POST a comment as JSON, the way another client would; its id.

    ``base_url`` is the app, or a GRIP proxy in front of it. ``as_user``
    signs that client in first, for the private page.
    """
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    if as_user:
        form = urllib.parse.urlencode({"name": as_user}).encode()
        opener.open(f"{base_url}/login", data=form, timeout=10).close()
    request = urllib.request.Request(
        f"{base_url}/pages/{page_id}/comments",
        data=json.dumps({"comment": text, "author": "e2e"}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    with opener.open(request, timeout=10) as response:
        assert response.status == 201
        return int(json.load(response)["id"])


def start_app(
    db_path: Path,
    realm_url: str,
    *,
    bayeux_url: str | None = None,
    customize: Callable[[Any], None] | None = None,
    **config: Any,
) -> AppServer:
    """Serve a fresh example app that publishes to ``realm_url``.

    The browser connects to ``bayeux_url`` (default: the realm's own), which
    lets a test put a proxy in between. ``customize(app)`` runs before the
    server starts, e.g. to add Flask-Talisman.
    """
    from example.app import create_app

    settings: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "FANOUT_PUBLISH_URL": f"{realm_url}/realm/local",
        "FANOUT_BAYEUX_URL": bayeux_url or f"{realm_url}/bayeux",
        "FANOUT_SUPPRESS_SEND": False,
        # The harness runs its own realm; never embed one on the default port.
        "FANOUT_LOCAL_REALM_EMBED": False,
        # ... a standalone one, served to a threaded server: intended.
        "FANOUT_USE_LOCAL_REALM": True,
        **SLOW_POLL,
        **config,
    }
    app = create_app(settings)
    if customize is not None:
        customize(app)
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler
    )
    return AppServer(server, app)


def _chromium_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        message = (
            "The end-to-end suite needs Debian's chromium and chromium-driver "
            "(`make install-system`)."
        )
        if os.environ.get("FLASK_FANOUT_SKIP_E2E") == "1":
            pytest.skip(message)
        pytest.fail(message)
    return browser, driver


class Browser:
    """A Chromium session with the console log kept across reads."""

    def __init__(self) -> None:
        browser, driver = _chromium_paths()
        self.profile = tempfile.mkdtemp(prefix="flask-fanout-e2e-")
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for arg in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-quic",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            # Several windows of one page must all stay "visible": the JS
            # module does not poll in hidden pages.
            "--disable-background-timer-throttling",
            "--disable-backgrounding-occluded-windows",
            "--disable-renderer-backgrounding",
            "--window-size=1100,900",
            f"--user-data-dir={self.profile}",
        ):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver: webdriver.Chrome = webdriver.Chrome(
            options=options, service=Service(driver)
        )
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(30)
        self.console: list[dict[str, Any]] = []

    def read_console(self) -> list[dict[str, Any]]:
        """Everything logged so far (Chromium hands each entry out once)."""
        with contextlib.suppress(Exception):
            self.console.extend(self.driver.get_log("browser"))  # type: ignore[no-untyped-call]
        return self.console

    def reset(self) -> None:
        """Back to one blank window, between tests."""
        handles = self.driver.window_handles
        for handle in handles[1:]:
            self.driver.switch_to.window(handle)
            self.driver.close()
        self.driver.switch_to.window(handles[0])
        self.driver.get("about:blank")
        # Cookies are per host, not per port: a session one test signed in
        # would otherwise follow the next test to every app on 127.0.0.1.
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.read_console()
        self.console = []  # each test sees (and saves) only its own log

    def quit(self) -> None:
        with contextlib.suppress(Exception):
            self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)


def save_artifacts(browser: Browser, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    driver = browser.driver
    for index, handle in enumerate(driver.window_handles):
        with contextlib.suppress(Exception):
            driver.switch_to.window(handle)
            driver.save_screenshot(str(ARTIFACTS / f"{safe}-window{index}.png"))
            stats = driver.execute_script("return window.exampleStats || null")
            (ARTIFACTS / f"{safe}-window{index}-stats.json").write_text(
                json.dumps(stats, indent=2, default=str)
            )
    lines = [
        f"{entry.get('timestamp')} {entry.get('level')} {entry.get('message')}"
        for entry in browser.read_console()
    ]
    (ARTIFACTS / f"{safe}-console.log").write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------- helpers


def browser_for_test(
    session: Browser, request: pytest.FixtureRequest, name: str = ""
) -> Iterator[Browser]:
    """``session`` reset to one blank window; its artifacts if the test fails."""
    session.reset()
    yield session
    report = getattr(request.node, "_e2e_report_call", None)
    if report is not None and report.failed:
        save_artifacts(session, request.node.name + name)


def wait(driver: WebDriver, timeout: float = 10) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, timeout, poll_frequency=0.05)


def js(driver: WebDriver, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def stats(driver: WebDriver) -> dict[str, Any]:
    return js(driver, "return window.exampleStats") or {}


def fanout_state(driver: WebDriver) -> str | None:
    state: str | None = js(driver, "return window.Fanout ? window.Fanout.state : null")
    return state


def fanout_transport(driver: WebDriver) -> str | None:
    script = "return window.Fanout ? window.Fanout.transport : null"
    transport: str | None = js(driver, script)
    return transport


def open_page(driver: WebDriver, url: str, *, state: str | None = "connected") -> None:
    """Load a comments page and wait for its script (and realtime, if asked)."""
    driver.get(url)
    wait(driver).until(lambda d: js(d, "return !!window.exampleStats"))
    if state is not None:
        wait(driver, 15).until(lambda d: fanout_state(d) == state)


def sign_in(driver: WebDriver, base_url: str, name: str = "ann") -> None:
    """Sign in to the example through its own form, as a visitor would."""
    driver.get(base_url + "/")
    driver.find_element(By.ID, "login-name").send_keys(name)
    driver.find_element(By.ID, "login-name").submit()
    wait(driver).until(lambda d: d.find_elements(By.ID, "signed-in-as"))


def comment_ids(driver: WebDriver) -> list[int]:
    return [
        int(x)
        for x in js(
            driver,
            "return Array.from(document.querySelectorAll('#comments .comment'))"
            ".map(e => e.getAttribute('data-id'))",
        )
    ]


def wait_for_comment(driver: WebDriver, comment_id: int, timeout: float = 10) -> float:
    """Wait until the comment is on screen; when it got there (ms, Date.now())."""
    wait(driver, timeout).until(
        lambda d: js(
            d, "return !!document.getElementById('c' + arguments[0])", comment_id
        )
    )
    script = "return window.exampleStats.appendedAt[arguments[0]] || 0"
    return float(js(driver, script, comment_id))


def now_ms() -> float:
    return time.time() * 1000


def wait_until(predicate: Callable[[], Any], timeout: float, message: str) -> Any:
    """Poll a server-side condition (no browser involved) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for_subscribers(
    realm: RealmProcess, channel: str, count: int, timeout: float = 10
) -> None:
    """Wait until the realm has ``count`` subscribers on Bayeux ``channel``.

    Pages report "connected" once the transport is up; the subscription can
    complete a moment later, and a publish before it would be missed.
    """
    wait_until(
        lambda: realm.stats().get("subscribers", {}).get(channel, 0) >= count,
        timeout,
        f"fewer than {count} subscribers on {channel}: {realm.stats()}",
    )


def page_setting(driver: WebDriver, key: str) -> Any:
    """A value from the config element ``fanout.script()`` rendered."""
    script = (
        "return JSON.parse(document.getElementById('flask-fanout-config')"
        ".textContent)[arguments[0]]"
    )
    return js(driver, script, key)


def strict_csp(app: Any, connect_src: list[str]) -> None:
    """Flask-Talisman on ``app`` with the policy docs/templates.md recommends:
    a nonce with ``'strict-dynamic'``, and ``connect-src`` as given."""
    from flask_talisman import Talisman

    Talisman(
        app,
        force_https=False,
        session_cookie_secure=False,
        content_security_policy={
            "default-src": "'none'",
            "script-src": "'strict-dynamic'",
            "style-src": "'self'",
            "img-src": "'self'",
            "connect-src": connect_src,
            "form-action": "'self'",
            "base-uri": "'none'",
            "frame-ancestors": "'none'",
        },
        content_security_policy_nonce_in=["script-src"],
    )


def check_burst(driver: WebDriver, ids: list[int], label: str) -> dict[str, Any]:
    """Every comment of a burst shown once, in order, by at most 3 hint
    refreshes in any second (the throttle); the page's stats, for more checks.
    """
    page = stats(driver)
    assert comment_ids(driver) == ids, "every comment shown, once, in order"
    hint_times = sorted(page["hintTimes"])
    assert hint_times, "the burst arrived by realtime hints"
    busiest = max(
        sum(1 for t in hint_times if start <= t < start + 1000) for start in hint_times
    )
    print(
        f"{label}: {len(ids)} comments, {len(hint_times)} hint refreshes over "
        f"{hint_times[-1] - hint_times[0]:.0f} ms, at most {busiest} in a second"
    )
    assert busiest <= 3, f"{busiest} refreshes within one second: {hint_times}"
    return page


#: In a tab: record every hint's comment id and when it came (unthrottled).
_RECORD_HINTS = """
window.hintsSeen = {};
Fanout.subscribe("comments-1", function (data) {
  if (data) window.hintsSeen[data.comment] = Date.now();
}, {throttle: 0});
"""


def open_tab(driver: WebDriver, url: str) -> str:
    """Open page ``url`` (page 1) in the current tab, recording its hints."""
    open_page(driver, url)
    js(driver, _RECORD_HINTS)
    return driver.current_window_handle


def every_tab_gets(
    driver: WebDriver, app_url: str, handles: list[str], text: str
) -> float:
    """Post a comment on page 1 as another client; its hint reaches every tab
    of ``handles`` (opened with :func:`open_tab`), which shows the comment.
    The slowest tab's milliseconds from the post to its hint."""
    posted = now_ms()
    comment = post_comment(app_url, 1, text)
    slowest = 0.0
    for handle in handles:
        driver.switch_to.window(handle)
        wait_for_comment(driver, comment, timeout=5)
        hinted = wait(driver, 5).until(
            lambda d: js(d, "return window.hintsSeen[arguments[0]]", comment)
        )
        slowest = max(slowest, float(hinted) - posted)
    return slowest


def fetch_comments(driver: WebDriver) -> list[Any]:
    """From the current tab, the app's own fetch of page 1's comments:
    ``[milliseconds, how many]``, or ``[-1, why]``."""
    took: list[Any] = driver.execute_async_script(
        """
        var done = arguments[arguments.length - 1], start = performance.now();
        fetch("/pages/1/comments?since=0", {headers: {Accept: "application/json"}})
          .then(function (r) { return r.json(); })
          .then(function (data) {
            done([performance.now() - start, data.comments.length]);
          })
          .catch(function (e) { done([-1, String(e)]); });
        """
    )
    return took


def report_latency(label: str, milliseconds: float) -> None:
    """Print a measured latency (shown with ``pytest -s``, and on failures)."""
    print(f"latency, {label}: {milliseconds:.0f} ms")


class OnEveryPage:
    """A script Chromium runs in each document of the current window, before
    the page's own scripts, for the length of a ``with`` block (DevTools'
    ``Page.addScriptToEvaluateOnNewDocument``). Tests use it to record events
    from the very start, or to call the module's API before the page does."""

    def __init__(self, driver: WebDriver, script: str) -> None:
        self.driver = driver
        self.script = script
        self._identifier = ""

    def __enter__(self) -> OnEveryPage:
        added = self.driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument", {"source": self.script}
        )
        self._identifier = str(added["identifier"])
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.driver.execute_cdp_cmd(
                "Page.removeScriptToEvaluateOnNewDocument",
                {"identifier": self._identifier},
            )
