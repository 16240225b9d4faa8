"""Fixtures for the GRIP tests: real Pushpin instances and a scripted GRIP origin.

The pieces are in :mod:`tests.helpers.pushpin`; here they become fixtures
that stop whatever a test started, even when it fails half-way.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.pushpin import GripOrigin
from tests.helpers.pushpin import Pushpin
from tests.helpers.pushpin import require_pushpin

PushpinFactory = Callable[..., Pushpin]


@pytest.fixture(scope="session")
def pushpin_binary() -> str:
    """Debian's ``pushpin``: if missing, a failure, or a skip with
    ``FLASK_FANOUT_SKIP_PUSHPIN=1`` (see :func:`require_pushpin`)."""
    return require_pushpin()


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
