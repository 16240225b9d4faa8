"""The seam between backends: what differs between Bayeux and GRIP.

A backend decides four things, and nothing else in the package asks which
backend is in use:

* where publishes go and how they are signed (:meth:`Backend.endpoints`);
* how one publish is laid out as an item on the wire (:meth:`Backend.layout`);
* what the page's config element says (:meth:`Backend.page_config`), and so
  which build of the browser module it loads (:attr:`Backend.name`);
* which routes it adds to the app (:meth:`Backend.init_app`).

Adding a backend means adding a module here and a line to :data:`_BACKENDS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

from flask import Flask

if TYPE_CHECKING:
    from .._client import Endpoint
    from .._message import Publish
    from .._settings import BackendName
    from .._settings import FanoutConfig


class Backend(Protocol):
    """What one backend provides (see the module docstring)."""

    #: ``"bayeux"`` or ``"grip"``; also names the browser module's build.
    name: BackendName

    def endpoints(self, config: FanoutConfig) -> list[Endpoint]:
        """Every endpoint a publish goes to (GRIP: one per proxy)."""
        ...

    def layout(self, publish: Publish, wire_channel: str, text: str) -> str:
        """The JSON text of one item; ``text`` is the data, already serialised."""
        ...

    def page_config(
        self, config: FanoutConfig, page_host: str | None
    ) -> dict[str, Any]:
        """The backend's keys of the page config element (durations in ms).

        :param page_host: the host the page was requested on, when rendered
            in a request; the local realm is advertised on it, so that a
            phone, a VM or ``localhost`` reaches the realm the page came with.
        """
        ...

    def init_app(self, app: Flask, config: FanoutConfig, ext: Any) -> None:
        """Add the backend's routes and hooks to ``app``.

        :raises FanoutConfigError: for a setting only the backend can check.
        """
        ...


def get_backend(name: BackendName) -> Backend:
    """The backend called ``name``."""
    if name == "grip":
        from .grip import GRIP

        return GRIP
    from .bayeux import BAYEUX

    return BAYEUX


def local_origin(config: FanoutConfig, page_host: str | None) -> str:
    """``http://host:port`` of the local realm, as a page should reach it.

    The configured host, unless the page was requested on another host (or
    the realm binds every interface): then the page's own host, since that
    is the name the browser can reach and the one its cookies belong to.
    """
    from .._local import base_url
    from .._local import is_wildcard

    host = config.local_realm_host
    if page_host:
        host = page_host
    elif is_wildcard(host):
        host = "127.0.0.1" if ":" not in host else "::1"
    return base_url(host, config.local_realm_port)
