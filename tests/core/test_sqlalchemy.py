"""publish_after_commit: hints leave only after the commit, never on rollback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine
from sqlalchemy import String
from sqlalchemy import create_engine
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column

from flask_fanout import FanoutExt
from flask_fanout import Publish
from flask_fanout import signals
from tests.helpers.endpoint import Endpoint


class Base(DeclarativeBase):
    pass


class Comment(Base):
    __tablename__ = "comment"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(100))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def testing_app(ext: FanoutExt) -> Flask:
    app = Flask("sa")
    app.testing = True
    ext.init_app(app)
    return app


def test_sent_after_commit_and_row_is_readable(
    testing_app: Flask, ext: FanoutExt, engine: Engine
) -> None:
    seen: list[list[str]] = []

    def on_accept(sender: Flask, publish: Publish) -> None:
        # At the moment the hint leaves, another connection can read the row.
        with Session(engine) as other:
            seen.append(list(other.scalars(select(Comment.text))))

    with (
        testing_app.app_context(),
        ext.record_publishes() as published,
        signals.publish_accepted.connected_to(on_accept),
        Session(engine) as session,
    ):
        session.add(Comment(text="hello"))
        session.flush()
        ext.publish_after_commit(session, "comments-1", {"added": 1})
        ext.publish_after_commit(session, "comments-1", {"added": 1})  # identical: once
        assert published == []
        session.commit()
        assert published == [Publish("comments-1", {"added": 1})]
        assert seen == [["hello"]]
        session.commit()  # a later commit does not resend
    assert len(published) == 1


def test_nothing_on_rollback(
    testing_app: Flask, ext: FanoutExt, engine: Engine
) -> None:
    with (
        testing_app.app_context(),
        ext.record_publishes() as published,
        Session(engine) as s,
    ):
        s.add(Comment(text="x"))
        ext.publish_after_commit(s, "comments-1", 1)
        s.rollback()
        s.commit()
        assert published == []
        # The next transaction starts clean.
        s.add(Comment(text="y"))
        ext.publish_after_commit(s, "comments-1", 2)
        s.commit()
    assert published == [Publish("comments-1", 2)]


def test_nothing_on_close_without_commit(
    testing_app: Flask, ext: FanoutExt, engine: Engine
) -> None:
    with testing_app.app_context(), ext.record_publishes() as published:
        session = Session(engine)
        session.add(Comment(text="x"))
        ext.publish_after_commit(session, "comments-1", 1)
        session.close()
        session.add(Comment(text="y"))
        session.commit()
        session.close()
    assert published == []


def test_savepoints(testing_app: Flask, ext: FanoutExt, engine: Engine) -> None:
    with (
        testing_app.app_context(),
        ext.record_publishes() as published,
        Session(engine) as s,
    ):
        s.add(Comment(text="outer"))
        ext.publish_after_commit(s, "outer", 1)
        rolled_back = s.begin_nested()
        ext.publish_after_commit(s, "inner-rolled-back", 1)
        rolled_back.rollback()
        released = s.begin_nested()
        ext.publish_after_commit(s, "inner-released", 1)
        released.commit()  # a savepoint release is not the commit
        assert published == []
        s.commit()
    assert [p.channel for p in published] == ["outer", "inner-released"]


def test_nested_savepoints(testing_app: Flask, ext: FanoutExt, engine: Engine) -> None:
    with (
        testing_app.app_context(),
        ext.record_publishes() as published,
        Session(engine) as s,
    ):
        s.add(Comment(text="outer"))
        ext.publish_after_commit(s, "outer", 1)
        middle = s.begin_nested()
        ext.publish_after_commit(s, "middle", 1)
        inner = s.begin_nested()
        ext.publish_after_commit(s, "inner", 1)
        inner.commit()  # released into ``middle``...
        middle.rollback()  # ...which rolls back, taking "inner" with it
        kept = s.begin_nested()
        deeper = s.begin_nested()
        ext.publish_after_commit(s, "deeper", 1)
        deeper.commit()
        kept.commit()  # two releases, still no real commit
        assert published == []
        s.commit()
    assert [p.channel for p in published] == ["outer", "deeper"]


def test_a_failing_hint_does_not_stop_the_others_or_the_commit(
    testing_app: Flask, ext: FanoutExt, engine: Engine
) -> None:
    def broken(sender: Flask, publish: Publish) -> None:
        if publish.channel == "first":
            raise RuntimeError("receiver bug")

    with (
        testing_app.app_context(),
        ext.record_publishes() as published,
        signals.publish_accepted.connected_to(broken),
        Session(engine) as s,
    ):
        s.add(Comment(text="x"))
        ext.publish_after_commit(s, "first", 1)
        ext.publish_after_commit(s, "second", 2)
        s.commit()  # does not raise
    assert [p.channel for p in published] == ["first", "second"]
    with Session(engine) as other:
        assert list(other.scalars(select(Comment.text))) == ["x"]


def test_commit_outside_the_app_context(
    app: Flask, ext: FanoutExt, endpoint: Endpoint, engine: Engine
) -> None:
    with Session(engine) as session:
        with app.app_context():
            session.add(Comment(text="x"))
            ext.publish_after_commit(session, "comments-1", {"n": 1}, id="7")
        session.commit()  # e.g. a worker committing after the context ended
    assert endpoint.wait_for_items(1) == [
        {"channel": "comments-1", "json-object": {"n": 1}, "id": "7"}
    ]


def test_flask_sqlalchemy(tmp_path: Path, ext: FanoutExt) -> None:
    app = Flask("fsa")
    app.testing = True
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'fsa.sqlite'}"
    db = SQLAlchemy(app, model_class=Base)
    ext.init_app(app)

    @app.post("/comments")
    def add() -> str:
        comment = Comment(text="hi")
        db.session.add(comment)
        db.session.flush()
        ext.publish_after_commit(
            db.session, ext.channel("comments", comment.id), "added"
        )
        db.session.commit()
        return "ok"

    @app.post("/fail")
    def fail() -> str:
        db.session.add(Comment(text="lost"))
        ext.publish_after_commit(db.session, "comments-x", "never")
        db.session.rollback()
        return "rolled back"

    with app.app_context():
        db.create_all()
    client = app.test_client()
    with ext.record_publishes() as published:
        client.post("/comments")
        client.post("/fail")
    assert published == [Publish("comments-1", "added")]
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("session", [None, "session", object()])
def test_needs_a_session(testing_app: Flask, ext: FanoutExt, session: Any) -> None:
    with (
        testing_app.app_context(),
        pytest.raises(TypeError, match="SQLAlchemy Session"),
    ):
        ext.publish_after_commit(session, "c", 1)
