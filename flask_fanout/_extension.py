"""The Flask extension object."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask import current_app
from flask import request
from markupsafe import Markup

from . import _assets
from . import signals
from ._channels import channel as _channel
from ._cli import fanout_cli
from ._config import KEYS
from ._config import FanoutConfig
from ._config import load_config
from ._deferred import defer
from ._deferred import remember_status
from ._deferred import send_deferred
from ._publisher import Pending
from ._publisher import Publish
from ._publisher import Publisher
from ._publisher import PublishStats
from ._publisher import prepare
from ._sqlalchemy import defer_until_commit
from ._testing import record_publishes


@dataclasses.dataclass(eq=False)
class _State:
    """What the extension keeps per app. It never references the app
    strongly (the publisher holds it weakly, as the signals' sender), so the
    ``WeakKeyDictionary`` entry dies with the app."""

    config: FanoutConfig
    publisher: Publisher
    embed_decided: bool = False


class FanoutExt:
    """Realtime hints for Flask pages through a Fanout realm.

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
        named by their :class:`~flask_fanout._config.FanoutConfig` field
        (``realm_id``, ``realm_key``, ``publish_url``, ``bayeux_url``,
        ``faye_url``, ``faye_integrity``, ``transport_mode``, ``throttle``,
        ``poll_interval``, ``poll_connected_interval``, ``channel_prefix``,
        ``suppress_send``, ``queue_size``, ``batch_size``, ``timeout``,
        ``local_realm_host``, ``local_realm_port``, ``local_realm_embed``).
        They replace the built-in defaults; a key set in ``app.config``
        still wins, so deployment settings override code.
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
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the config of ``app`` and register the extension on it.

        Registers ``app.extensions["fanout"]``, the ``fanout`` Jinja global,
        the static-file blueprint, the ``flask fanout`` CLI group and the
        request hooks that deferred publishing needs.

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
        self._states[app] = _State(config, Publisher(config, app))
        app.extensions["fanout"] = self
        app.jinja_env.globals["fanout"] = self
        _assets.register_assets(app)
        app.cli.add_command(fanout_cli)
        app.after_request(remember_status)
        app.teardown_request(send_deferred)
        if config.local and config.local_realm_embed is not False:
            app.before_request(self._embed_local_realm)

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

        ensure_embedded(config)

    # Publishing -----------------------------------------------------------

    def _dispatch(
        self, state: _State, pending: Pending, blocking: bool = False
    ) -> None:
        # A receiver that raises is logged, not raised: it must neither fail
        # the view nor stop the hint from being sent.
        state.publisher.signal(signals.publish_accepted, publish=pending.publish)
        if state.config.suppress_send:
            return
        if blocking:
            state.publisher.send_now([pending])
        else:
            state.publisher.enqueue(pending)

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

        Validation is synchronous: a bad channel name, unserialisable data
        or a bad id raises here, in the caller, naming the channel. Sending
        is not: by default the publish is queued and a background thread
        sends it, batched with others, so a view never waits for the
        network and a failure never raises into it (it is logged and sent as
        :data:`~flask_fanout.signals.publish_failed`). Needs an app context
        (a request, a CLI command, a worker with ``app.app_context()``).

        :param channel: A logical channel name (see :func:`validate_channel`);
            ``FANOUT_CHANNEL_PREFIX`` is prepended on the wire.
        :param data: Any JSON-serialisable value; subscribers receive it as-is.
        :param id: Optional item id (Fanout ``id``).
        :param prev_id: Optional previous item id (Fanout ``prev-id``).
        :param blocking: Send now, in this thread, and raise on failure.
        :raises InvalidChannelError: for a bad channel name.
        :raises InvalidPublishError: for unserialisable data or a bad id.
        :raises PublishError: with ``blocking=True``, when the endpoint fails,
            carrying its status and message.
        """
        state = self._state()
        self._dispatch(
            state, prepare(state.config, channel, data, id, prev_id), blocking
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
        pending = prepare(state.config, channel, data, id, prev_id)
        defer(lambda p: self._dispatch(state, p), pending)

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
        pending = prepare(state.config, channel, data, id, prev_id)
        defer_until_commit(session, lambda p: self._dispatch(state, p), pending)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every publish queued so far has been sent (or failed).

        Useful at the end of a CLI command or a worker job, before the
        process exits. (At interpreter exit a bounded flush runs anyway.)

        :param timeout: Seconds to wait at most; ``None`` waits as long as it
            takes (each request is bounded by ``FANOUT_TIMEOUT``).
        :returns: ``True`` if everything was processed, ``False`` on timeout.
        """
        return self._state().publisher.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush, then stop the current app's sender thread and close its
        connections. A later publish starts a new one; tests use this to
        leave no connection or thread behind.

        :returns: ``True`` if the flush completed within ``timeout``.
        """
        return self._state().publisher.close(timeout)

    def stats(self) -> PublishStats:
        """Counters of the current app's sender: sent, failed, dropped, pending."""
        return self._state().publisher.stats()

    @staticmethod
    def channel(*parts: Any) -> str:
        """Build a channel name: ``fanout.channel("comments", 123) == "comments-123"``.

        See :func:`flask_fanout.channel`. The prefix is not included.
        """
        return _channel(*parts)

    # Templates and tests -------------------------------------------------

    def script(self, *, nonce: str | None = None, lazy: bool = True) -> Markup:
        """The ``<script>`` tags that configure and load the browser client.

        ``{{ fanout.script() }}`` in a template. See ``docs/templates.md``.

        :param nonce: A CSP nonce for the tags (default: the request's, if
            the app exposes one).
        :param lazy: Load Faye on the first subscribe (``True``) or now.
        """
        return _assets.render_script(self.config, nonce=nonce, lazy=lazy)

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
