"""Reading request bodies: one reader, one size check, one error type.

The publish API and the Bayeux HTTP transports read their bodies through
:func:`read_text`, and everything a client sent wrong is a
:class:`Refusal` carrying the HTTP status it is answered with (and so the
kind it is counted under in ``/stats``). The reader stops at the limit
instead of buffering what follows, gives up on a body that trickles in
slower than ``timeout``, and accepts only UTF-8: JSON over HTTP is UTF-8
(RFC 8259), whereas :func:`json.loads` on bytes would guess UTF-16 and
UTF-32 too.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

#: How each refusal status is counted in ``/stats`` (``publish_<kind>``).
_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    408: "timeout",
    413: "too_large",
    415: "unsupported_media_type",
}
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_UTF8 = frozenset({"utf-8", "utf8"})


class Refusal(Exception):
    """A request answered with a 4xx status and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def body_unread(self) -> bool:
        """Whether the body may be partly unread: then the connection must
        close rather than wait for (or read) the rest."""
        return self.status in (408, 413)

    @property
    def kind(self) -> str:
        """A short name for what was wrong, for error statistics."""
        return _KINDS.get(self.status, str(self.status))


async def read_text(request: web.Request, limit: int, timeout: float) -> str:
    """The request body as text, at most ``limit`` bytes of UTF-8.

    :raises Refusal: 413 past ``limit`` (declared or actual), 408 when the
        body takes longer than ``timeout`` seconds, 415 for a declared charset
        other than UTF-8, 400 for a byte-order mark or bytes that are not
        UTF-8.
    """
    too_large = Refusal(413, f"Body larger than {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    charset = request.charset
    if charset is not None and charset.lower() not in _UTF8:
        raise Refusal(415, f"charset={charset[:32]} is not accepted: send UTF-8")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise Refusal(408, f"Body not received within {timeout:g} s") from None
    body = b"".join(chunks)
    if body.startswith(_BOMS):
        raise Refusal(400, "Body starts with a byte-order mark: send UTF-8 JSON")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "Body is not UTF-8 (JSON over HTTP is UTF-8)") from None
