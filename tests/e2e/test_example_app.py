"""The example app's routes, with Flask's test client (no browser).

The browser scenarios rely on this contract; checking it directly makes a
broken route fail here, with a clear message, rather than as a timeout in
Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_fanout import FanoutExt


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    from example.app import create_app

    return create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/t.sqlite"}
    )


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


def fanout_of(app: Flask) -> FanoutExt:
    ext = app.extensions["fanout"]
    assert isinstance(ext, FanoutExt)
    return ext


def test_index_lists_the_seeded_pages(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert len(re.findall(r'href="/pages/\d+"', html)) == 3
    assert len(re.findall(r'href="/pages/\d+/live"', html)) == 3
    assert "flask-fanout-config" in html


def test_page_renders_the_contract(client: FlaskClient) -> None:
    client.post("/pages/1/comments", json={"comment": "first"})
    html = client.get("/pages/1").get_data(as_text=True)
    assert 'id="comments"' in html
    assert 'class="comment" id="c1" data-id="1"' in html
    assert 'id="comment-form"' in html and 'name="comment"' in html
    assert 'data-fanout-channel="comments-1"' in html
    assert 'data-comments-url="/pages/1/comments"' in html
    assert "<script>" not in html, "no inline script: strict CSP must work"
    assert "style=" not in html
    assert client.get("/pages/99").status_code == 404


def test_posting_publishes_a_hint_on_the_pages_channel(
    app: Flask, client: FlaskClient
) -> None:
    with fanout_of(app).record_publishes(app) as published:
        json_post = client.post("/pages/2/comments", json={"comment": "via JSON"})
        form_post = client.post("/pages/2/comments", data={"comment": "via form"})
    assert json_post.status_code == 201
    assert json_post.json == {
        "id": 1,
        "author": "Anonymous",
        "body": "via JSON",
        "created_at": json_post.json["created_at"],  # type: ignore[index]
    }
    assert form_post.status_code == 303
    assert form_post.headers["Location"].endswith("/pages/2#c2")
    assert [(p.channel, p.data) for p in published] == [
        ("comments-2", {"page": 2, "comment": 1}),
        ("comments-2", {"page": 2, "comment": 2}),
    ]


def test_invalid_comments_are_refused_and_publish_nothing(
    app: Flask, client: FlaskClient
) -> None:
    with fanout_of(app).record_publishes(app) as published:
        empty = client.post("/pages/1/comments", json={"comment": "   "})
        huge = client.post("/pages/1/comments", json={"comment": "x" * 2001})
        not_object = client.post("/pages/1/comments", json=["comment"])
        form = client.post("/pages/1/comments", data={"comment": ""})
        missing = client.post("/pages/42/comments", json={"comment": "hi"})
    assert empty.status_code == 400 and "error" in empty.json  # type: ignore[operator]
    assert huge.status_code == 400
    assert not_object.status_code == 400
    assert form.status_code == 303
    assert missing.status_code == 404
    assert published == []
    assert client.get("/pages/1/comments").json["comments"] == []  # type: ignore[index]


def test_since_returns_only_newer_comments(client: FlaskClient) -> None:
    client.post("/login", data={"name": "ann"})  # page 3 is private
    for n in range(5):
        client.post("/pages/3/comments", json={"comment": f"c{n}", "author": "ann"})
    client.post("/pages/1/comments", json={"comment": "elsewhere"})
    response = client.get("/pages/3/comments?since=2")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body is not None
    assert [c["id"] for c in body["comments"]] == [3, 4, 5]
    assert [c["author"] for c in body["comments"]] == ["ann"] * 3
    assert body["last_id"] == 5 and body["more"] is False
    assert client.get("/pages/3/comments?since=5").json == {
        "comments": [],
        "last_id": 5,
        "more": False,
    }
    assert client.get("/pages/3/comments?since=junk").json["last_id"] == 5  # type: ignore[index]


def test_comment_text_is_escaped_in_the_page(client: FlaskClient) -> None:
    client.post("/pages/1/comments", json={"comment": "<img src=x onerror=alert(1)>"})
    html = client.get("/pages/1").get_data(as_text=True)
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_module_level_app_is_lazy() -> None:
    import example.app as module

    assert "_default_app" in vars(module)
    with pytest.raises(AttributeError):
        _ = module.no_such_thing


def test_the_private_page_needs_a_session_login(client: FlaskClient) -> None:
    assert client.get("/pages/3").status_code == 403
    assert "Members only" in client.get("/pages/3").get_data(as_text=True)
    assert client.get("/pages/3/comments").status_code == 403
    assert client.get("/pages/3/live").status_code == 403
    assert client.get("/pages/3/fragment").status_code == 403
    assert client.post("/pages/3/comments", json={"comment": "x"}).status_code == 403
    response = client.post(
        "/login", data={"name": "ada"}, headers={"Referer": "/pages/3"}
    )
    assert (response.status_code, response.headers["Location"]) == (303, "/pages/3")
    assert client.get("/pages/3").status_code == 200
    assert "ada" in client.get("/").get_data(as_text=True)
    assert client.post("/logout").status_code == 303
    assert client.get("/pages/3").status_code == 403
    assert client.post("/login", data={"name": " "}).status_code == 303
    assert client.get("/pages/3").status_code == 403


def test_the_authorizer_mirrors_the_pages(app: Flask) -> None:
    from example.app import can_read

    with app.test_request_context("/"):
        assert can_read("comments-1") and can_read("comments-2")
        assert not can_read("comments-3")
    with app.test_request_context("/"):
        from flask import session

        session["user"] = "ada"
        assert can_read("comments-3")


def test_the_htmx_page_and_its_fragment(client: FlaskClient) -> None:
    client.post("/pages/1/comments", json={"comment": "first"})
    html = client.get("/pages/1/live").get_data(as_text=True)
    assert 'data-fanout-subscribe="comments-1"' in html
    assert 'hx-trigger="fanout:comments-1 from:body"' in html
    assert "vendor/htmx.min.js" in html
    assert "<script>" not in html  # no inline page script
    fragment = client.get("/pages/1/fragment")
    assert fragment.headers["Cache-Control"] == "no-store"
    assert 'id="c1"' in fragment.get_data(as_text=True)
    posted = client.post(
        "/pages/1/comments", data={"comment": "second"}, headers={"HX-Request": "true"}
    )
    assert posted.status_code == 200
    assert 'id="live-form"' in posted.get_data(as_text=True)
    assert 'id="c2"' in client.get("/pages/1/fragment").get_data(as_text=True)


def test_flask_app_example_finds_the_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `flask --app example run` failed in 0.1 ("Failed to find Flask
    # application or factory in module 'example'").
    from flask.cli import ScriptInfo

    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")  # as `flask` sets it
    monkeypatch.setenv("SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path}/x.sqlite")
    app = ScriptInfo(app_import_path="example").load_app()
    assert app.name == "example.app"
