"""An app that embeds the local realm under ``flask run``, as a new project does.

Environment: ``REALM_PORT`` is the embedded realm's port.
"""

from __future__ import annotations

import os

from flask import Flask

from flask_fanout import FanoutExt

app = Flask(__name__)
app.config["FANOUT_LOCAL_REALM_PORT"] = int(os.environ["REALM_PORT"])
fanout = FanoutExt(app)


@app.get("/")
def index() -> str:
    return "ok"
