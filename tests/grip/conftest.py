"""Fixtures for the GRIP tests: real Pushpin instances, a scripted GRIP
origin, and the example app behind each of the two proxies.

The pieces are in :mod:`tests.helpers.pushpin` and
:mod:`tests.helpers.grip_proxies`; here they become fixtures that stop
whatever a test started, even when it fails half-way.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.pushpin import GripOrigin
from tests.helpers.pushpin import Pushpin

PushpinFactory = Callable[..., Pushpin]


@pytest.fixture
def pushpin_factory(pushpin_binary: str) -> Iterator[PushpinFactory]:
    """``pushpin_factory(origin_port, **options)``: a started :class:`Pushpin`.

    Options are :class:`Pushpin`'s (``sig_key``, ``sig_iss``,
    ``route_options``, ``config``, ...). Every instance is stopped and its
    directory removed at teardown, in reverse order of creation.
    """
    instances: list[Pushpin] = []

    def make(origin_port: int | list[int], **options: Any) -> Pushpin:
        instance = Pushpin(origin_port, **options)
        instances.append(instance)
        return instance.start()

    yield make
    errors = []
    for instance in reversed(instances):
        try:
            instance.close()
        except Exception as exc:  # report every instance, not just the first
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def grip_origin() -> Iterator[GripOrigin]:
    """A :class:`GripOrigin` on a free port that checks Pushpin's default test key."""
    with GripOrigin() as origin:
        yield origin
