"""A small comments app on Flask-Fanout.

Each page has a comment thread and its own channel, ``comments-<page id>``.
Page 3 is private: only a signed-in visitor may read it, its comments or its
channel (the channel authorizer, on the GRIP backend). ``/pages/<id>/live``
shows the same thread with htmx and no page script at all.
Posting a comment stores it and, only once the transaction has committed,
publishes a *hint* on that channel. Every open view of the page reacts to the
hint by fetching the comments newer than the last one it shows, so the hint
carries no data a browser must trust, a lost hint costs nothing but latency,
and the polling fallback (``Fanout.poll``) keeps pages correct when realtime
is down.

Run it from the repository root with ``make demo``, or::

    FLASK_APP=example.app flask run --debug

With no ``FANOUT_REALM_ID`` the extension starts the local realm inside the
development server. Behind Pushpin, only environment variables change::

    FANOUT_BACKEND=grip FANOUT_GRIP_URL='http://127.0.0.1:5561/?verify-key=...'

Any ``FANOUT_*`` environment variable is read as a
setting (JSON values are decoded), e.g. ``FANOUT_POLL_INTERVAL=2``.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask import Response
from flask import abort
from flask import flash
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from flask_fanout import FanoutExt

__all__ = ["Comment", "Page", "create_app", "db", "fanout"]

#: ``example/instance``, where the SQLite file lives (gitignored). Explicit,
#: because Flask would otherwise put it next to the ``example`` package.
INSTANCE_DIR = Path(__file__).resolve().parent / "instance"
#: Longest comment accepted, so one post cannot fill the page (or the disk).
MAX_COMMENT = 2000
MAX_AUTHOR = 60
#: Most comments one ``?since=`` fetch returns; the page asks again for more.
FETCH_LIMIT = 200

SEED_PAGES = [
    (
        "Welcome to the demo",
        "Open this page in two windows and post a comment in one of them: it "
        "appears in the other at once, pushed by the realm.",
    ),
    (
        "Release notes 0.1",
        "What changed in the first release. A separate page, so a separate "
        "channel: comments posted on other pages never reach this one.",
    ),
    (
        "Members only: the roadmap",
        "A private page: sign in (any name will do) to read it. Its channel "
        "is private too, so hints about it never reach a signed-out window.",
    ),
]
#: Pages (and so channels) only a signed-in visitor may read.
PRIVATE_PAGES = frozenset({3})
MAX_NAME = 40


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
fanout = FanoutExt()


class Page(db.Model):  # type: ignore[name-defined,misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")


class Comment(db.Model):  # type: ignore[name-defined,misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("page.id"), index=True)
    author: Mapped[str] = mapped_column(String(MAX_AUTHOR), default="")
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(
        default=lambda: datetime.datetime.now(datetime.UTC)
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "author": self.author or "Anonymous",
            "body": self.body,
            "created_at": self.created_at.replace(tzinfo=datetime.UTC).isoformat(),
        }


def _settings_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """``FANOUT_*``, ``EXAMPLE_*`` and ``SQLALCHEMY_DATABASE_URI`` variables.

    Values are JSON-decoded when they parse, so ``FANOUT_POLL_INTERVAL=1`` is
    a number and ``FANOUT_SUPPRESS_SEND=false`` a boolean, while
    ``FANOUT_REALM_ID=abc`` stays a string.
    """
    found: dict[str, Any] = {}
    for key, raw in environ.items():
        if key.startswith(("FANOUT_", "EXAMPLE_")) or key == "SQLALCHEMY_DATABASE_URI":
            try:
                found[key] = json.loads(raw)
            except ValueError:
                found[key] = raw
    return found


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the example app.

    :param config: settings applied last, over the environment; the tests use
        it for a temporary database, the realm's URLs and fast polling.
    """
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.from_mapping(
        SECRET_KEY="example-only-not-secret",
        SQLALCHEMY_DATABASE_URI=None,
        EXAMPLE_SEED=True,
    )
    app.config.update(_settings_from_env(os.environ))
    if config:
        app.config.update(config)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        os.makedirs(app.instance_path, exist_ok=True)
        path = os.path.join(app.instance_path, "example.sqlite")
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"

    db.init_app(app)
    fanout.init_app(app)
    with app.app_context():
        db.create_all()
        if (
            app.config["EXAMPLE_SEED"]
            and db.session.scalar(select(func.count(Page.id))) == 0
        ):
            db.session.add_all(Page(title=t, summary=s) for t, s in SEED_PAGES)
            db.session.commit()

    _register_routes(app)
    return app


def _signed_in() -> str | None:
    name = session.get("user")
    return name if isinstance(name, str) and name else None


def _readable(page_id: int) -> bool:
    return page_id not in PRIVATE_PAGES or _signed_in() is not None


@fanout.authorize_channel
def can_read(channel: str) -> bool:
    """Who may hold a stream on ``channel``: called in the stream's request.

    Mirrors :func:`_readable`, so a hint reaches exactly the windows that may
    read what it points to.
    """
    for page_id in PRIVATE_PAGES:
        if channel == fanout.channel("comments", page_id):
            return _signed_in() is not None
    return True


