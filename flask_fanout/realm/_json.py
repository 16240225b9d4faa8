"""JSON as the realm reads and writes it: what browsers can parse, nothing more.

Python's :mod:`json` accepts and writes ``NaN``, ``Infinity`` and
``-Infinity``, and parses any number too large for a float (``1e999``,
``-2E400``) as infinity. A browser's ``JSON.parse`` rejects those words, so
one such value in a hint would make every subscriber's client throw on the
frame or the long-polling response carrying it, losing the valid hints that
share it. So :func:`loads` refuses a non-finite number anywhere in a
document, however it is spelled, and :func:`dumps` refuses to write one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any


class JSONRejected(ValueError):
    """A document the realm does not accept, with the reason."""


def _refuse_constant(name: str) -> Any:
    raise JSONRejected(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONRejected(f"the number {text[:32]} is too large for a browser")
    return value


def loads(text: str, max_depth: int) -> Any:
    """Parse ``text`` (already decoded from UTF-8) as strict JSON.

    :raises JSONRejected: for invalid JSON, a non-finite number, or nesting
        deeper than ``max_depth``.
    """
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except JSONRejected:
        raise
    except RecursionError:
        raise JSONRejected("JSON is nested too deeply") from None
    except ValueError as exc:
        raise JSONRejected("not valid JSON") from exc
    if not depth_ok(value, max_depth):
        raise JSONRejected("JSON is nested too deeply")
    return value


def depth_ok(value: Any, max_depth: int) -> bool:
    """Whether ``value`` nests containers no deeper than ``max_depth``.

    Iterative, so a hostile document cannot exhaust the Python stack here.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def dumps(value: Any) -> str:
    """Compact JSON, ASCII only, never ``NaN`` or ``Infinity``.

    ASCII because strings from clients and publishers may hold lone
    surrogates (``"\\ud800"`` is valid JSON): escaped, they stay valid JSON
    that browsers parse; left raw, they cannot be encoded as UTF-8 and the
    response or frame that carries them fails.

    :raises ValueError: for a non-finite float (only Python callers, such as
        :meth:`flask_fanout.realm.LocalRealm.publish`, can pass one).
    """
    return json.dumps(value, separators=(",", ":"), allow_nan=False)
