"""Fixtures for the GRIP tests: real Pushpin instances, a scripted GRIP
origin, and the example app behind each of the two proxies.

The pieces are in :mod:`tests.helpers.pushpin` and
:mod:`tests.helpers.grip_proxies`; here they become fixtures that stop
whatever a test started, even when it fails half-way.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.grip_proxies import GripStack
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "grip_config(**settings): app settings for the `stack` fixture's app",
    )


@pytest.fixture(params=["pushpin", "local"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GripStack]:
    """The example app behind a real Pushpin, then behind the local realm
    standing in for one: every test using it runs on both.

    ``@pytest.mark.grip_config(FANOUT_…=…)`` adds app settings.
    """
    if request.param == "pushpin":
        request.getfixturevalue("pushpin_binary")
    marker = request.node.get_closest_marker("grip_config")
    config = dict(marker.kwargs) if marker is not None else {}
    grip_stack = GripStack(request.param, tmp_path / "app.sqlite", {}, **config)
    try:
        yield grip_stack
    finally:
        grip_stack.close()