def _wants_json() -> bool:
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def _register_routes(app: Flask) -> None:
    @app.context_processor
    def signed_in() -> dict[str, Any]:
        return {"user": _signed_in(), "private_pages": PRIVATE_PAGES}

    @app.post("/login")
    def login() -> ResponseReturnValue:
        """Sign in with just a name: the example needs a session, not accounts."""
        name = str(request.form.get("name") or "").strip()[:MAX_NAME]
        if not name:
            flash("Give a name to sign in.", "error")
        else:
            session["user"] = name
        return redirect(request.referrer or url_for("index"), code=303)

    @app.post("/logout")
    def logout() -> ResponseReturnValue:
        session.pop("user", None)
        return redirect(url_for("index"), code=303)

    @app.get("/")
    def index() -> str:
        counts = dict(
            db.session.execute(
                select(Comment.page_id, func.count(Comment.id)).group_by(
                    Comment.page_id
                )
            ).all()
        )
        pages = db.session.scalars(select(Page).order_by(Page.id)).all()
        return render_template("index.html", pages=pages, counts=counts)

    def _page_or_abort(page_id: int) -> Page:
        page: Page = db.get_or_404(Page, page_id)
        if not _readable(page.id):
            abort(403)
        return page

    def _comments(page: Page) -> list[Comment]:
        return list(
            db.session.scalars(
                select(Comment).where(Comment.page_id == page.id).order_by(Comment.id)
            ).all()
        )

    @app.errorhandler(403)
    def members_only(error: Exception) -> ResponseReturnValue:
        if _wants_json():
            return jsonify(error="Sign in to read this page."), 403
        return render_template("private.html"), 403

    @app.get("/pages/<int:page_id>")
    def page(page_id: int) -> str:
        page = _page_or_abort(page_id)
        return render_template("page.html", page=page, comments=_comments(page))

    @app.get("/pages/<int:page_id>/live")
    def live(page_id: int) -> str:
        """The same thread, refreshed by htmx on the module's DOM events."""
        page = _page_or_abort(page_id)
        return render_template("live.html", page=page, comments=_comments(page))

    @app.get("/pages/<int:page_id>/fragment")
    def fragment(page_id: int) -> ResponseReturnValue:
        """The comment list alone: what htmx swaps in on a hint or a poll."""
        page = _page_or_abort(page_id)
        response = app.make_response(
            render_template("_comments.html", page=page, comments=_comments(page))
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/pages/<int:page_id>/comments")
    def comments_since(page_id: int) -> Response:
        """Comments newer than ``since``: what a page asks for after a hint."""
        page = _page_or_abort(page_id)
        since = request.args.get("since", 0, type=int)
        rows = db.session.scalars(
            select(Comment)
            .where(Comment.page_id == page.id, Comment.id > since)
            .order_by(Comment.id)
            .limit(FETCH_LIMIT + 1)
        ).all()
        more = len(rows) > FETCH_LIMIT
        rows = rows[:FETCH_LIMIT]
        last_id = rows[-1].id if rows else since
        response = jsonify(
            comments=[c.to_json() for c in rows], last_id=last_id, more=more
        )
        # A refetch must see the newest rows, never a cached answer.
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.post("/pages/<int:page_id>/comments")
    def post_comment(page_id: int) -> ResponseReturnValue:
        page = _page_or_abort(page_id)
        data: Mapping[str, Any]
        if request.is_json:
            data = request.get_json(silent=True) or {}
            if not isinstance(data, dict):
                abort(400)
        else:
            data = request.form
        text = str(data.get("comment") or "").strip()
        author = str(data.get("author") or "").strip()[:MAX_AUTHOR]
        error = None
        if not text:
            error = "Write something first."
        elif len(text) > MAX_COMMENT:
            error = f"Comments are limited to {MAX_COMMENT} characters."
        if error:
            if _wants_json():
                return jsonify(error=error), 400
            flash(error, "error")
            return redirect(url_for("page", page_id=page.id), code=303)

        comment = Comment(page_id=page.id, author=author, body=text)
        db.session.add(comment)
        db.session.flush()
        # Sent only if (and once) this transaction commits: a browser that
        # refetches on the hint is then sure to find the row.
        fanout.publish_after_commit(
            db.session,
            fanout.channel("comments", page.id),
            {"page": page.id, "comment": comment.id},
        )
        db.session.commit()
        if _wants_json():
            return jsonify(comment.to_json()), 201
        if request.headers.get("HX-Request") == "true":
            # htmx posted it: a fresh form replaces the posted one, and the
            # hint refreshes every view of the list, this one included.
            return render_template("_live_form.html", page=page)
        return redirect(
            url_for("page", page_id=page.id, _anchor=f"c{comment.id}"), code=303
        )


_default_app: Flask | None = None


def __getattr__(name: str) -> Any:
    """``example.app.app``, built on first use.

    ``flask --app example.app`` (and ``FLASK_APP=example.app``) looks for an
    ``app`` attribute. Building it lazily keeps ``import example.app`` free of
    side effects, so tests can call :func:`create_app` with their own
    database without creating the default one.
    """
    global _default_app
    if name == "app":
        if _default_app is None:
            _default_app = create_app()
        return _default_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
