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

Tabs of one browser share one stream (``js/src/share.ts``), so a browser
holds one stream however many of its windows show a page: tests wait for
one held stream per browser, not per window.
"""

from __future__ import annotations

import json
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
