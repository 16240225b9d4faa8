"""A small app publishing through FanoutExt, for the CLI and gunicorn tests.

Environment: ``REALM_URL`` points publishing at a realm; ``REALM_ID`` and
``REALM_KEY`` configure a non-default realm.
"""

from __future__ import annotations

import os

from flask import Flask
from flask import jsonify
from flask.typing import ResponseReturnValue

from flask_fanout import FanoutExt

fanout = FanoutExt()


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["FANOUT_SUPPRESS_SEND"] = False
    app.config["FANOUT_LOCAL_REALM_EMBED"] = False
    # A standalone realm in front of several workers: intended.
    app.config["FANOUT_USE_LOCAL_REALM"] = True
    if "REALM_ID" in os.environ:
        app.config["FANOUT_REALM_ID"] = os.environ["REALM_ID"]
        app.config["FANOUT_REALM_KEY"] = os.environ["REALM_KEY"]
    if "REALM_URL" in os.environ:
        realm_id = os.environ.get("REALM_ID", "local")
        app.config["FANOUT_PUBLISH_URL"] = f"{os.environ['REALM_URL']}/realm/{realm_id}"
    fanout.init_app(app)

    @app.post("/publish/<int:number>")
    def publish(number: int) -> ResponseReturnValue:
        fanout.publish("workers", {"n": number, "pid": os.getpid()}, blocking=True)
        return jsonify(pid=os.getpid())

    return app


app = create_app()
