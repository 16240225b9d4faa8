"""Publishing after a database commit, and never after a rollback.

A hint tells browsers to refetch. If it leaves before the transaction that
wrote the row has committed, a browser can refetch, miss the row, and then
have no reason to refetch again: the ``post_save`` race. Hints registered
here wait in ``session.info`` until the outermost transaction commits, and
vanish if it (or the savepoint they were registered in) rolls back.

SQLAlchemy is optional: it is imported only when this helper is first used.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple

from ._deferred import Dispatch
from ._deferred import hint_key
from ._message import Message

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
    from sqlalchemy.orm import SessionTransaction

logger = logging.getLogger("flask_fanout")

_INFO_KEY = "_fanout_after_commit"
_install_lock = threading.Lock()
_installed = False


class _Hint(NamedTuple):
    #: The transaction (or savepoint) the hint was registered in.
    transaction: SessionTransaction | None
    dispatch: Dispatch
    message: Message


def _resolve(session: Any) -> Session:
    try:
        from sqlalchemy.orm import Session
        from sqlalchemy.orm import scoped_session
    except ImportError:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "publish_after_commit() needs SQLAlchemy: pip install "
            "'Flask-Fanout[sqlalchemy]'"
        ) from None
    if isinstance(session, scoped_session):
        # Flask-SQLAlchemy's db.session: the session of the current scope.
        session = session()
    if not isinstance(session, Session):
        raise TypeError(
            "expected a SQLAlchemy Session or scoped_session, got "
            f"{type(session).__name__}"
        )
    return session


def _install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        # Listening on the class covers every session, Flask-SQLAlchemy's
        # included; sessions without hints cost one dict lookup per event.
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_soft_rollback)
        event.listen(Session, "after_transaction_end", _after_transaction_end)
        _installed = True


def defer_until_commit(session: Any, dispatch: Dispatch, message: Message) -> None:
    """Keep ``message`` in ``session.info`` until the session commits (internal)."""
    real = _resolve(session)
    _install()
    transaction = real.get_nested_transaction() or real.get_transaction()
    hints: dict[Any, _Hint] = real.info.setdefault(_INFO_KEY, {})
    hints.setdefault(hint_key(message), _Hint(transaction, dispatch, message))


def _after_commit(session: Session) -> None:
    # after_commit also fires when a savepoint is released; only the
    # outermost commit makes rows visible to other connections. At that
    # point no savepoint is open any more.
    if session.get_nested_transaction() is not None:
        return
    hints: dict[Any, _Hint] | None = session.info.pop(_INFO_KEY, None)
    if not hints:
        return
    for hint in hints.values():
        try:
            hint.dispatch(hint.message)
        except Exception:
            logger.exception(
                "Fanout: sending an after-commit hint to %r failed",
                hint.message.publish.channel,
            )


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    """Whether ``transaction`` is ``ended`` or a savepoint nested in it."""
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _after_soft_rollback(
    session: Session, previous_transaction: SessionTransaction
) -> None:
    """Drop the hints made inside the transaction or savepoint that rolled back.

    Only this event says "rolled back": ``after_transaction_end`` also fires
    when a savepoint is released, whose hints must survive.
    """
    hints: dict[Any, _Hint] | None = session.info.get(_INFO_KEY)
    if not hints:
        return
    if previous_transaction.parent is None:
        session.info.pop(_INFO_KEY, None)
        return
    for key, hint in list(hints.items()):
        if _within(hint.transaction, previous_transaction):
            del hints[key]


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended without a commit having taken the
    # hints (session.close() without commit, a rollback): discard them.
    if transaction.parent is None:
        session.info.pop(_INFO_KEY, None)
