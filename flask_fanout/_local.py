"""Defaults shared by the extension and the local realm.

When no ``FANOUT_REALM_ID`` is configured, the extension and the local realm
must agree on a realm id and key without any set-up, including across
processes (a standalone ``flask fanout realm`` in front of several gunicorn
workers). So the local realm uses a fixed, documented development key. It is
only ever served on loopback and is not a secret: production realms always
come from configuration.
"""

from __future__ import annotations

import base64

LOCAL_REALM_ID = "local"
#: 32 raw bytes, so PyJWT does not warn about a short HMAC key.
LOCAL_REALM_KEY = base64.b64encode(b"flask-fanout local realm dev key").decode("ascii")
LOCAL_REALM_HOST = "127.0.0.1"
LOCAL_REALM_PORT = 7999
