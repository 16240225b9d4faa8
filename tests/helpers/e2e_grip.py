"""What the GRIP end-to-end tests share, on top of :mod:`tests.helpers.e2e`.

* :func:`page_url`: a page of the example, from where a browser loads it
  for a :class:`~tests.helpers.grip_proxies.GripStack`
  (:func:`~tests.helpers.grip_proxies.page_origin`: through Pushpin, which
  fronts the whole site; from the app itself with the local realm, which
  stands in for the GRIP proxy on the stream path only).
* :data:`STREAM_RECORDER` (used with :class:`~tests.helpers.e2e.OnEveryPage`),
  :func:`streams_opened` and :func:`stream_events`: every ``EventSource``
  a page makes and every event it receives, seen from inside the page, so a
  test can say what reached the browser, not only what the page rendered.
* :func:`resource_names`, :func:`assert_no_faye` and :func:`streams_held`:
  what a page fetched, and how many streams the proxy held.
* :class:`StreamRouter`: the nginx of "topology 2" in ``docs/deploying.md``,
  which sends only ``/_fanout/events`` to the GRIP proxy and everything
  else straight to the app, so the app stays reachable while the proxy is
  down.

Tabs of one browser share one stream (``js/src/share.ts``), so a browser
holds one stream however many of its windows show a page: tests wait for
one held stream per browser, not per window.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import urllib.request
from typing import Any

from selenium.webdriver.remote.webdriver import WebDriver

from tests.helpers.e2e import js
from tests.helpers.grip_proxies import GripStack
from tests.helpers.grip_proxies import LocalProxy
from tests.helpers.grip_proxies import PushpinProxy
from tests.helpers.grip_proxies import page_origin

#: Where the example's stream endpoint lives (the module's ``streamUrl``).
STREAM_PATH = "/_fanout/events"


def page_url(stack: GripStack, page_id: int) -> str:
    """The example's page ``page_id``, where a browser loads it (see above)."""
    return f"{page_origin(stack)}/pages/{page_id}"


# ------------------------------------------------------------- in the page

#: Wraps ``window.EventSource`` before any page script runs: each stream's
#: URL goes to ``window.__streams.opened`` and each ``ready``/``message``
#: event to ``window.__streams.events`` as ``{type, data, url}``. The module
#: reads the global when it first opens a stream, so it gets the wrapper.
STREAM_RECORDER = """
(() => {
  const Native = window.EventSource;
  if (!Native || window.__streams) return;
  const log = (window.__streams = { opened: [], events: [] });
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      const where = String(url);
      log.opened.push(where);
      for (const type of ["ready", "message"]) {
        this.addEventListener(type, (e) => {
          log.events.push({ type: type, data: String(e.data), url: where });
        });
      }
    }
  };
})();
"""


def streams_opened(driver: WebDriver) -> list[str]:
    """The URLs of every ``EventSource`` this document made (recorder on)."""
    opened: list[str] = js(driver, "return window.__streams.opened.slice()")
    return opened


def stream_events(driver: WebDriver) -> list[dict[str, Any]]:
    """Every ``ready``/``message`` event this document's streams received,
    with ``data`` decoded from JSON."""
    raw: list[dict[str, str]] = js(driver, "return window.__streams.events.slice()")
    return [{**event, "data": json.loads(event["data"])} for event in raw]


def resource_names(driver: WebDriver, fragment: str) -> list[str]:
    """URLs of the resources this document fetched (and finished) that
    contain ``fragment``, from the Resource Timing entries."""
    names: list[str] = js(
        driver,
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => n.indexOf(arguments[0]) >= 0)",
        fragment,
    )
    return names


def assert_no_faye(driver: WebDriver) -> None:
    """Faye was neither fetched, nor added as a script, nor defined."""
    assert resource_names(driver, "faye") == []
    assert (
        js(driver, "return document.querySelectorAll('script[src*=faye]').length") == 0
    )
    assert js(driver, "return typeof window.Faye") == "undefined"


def module_script(driver: WebDriver) -> dict[str, str]:
    """The ``src`` and ``integrity`` of the module tag ``fanout.script()`` rendered."""
    found: dict[str, str] = js(
        driver,
        "const s = document.querySelector('script[src*=\"flask-fanout-\"]');"
        "return s ? {src: s.src, integrity: s.integrity} : null",
    )
    return found


# ------------------------------------------------------------ at the proxy


def streams_held(stack: GripStack) -> int:
    """How many streams the proxy has held on any channel, ever: a counter
    that only grows, to compare before and after something that must open
    none. Pushpin: the subscriptions its handler logged (one per stream and
    channel); the local realm: the streams its stand-in opened."""
    proxy = stack.proxy
    if isinstance(proxy, PushpinProxy):
        return len(proxy.pushpin.subscriptions())
    assert isinstance(proxy, LocalProxy)
    with urllib.request.urlopen(proxy.url + "/stats", timeout=5) as answer:
        return int(json.load(answer)["grip"]["streams_opened"])


# ---------------------------------------------------------------- topology 2

_HOP_BY_HOP = re.compile(rb"(?im)^(connection|keep-alive|proxy-connection):[^\n]*\n")
_DOWN = (
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 21\r\nConnection: close\r\n\r\nupstream unreachable\n"
)


def _one_shot(head: bytes) -> bytes:
    """A request or response head with ``Connection: close`` as its only
    hop-by-hop header: one exchange per connection, so no connection that
    went to one upstream is reused for a request meant for the other."""
    return _HOP_BY_HOP.sub(b"", head)[:-2] + b"Connection: close\r\n\r\n"


class StreamRouter:
    """A reverse proxy that routes by path, like nginx in "topology 2".

    Requests for ``/_fanout/events`` go to ``stream_port`` (the GRIP proxy),
    everything else to ``app_port``. An upstream that refuses the
    connection gets the browser a ``502``, as nginx answers. Bytes are passed
    on as they come (no buffering), in an asyncio loop of its own.
    """

    def __init__(self, app_port: int, stream_port: int) -> None:
        self.app_port = app_port
        self.stream_port = stream_port
        self.port = 0
        #: Requests answered 502 because their upstream was down.
        self.refused = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StreamRouter:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            self._call(self._close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> StreamRouter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(writer)
        try:
            await self._route(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.LimitOverrunError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _route(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        target = head.split(b" ", 2)[1].decode("latin-1") if b" " in head else "/"
        path = target.split("?", 1)[0]
        port = self.stream_port if path.endswith(STREAM_PATH) else self.app_port
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            self.refused += 1
            writer.write(_DOWN)
            await writer.drain()
            return
        self._writers.add(up_writer)
        try:
            up_writer.write(_one_shot(head))
            upload = asyncio.ensure_future(self._upload(reader, writer, up_writer))
            try:
                writer.write(_one_shot(await up_reader.readuntil(b"\r\n\r\n")))
                await self._pipe(up_reader, writer)
            finally:
                upload.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await upload
        finally:
            self._writers.discard(up_writer)
            up_writer.close()

    async def _upload(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        """The request body, if any; when the browser goes away (an
        ``EventSource`` closed), so does the upstream request."""
        await self._pipe(reader, up_writer)
        up_writer.transport.abort()
        writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
