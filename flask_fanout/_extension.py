"""The Flask extension object."""

from __future__ import annotations

import dataclasses
import logging
import weakref
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from typing import NamedTuple

from flask import Flask
from flask import current_app
from flask import request
from markupsafe import Markup

from . import _assets
from . import signals
from ._channels import channel as _channel
from ._cli import fanout_cli
from ._client import Delivered
from ._deferred import defer
from ._deferred import remember_status
from ._deferred import send_deferred
from ._message import Message
from ._message import Publish
from ._message import json_encoder
from ._message import prepare
from ._sender import Sender
from ._settings import KEYS
from ._settings import FanoutConfig
from ._settings import load_config
from ._sqlalchemy import defer_until_commit
from ._testing import record_publishes
from .backends import Backend
from .backends import get_backend

logger = logging.getLogger("flask_fanout")

#: Decorated by :meth:`FanoutExt.authorize_channel`.
Authorizer = Callable[[str], bool]


@dataclasses.dataclass(frozen=True, slots=True)
class PublishStats:
    """Counters of one app's sender, since start-up (or since a fork).

    With several endpoints (GRIP proxies) each publish counts once per
    endpoint.

    :param sent: Publishes an endpoint accepted.
    :param failed: Publishes lost to a failed request (blocking ones included).
    :param dropped: Non-blocking publishes dropped because a queue was full.
    :param pending: Publishes queued or in flight right now.

    .. versionadded:: 0.1
    """

    sent: int
    failed: int
    dropped: int
    pending: int


class Delivery(NamedTuple):
    """What one endpoint answered to :meth:`FanoutExt.publish_now`.

    :param endpoint: The endpoint, as shown in messages (no secrets).
    :param status: Its HTTP status (2xx).
    :param receivers: How many subscribers it says it reached, when it says
        (the local realm does; Pushpin and Fastly do not).

    .. versionadded:: 0.2
    """

    endpoint: str
    status: int
    receivers: int | None


@dataclasses.dataclass(eq=False)
class _State:
    """What the extension keeps per app. It never references the app
    strongly (the sender holds it weakly, as the signals' sender), so the
    ``WeakKeyDictionary`` entry dies with the app."""

    config: FanoutConfig
    backend: Backend
    sender: Sender
    encode: Callable[[Any], str]
    embed_decided: bool = False


#: The channel :meth:`FanoutExt.check` publishes to (prefix applied).
CHECK_CHANNEL = "flask-fanout-check"


