"""What the extension can publish, the realm accepts: prefix + name, end to end.

The cases come from the shared table ``tests/channels.json``. In 0.1 the
realm checked wire channels (prefix included) with the rule for names
without it, so a 64-character prefix plus a 136-character name, valid for
``publish()``, was refused with 400 and the whole batch lost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_fanout import FanoutExt
from flask_fanout._channels import MAX_WIRE_LENGTH
from flask_fanout.realm import LocalRealm
from tests.helpers.realm import BayeuxHttp
from tests.helpers.realm import publish

CASES = json.loads((Path(__file__).parents[1] / "channels.json").read_text())
LONGEST_PREFIX = max(CASES["valid_prefixes"], key=len)
LONGEST_NAME = "n" * CASES["max_length"]


def test_the_wire_limit_is_the_longest_prefix_plus_the_longest_name() -> None:
    assert MAX_WIRE_LENGTH == CASES["max_prefix_length"] + CASES["max_length"] == 192
    assert len(LONGEST_PREFIX) == CASES["max_prefix_length"]


@pytest.mark.parametrize("name", CASES["valid"])
def test_every_valid_name_under_the_longest_prefix_is_delivered(
    realm: LocalRealm, bayeux: BayeuxHttp, name: str
) -> None:
    wire = LONGEST_PREFIX + name
    bayeux.subscribe("/" + wire)
    response = publish(realm.url, [{"channel": wire, "json-object": {"n": 1}}])
    assert response.status_code == 200, response.text
    assert response.json()["delivered"] == 1
    (event,) = bayeux.events(timeout_ms=0)
    assert event["channel"] == "/" + wire and event["data"] == {"n": 1}


@pytest.mark.parametrize(
    "wire",
    [
        # The shared invalid names, except the one that is only too long
        # without a prefix (129 characters are a valid wire channel).
        *(n for n in CASES["invalid"] if len(n) <= CASES["max_length"]),
        "x" * (MAX_WIRE_LENGTH + 1),
    ],
)
def test_invalid_wire_channels_are_refused(realm: LocalRealm, wire: str) -> None:
    response = publish(realm.url, [{"channel": wire, "json-object": 1}])
    assert response.status_code == 400
    assert "channel" in response.json()["error"]
    assert realm.stats()["messages_published"] == 0


def test_longest_prefix_and_name_through_the_extension(
    realm: LocalRealm, bayeux: BayeuxHttp
) -> None:
    """The regression: publish() accepts it, so the subscriber must get it."""
    app = Flask(__name__)
    app.config.update(
        FANOUT_SUPPRESS_SEND=False,
        FANOUT_PUBLISH_URL=realm.publish_url,
        FANOUT_BAYEUX_URL=realm.bayeux_url,
        FANOUT_LOCAL_REALM_EMBED=False,
        FANOUT_CHANNEL_PREFIX=LONGEST_PREFIX,
        FANOUT_USE_LOCAL_REALM=True,
    )
    ext = FanoutExt(app)
    wire = "/" + LONGEST_PREFIX + LONGEST_NAME
    assert len(wire) == 1 + MAX_WIRE_LENGTH
    bayeux.subscribe(wire)
    with app.app_context():
        ext.publish(LONGEST_NAME, {"long": True}, blocking=True)
        ext.publish("short", 2, blocking=True)
        ext.close(5)
    events: list[dict[str, Any]] = bayeux.events(timeout_ms=0)
    assert [(e["channel"], e["data"]) for e in events] == [(wire, {"long": True})]
