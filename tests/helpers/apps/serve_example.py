"""Serve the example app in its own process, for the scale-out tests.

``python -m tests.helpers.apps.serve_example PORT SETTINGS``

``SETTINGS`` is a JSON object of config values. Prints ``serving on <url>``
once listening, then serves until terminated. The scale-out tests run two of
these, as two app servers behind two GRIP proxies.
"""

from __future__ import annotations

import json
import sys

from werkzeug.serving import make_server

from example.app import create_app


def main() -> None:
    port = int(sys.argv[1])
    settings = json.loads(sys.argv[2])
    app = create_app(settings)
    server = make_server("127.0.0.1", port, app, threaded=True)
    print(f"serving on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
