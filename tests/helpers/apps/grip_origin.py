"""A tiny GRIP origin: the stream endpoint as ``docs/protocol.md`` specifies it.

Plain WSGI (werkzeug request/response objects), not a Flask-Fanout app: it
emits the GRIP headers by hand, exactly as the extension's stream view will,
so the realm's GRIP stand-in can be tested before that view exists. It
checks ``Grip-Sig`` with PyJWT (HS256, ``exp`` required, ``iss`` checked)
and answers 403 ``text/plain`` naming the problem, and records every request
it received so tests can look at what the proxy forwarded.

``GET …/_fanout/events`` query, beyond ``channel=`` (repeated) and
``mode=poll``, takes knobs for tests: ``deny=<channel>`` (the authorizer
refuses it), ``ka=<s>`` and ``kamode=`` (keep-alive), ``keepalive=`` (the
whole ``Grip-Keep-Alive`` value), ``timeout=<s>`` (poll), ``prev=<id>`` (a
prev-id on every channel), ``gripstatus=`` (``Grip-Status``),
``status=<code>&text=`` (a plain answer without ``Grip-Hold``), ``echo=1`` (a non-GRIP
JSON answer describing the request), ``sleep=<s>`` (answer that late),
``big=<bytes>`` (a first body that large).

``POST /publish`` with ``{"channel", "data"}`` publishes one hint to the
realm at ``GRIP_REALM_URL`` (the gunicorn scenario: every worker publishes).

Environment (for gunicorn): ``GRIP_SIG_KEY`` (base64, default the local
realm's development key), ``GRIP_SIG_ISS`` (default ``local``),
``GRIP_REALM_URL``.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

import jwt
import requests
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

#: The local realm's development key and id (``flask_fanout._local``),
#: repeated so this module imports nothing from the package under test.
DEV_KEY = b"flask-fanout local realm dev key"
DEV_ISS = "local"
KEEP_ALIVE = "Grip-Keep-Alive"
#: The keep-alive event of the wire contract, as the cstring the header holds.
KEEP_ALIVE_EVENT = "event: keep-alive\\ndata: {}\\n\\n"


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def hint_item(
    channel: str,
    data: Any,
    *,
    wire_channel: str | None = None,
    item_id: str | None = None,
    prev_id: str | None = None,
) -> dict[str, Any]:
    """A GRIP item carrying one hint, in both formats the protocol defines."""
    hint = {"channel": channel, "data": data}
    item: dict[str, Any] = {
        "channel": wire_channel or channel,
        "formats": {
            "http-stream": {"content": f"event: message\ndata: {compact(hint)}\n\n"},
            "http-response": {
                "code": 200,
                "headers": {
                    "Content-Type": "application/json",
                    "Cache-Control": "no-store",
                },
                "body": compact({"hints": [hint]}),
            },
        },
    }
    if item_id is not None:
        item["id"] = item_id
    if prev_id is not None:
        item["prev-id"] = prev_id
    return item


def publish_token(key: bytes = DEV_KEY, iss: str = DEV_ISS) -> str:
    return jwt.encode({"iss": iss, "exp": int(time.time()) + 600}, key, "HS256")


def check_sig(token: str | None, key: bytes, iss: str) -> str | None:
    """Why ``token`` is not a valid Grip-Sig, or ``None`` when it is."""
    if not token:
        return "missing"
    try:
        jwt.decode(
            token, key, algorithms=["HS256"], issuer=iss, options={"require": ["exp"]}
        )
    except jwt.ExpiredSignatureError:
        return "expired"
    except jwt.InvalidIssuerError:
        return "wrong issuer"
    except jwt.PyJWTError:
        return "invalid signature"
    return None


class GripOrigin:
    """The WSGI app. ``received`` lists every request, newest last."""

    def __init__(
        self, key: bytes = DEV_KEY, iss: str = DEV_ISS, realm_url: str | None = None
    ) -> None:
        self.key = key
        self.iss = iss
        self.realm_url = realm_url
        self.received: list[dict[str, Any]] = []
        self.cond = threading.Condition()

    def wait_requests(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.received) >= count, timeout)
            assert ok, f"origin: wanted {count} requests, got {len(self.received)}"
            return list(self.received)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        record = {
            "method": request.method,
            "path": request.path,
            "raw_uri": environ.get("RAW_URI") or environ.get("REQUEST_URI"),
            "query": request.query_string.decode("latin-1"),
            "headers": list(request.headers.items()),
            "pid": os.getpid(),
        }
        with self.cond:
            self.received.append(record)
            self.cond.notify_all()
        if request.path.endswith("/_fanout/events") and request.method == "GET":
            response = self.stream_endpoint(request, record)
        elif request.path == "/publish" and request.method == "POST":
            response = self.publish(request)
        elif request.path == "/pid":
            response = Response(str(os.getpid()), mimetype="text/plain")
        else:
            response = Response("not found\n", status=404, mimetype="text/plain")
        response.headers["X-Origin-Pid"] = str(os.getpid())
        return response(environ, start_response)

    def stream_endpoint(self, request: Request, record: dict[str, Any]) -> Response:
        args = request.args
        if "sleep" in args:
            time.sleep(float(args["sleep"]))
        if "status" in args:
            plain = Response(
                args.get("text", ""), status=int(args["status"]), mimetype="text/plain"
            )
            # Headers with no Grip-Hold: the proxy passes the answer on
            # without following them.
            plain.headers["Grip-Channel"] = "not-held"
            plain.headers["X-From-App"] = "yes"
            return plain
        problem = check_sig(request.headers.get("Grip-Sig"), self.key, self.iss)
        record["sig_problem"] = problem
        if problem is not None:
            return Response(f"Grip-Sig {problem}\n", status=403, mimetype="text/plain")
        if "echo" in args:
            body = compact({k: v for k, v in record.items() if k != "pid"})
            response = Response(body, mimetype="application/json")
            response.headers["Set-Cookie"] = "a=1; Path=/"
            response.headers.add("Set-Cookie", "b=2; Path=/")
            return response
        requested = args.getlist("channel")
        if not requested:
            return Response("no channel\n", status=400, mimetype="text/plain")
        denied = [c for c in requested if c in args.getlist("deny")]
        channels = [c for c in requested if c not in denied]
        prev = args.get("prev")
        grip_channel = ", ".join(
            f"{c}; prev-id={prev}" if prev is not None else c for c in channels
        )
        if args.get("mode") == "poll":
            body = compact(
                {"channels": channels, "denied": denied, "hints": [], "retry": None}
            )
            response = Response(body, mimetype="application/json")
            response.headers["Cache-Control"] = "no-store"
            if channels and not denied:
                response.headers["Grip-Hold"] = "response"
                response.headers["Grip-Channel"] = grip_channel
                response.headers["Grip-Timeout"] = args.get("timeout", "25")
            return response
        ready = compact({"channels": channels, "denied": denied})
        body = f"retry: 2000\nevent: ready\ndata: {ready}\n\n"
        if "big" in args:
            body += ":" + "x" * int(args["big"]) + "\n\n"
        response = Response(body, mimetype="text/event-stream")
        response.headers["Cache-Control"] = "no-store"
        if channels:
            response.headers["Grip-Hold"] = "stream"
            response.headers["Grip-Channel"] = grip_channel
            keep_alive = (
                f"{KEEP_ALIVE_EVENT}; format=cstring; timeout={args.get('ka', '20')}"
            )
            if "kamode" in args:
                keep_alive += f"; mode={args['kamode']}"
            response.headers[KEEP_ALIVE] = args.get("keepalive", keep_alive)
        if "gripstatus" in args:
            response.headers["Grip-Status"] = args["gripstatus"]
        return response

    def publish(self, request: Request) -> Response:
        assert self.realm_url, "GRIP_REALM_URL is not set"
        payload = request.get_json()
        item = hint_item(payload["channel"], payload["data"])
        answer = requests.post(
            f"{self.realm_url}/publish/",
            json={"items": [item]},
            headers={"Authorization": f"Bearer {publish_token(self.key, self.iss)}"},
            timeout=10,
        )
        body = {
            "pid": os.getpid(),
            "status": answer.status_code,
            "result": answer.json(),
        }
        return Response(compact(body), mimetype="application/json")


def _env_key() -> bytes:
    value = os.environ.get("GRIP_SIG_KEY")
    return base64.b64decode(value) if value else DEV_KEY


app = GripOrigin(
    key=_env_key(),
    iss=os.environ.get("GRIP_SIG_ISS", DEV_ISS),
    realm_url=os.environ.get("GRIP_REALM_URL"),
)