class FanoutExt:
    """Realtime hints for Flask pages, through a Bayeux realm or a GRIP proxy.

    Follows the application-factory pattern: create it once, then call
    :meth:`init_app` for each app. Nothing app-specific is stored on the
    object itself, so one instance serves any number of apps in a process.

    .. code-block:: python

        fanout = FanoutExt()

        def create_app():
            app = Flask(__name__)
            fanout.init_app(app)
            return app

        @app.post("/comments")
        def add_comment():
            ...
            fanout.publish(fanout.channel("comments", post.id), {"added": comment.id})

    :param app: An app to initialise right away.
    :param options: Keyword-only defaults for the ``FANOUT_*`` settings,
        named by their field (``realm_id``, ``grip_url``, ``throttle``, ...;
        see the settings table). They replace the built-in defaults; a key set
        in ``app.config`` still wins, so deployment settings override code.
    :raises TypeError: for an unknown option.

    .. versionadded:: 0.1
    """

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        unknown = sorted(set(options) - set(KEYS))
        if unknown:
            raise TypeError(
                f"unknown FanoutExt option(s): {', '.join(unknown)}; "
                f"expected some of: {', '.join(KEYS)}"
            )
        self._options = options
        self._states: weakref.WeakKeyDictionary[Flask, _State] = (
            weakref.WeakKeyDictionary()
        )
        self._authorizer: Authorizer | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the config of ``app`` and register the extension on it.

        Registers ``app.extensions["fanout"]``, the ``fanout`` Jinja global,
        the static-file blueprint, the backend's routes (GRIP: the stream
        endpoint), the ``flask fanout`` CLI group and the request hooks that
        deferred publishing needs. Logs one line saying which backend and
        endpoint are in use.

        :raises RuntimeError: if the extension (this or another instance) is
            already registered on ``app``; a second registration would mean
            two senders and two sets of hooks.
        :raises FanoutConfigError: naming the first bad ``FANOUT_*`` key.
        """
        if app in self._states or "fanout" in app.extensions:
            raise RuntimeError(
                f"Flask-Fanout is already initialised on app {app.name!r}; "
                "call init_app() once per app"
            )
        config = load_config(app, self._options)
        backend = get_backend(config.backend)
        sender = Sender(
            backend.endpoints(config),
            timeout=config.timeout,
            queue_size=config.queue_size,
            batch_size=config.batch_size,
            batch_bytes=config.batch_bytes,
            app_ref=weakref.ref(app),
        )
        backend.init_app(app, config, self)
        self._states[app] = _State(config, backend, sender, json_encoder(app))
        weakref.finalize(app, sender.stop).atexit = False
        app.extensions["fanout"] = self
        app.jinja_env.globals["fanout"] = self
        _assets.register_assets(app)
        app.cli.add_command(fanout_cli)
        app.after_request(remember_status)
        app.teardown_request(send_deferred)
        if config.local and config.local_realm_embed is not False:
            app.before_request(self._embed_local_realm)
        logger.info("Flask-Fanout on app %r: %s", app.name, config.realm_description)

    # Per-app state --------------------------------------------------------

    def _state(self, app: Flask | None = None) -> _State:
        if app is None:
            app = current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            return self._states[app]
        except KeyError:
            raise RuntimeError(
                f"Flask-Fanout is not initialised on app {app.name!r}: call "
                "init_app(app) first"
            ) from None

    @property
    def config(self) -> FanoutConfig:
        """The effective configuration of the current app.

        Public so that templates, the local realm and the CLI read one
        validated source instead of re-parsing ``app.config``.
        """
        return self._state().config

    def _embed_local_realm(self) -> None:
        state = self._state()
        if state.embed_decided:
            return
        state.embed_decided = True
        config = state.config
        if config.local_realm_embed == "auto":
            # Only the development server embeds: under gunicorn and friends
            # each worker would race for the port; tests start their own.
            if current_app.testing:
                return
            if not request.environ.get("SERVER_SOFTWARE", "").startswith("Werkzeug"):
                return
        from .realm._embedded import ensure_embedded

        # On GRIP the embedded realm stands in for the proxy in front of this
        # server: it forwards stream requests here.
        origin = _origin_of_this_server() if config.backend == "grip" else None
        ensure_embedded(
            config, allow_public_dev_key=config.local_realm_public, origin=origin
        )

    # Channels and authorization ----------------------------------------------

    def authorize_channel(self, authorizer: Authorizer) -> Authorizer:
        """Decorate the function that decides who may read a channel (GRIP).

        .. code-block:: python

            @fanout.authorize_channel
            def can_read(channel: str) -> bool:
                if channel.startswith("private-"):
                    return current_user.is_authenticated
                return True

        It is called once per channel of every stream request, in that
        request's context, so ``session`` and Flask-Login's ``current_user``
        work. A channel it refuses is never held for that browser: nothing
        published on it reaches it, and the page gets an ``error`` event
        naming the channel. If it raises, the browser is told to retry in a
        few seconds. Without an authorizer every channel is readable, as on
        Bayeux (where channels are always public).

        .. versionadded:: 0.2
        """
        self._authorizer = authorizer
        return authorizer

    @staticmethod
    def channel(*parts: Any) -> str:
        """Build a channel name: ``fanout.channel("comments", 123) == "comments-123"``.

        See :func:`flask_fanout.channel`. The prefix is not included.
        """
        return _channel(*parts)

    # Publishing -----------------------------------------------------------

    def _prepare(
        self, state: _State, channel: object, data: Any, id: object, prev_id: object
    ) -> Message:
        config = state.config
        return prepare(
            channel=channel,
            data=data,
            id=id,
            prev_id=prev_id,
            prefix=config.channel_prefix,
            encode=state.encode,
            layout=state.backend.layout,
            max_item_bytes=config.batch_bytes,
        )

    def _dispatch(
        self, state: _State, message: Message, blocking: bool = False
    ) -> None:
        # A receiver that raises is logged, not raised: it must neither fail
        # the view nor stop the hint from being sent.
        state.sender.notifier.send(signals.publish_accepted, publish=message.publish)
        if state.config.suppress_send:
            return
        if blocking:
            state.sender.send_now([message])
        else:
            state.sender.enqueue(message)

    def publish(
        self,
        channel: str,
        data: Any,
        *,
        id: str | None = None,
        prev_id: str | None = None,
        blocking: bool = False,
    ) -> None:
        """Publish ``data`` to ``channel`` (a hint that something changed).

        Validation is synchronous: a bad channel name, unserialisable data,
        an item larger than ``FANOUT_BATCH_BYTES`` or a bad id raises here,
        in the caller, naming the channel. Sending is not: by default the
        publish is queued and a background thread sends it, batched with
        others, so a view never waits for the network and a failure never
        raises into it (it is logged and sent as
        :data:`~flask_fanout.signals.publish_failed`). Needs an app context
        (a request, a CLI command, a worker with ``app.app_context()``).

        :param channel: A logical channel name (see :func:`validate_channel`);
            ``FANOUT_CHANNEL_PREFIX`` is prepended on the wire.
        :param data: Any value the app's JSON provider can serialise (as
            ``jsonify`` would: UUIDs, dates, dataclasses...), with no
            infinite or NaN numbers; subscribers receive it as JSON.
        :param id: Optional item id (GRIP and Fanout ``id``).
        :param prev_id: Optional previous item id (``prev-id``).
        :param blocking: Send now, in this thread, to every endpoint, and
            raise on failure.
        :raises InvalidChannelError: for a bad channel name.
        :raises InvalidPublishError: for unserialisable data, a bad id or an
            oversized item.
        :raises PublishError: with ``blocking=True``, when an endpoint fails,
            carrying its status and message (the others were still tried).
        """
        state = self._state()
        self._dispatch(
            state, self._prepare(state, channel, data, id, prev_id), blocking
        )

    def publish_after_request(
        self,
        channel: str,
        data: Any,
        *,
        id: str | None = None,
        prev_id: str | None = None,
    ) -> None:
        """Publish when the current request ends, if it succeeded.

        The hint goes out only if the request ended without an unhandled
        exception and with a status below 400. Identical hints (same channel,
        data, id and prev_id) made during one request go out once, so
        helpers can announce freely. Validation happens now.

        :raises RuntimeError: outside a request.
        :raises InvalidChannelError: for a bad channel name.
        :raises InvalidPublishError: for unserialisable data or a bad id.
        """
        state = self._state()
        message = self._prepare(state, channel, data, id, prev_id)
        defer(lambda m: self._dispatch(state, m), message)

    def publish_after_commit(
        self,
        session: Any,
        channel: str,
        data: Any,
        *,
        id: str | None = None,
        prev_id: str | None = None,
    ) -> None:
        """Publish once ``session``'s outermost transaction commits.

        Nothing is sent if it rolls back (or if the savepoint the hint was
        made in rolls back), so a browser never refetches before the row the
        hint points to can be read. Identical hints within one transaction go
        out once. Works with a SQLAlchemy ``Session`` or ``scoped_session``,
        including Flask-SQLAlchemy's ``db.session``. The commit may happen
        outside the app context. Validation happens now.

        :raises TypeError: if ``session`` is not a SQLAlchemy session.
        :raises InvalidChannelError: for a bad channel name.
        :raises InvalidPublishError: for unserialisable data or a bad id.
        """
        state = self._state()
        message = self._prepare(state, channel, data, id, prev_id)
        defer_until_commit(session, lambda m: self._dispatch(state, m), message)

    def publish_now(
        self,
        channel: str,
        data: Any,
        *,
        id: str | None = None,
        prev_id: str | None = None,
    ) -> list[Delivery]:
        """Publish to every endpoint now and return what each answered.

        Like ``publish(..., blocking=True)``, but it also sends when
        ``FANOUT_SUPPRESS_SEND`` is on, and it reports each endpoint's answer,
        such as the local realm's count of subscribers reached. For scripts
        and ``flask fanout publish``; a view should use :meth:`publish`.

        :raises PublishError: for the first endpoint that failed (the others
            were still tried), naming it.

        .. versionadded:: 0.2
        """
        state = self._state()
        message = self._prepare(state, channel, data, id, prev_id)
        state.sender.notifier.send(signals.publish_accepted, publish=message.publish)
        delivered: list[Delivered] = state.sender.send_now([message])
        names = [lane.endpoint.name for lane in state.sender.lanes]
        return [
            Delivery(n, d.status, d.receivers)
            for n, d in zip(names, delivered, strict=True)
        ]

    def check(self) -> list[Delivery]:
        """Make one real, authenticated publish to every endpoint.

        What ``flask fanout check`` runs: a :meth:`publish_now` to the
        channel ``flask-fanout-check`` (prefix applied).

        .. versionadded:: 0.2
        """
        return self.publish_now(CHECK_CHANNEL, {"check": True})

    def endpoints(self) -> list[str]:
        """Where the current app publishes, as shown in messages (no secrets).

        .. versionadded:: 0.2
        """
        return [lane.endpoint.name for lane in self._state().sender.lanes]

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every publish queued so far has been sent (or failed).

        Useful at the end of a CLI command or a worker job, before the
        process exits. (At interpreter exit a bounded flush runs anyway.)

        :param timeout: Seconds to wait at most; ``None`` waits as long as it
            takes (each request is bounded by ``FANOUT_TIMEOUT``).
        :returns: ``True`` if everything was processed, ``False`` on timeout.
        """
        return self._state().sender.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush, then stop the current app's sender threads and close their
        connections. A later publish starts new ones; tests use this to
        leave no connection or thread behind.

        :returns: ``True`` if the flush completed within ``timeout``.
        """
        return self._state().sender.close(timeout)

    def stats(self) -> PublishStats:
        """Counters of the current app's sender: sent, failed, dropped, pending."""
        return PublishStats(*self._state().sender.totals())

    # Templates and tests -------------------------------------------------

    def script(self, *, nonce: str | None = None, lazy: bool = True) -> Markup:
        """The config element and the ``<script>`` tag of the browser module.

        ``{{ fanout.script() }}`` in a template; see the templates guide.

        :param nonce: A CSP nonce for the tags (default: the request's, if
            the app exposes one, as Flask-Talisman does).
        :param lazy: Bayeux: load Faye on the first subscribe (``True``) or now.
        """
        state = self._state()
        return _assets.render_script(
            state.config, state.backend, nonce=nonce, lazy=lazy
        )

    def config_element(self, *, nonce: str | None = None, lazy: bool = True) -> Markup:
        """Only the JSON config element, for pages that load the module
        themselves (``<script type="module">`` importing it, or a bundle).

        .. versionadded:: 0.2
        """
        state = self._state()
        return _assets.render_config(
            state.config, state.backend, nonce=nonce, lazy=lazy
        )

    def module_url(self) -> str:
        """The URL of the ES module build for this app's backend, versioned.

        For ``import Fanout from "{{ fanout.module_url() }}"`` in a module
        script. The classic script and the module share one client (and so
        one connection) on a page.

        .. versionadded:: 0.2
        """
        return _assets.module_url(self._state().backend)

    @contextmanager
    def record_publishes(self, app: Flask | None = None) -> Iterator[list[Publish]]:
        """Record the publishes made inside the block.

        .. code-block:: python

            with fanout.record_publishes() as published:
                client.post("/comments", data={"text": "hi"})
            assert published[0].channel == "comments-1"

        Works whether sending is suppressed (the default while
        ``app.testing``) or not: it records each publish that was validated
        and accepted, in order, as a :class:`~flask_fanout.Publish`.

        :param app: Record only this app's publishes. By default, every app
            this extension is initialised on.
        """
        if app is None:
            states = self._states
            with record_publishes(lambda sender: sender in states) as recorded:
                yield recorded
        else:
            with record_publishes(lambda sender: sender is app) as recorded:
                yield recorded


def _origin_of_this_server() -> str:
    """``http://host:port`` of the development server answering this request.

    The embedded local realm forwards stream requests here when it stands in
    for a GRIP proxy. The socket's own address, not the ``Host`` header: a
    wildcard bind is reached on loopback.
    """
    from ._local import base_url
    from ._local import is_wildcard

    host = request.environ.get("SERVER_NAME", "127.0.0.1")
    port = int(request.environ.get("SERVER_PORT", "80"))
    if is_wildcard(host):
        host = "127.0.0.1"
    return base_url(host, port)
