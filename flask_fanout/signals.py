"""Blinker signals sent by Flask-Fanout.

Signals are how a non-blocking publish reports back: a failure on the
background sender must never raise into the view that published, so it is
logged and *signalled*, letting the application count, alert or retry.

Every signal is sent with the Flask app as the sender (connect with
``signal.connect(receiver, app)`` to listen to one app only). Receivers of
:data:`published`, :data:`publish_failed` and :data:`publish_dropped` may run
on the background sender thread, without an app context; keep them short.
A receiver that raises is logged on the ``flask_fanout`` logger and does not
propagate: a metrics hook with a bug must not fail the view that published,
nor stop the hint from being sent.

.. versionadded:: 0.1
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: ``publish()`` validated a publish and accepted it: it was queued, sent
#: inline (``blocking=True``), or recorded because ``FANOUT_SUPPRESS_SEND`` is
#: on. Keyword argument: ``publish`` (a :class:`~flask_fanout.Publish`). Sent
#: in the publishing thread, in order; :meth:`FanoutExt.record_publishes`
#: listens to it.
publish_accepted = _signals.signal("fanout.publish-accepted")

#: The endpoint accepted a request. Keyword argument: ``publishes`` (list of
#: :class:`~flask_fanout.Publish`, in order).
published = _signals.signal("fanout.published")

#: A request to the endpoint failed. Keyword arguments: ``error``
#: (:class:`~flask_fanout.PublishError`) and ``publishes`` (the list of
#: :class:`~flask_fanout.Publish` that were lost). Sent for blocking publishes
#: too, just before the error is raised.
publish_failed = _signals.signal("fanout.publish-failed")

#: A non-blocking publish was dropped because the queue
#: (``FANOUT_QUEUE_SIZE``) was full. Keyword arguments: ``publish`` and
#: ``dropped`` (the number dropped so far by this app's queue for that
#: endpoint; with several GRIP proxies each has its own queue).
publish_dropped = _signals.signal("fanout.publish-dropped")

__all__ = ["publish_accepted", "publish_dropped", "publish_failed", "published"]
