"""Typed fixtures for the local realm's tests (helpers: ``tests.helpers.realm``)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest

from flask_fanout.realm import LocalRealm
from tests.helpers.realm import FAST
from tests.helpers.realm import BayeuxHttp
from tests.helpers.realm import FayeNode
from tests.helpers.realm import RealmProcess
from tests.helpers.realm import realm_argv


@pytest.fixture
def make_realm() -> Iterator[Callable[..., LocalRealm]]:
    """Start LocalRealms on free ports (fast timeouts by default); stop them after."""
    started: list[LocalRealm] = []

    def factory(**options: Any) -> LocalRealm:
        options.setdefault("limits", FAST)
        realm = LocalRealm(port=0, **options).start()
        started.append(realm)
        return realm

    yield factory
    for realm in started:
        realm.stop()


@pytest.fixture
def realm(make_realm: Callable[..., LocalRealm]) -> LocalRealm:
    return make_realm()


@pytest.fixture
def bayeux(realm: LocalRealm) -> Iterator[BayeuxHttp]:
    client = BayeuxHttp(realm.bayeux_url)
    client.handshake()
    yield client
    client.close()


@pytest.fixture
def realm_process() -> Iterator[Callable[..., RealmProcess]]:
    """Start ``python -m flask_fanout.realm`` subprocesses; kill them after."""
    started: list[RealmProcess] = []

    def factory(*args: str) -> RealmProcess:
        process = RealmProcess(realm_argv(*args))
        started.append(process)
        return process

    yield factory
    for process in started:
        process.kill()


@pytest.fixture
def faye() -> Iterator[Callable[[str, str], FayeNode]]:
    clients: list[FayeNode] = []

    def factory(bayeux_url: str, transport: str) -> FayeNode:
        client = FayeNode(bayeux_url, transport)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()
