"""Small HTTP helpers shared by the emulator's routes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["BodyTooLarge", "json_error", "origin_of", "read_limited"]


class BodyTooLarge(Exception):
    """The request body is over the configured limit (answered with 413)."""


def json_error(status: int, error: str, message: str | None = None, **extra: Any) -> JSONResponse:
    """A JSON error response ``{"error", "message"?, ...}``.

    Example:
        >>> json_error(404, "not_found").status_code
        404
    """
    body: dict[str, Any] = {"error": error}
    if message is not None:
        body["message"] = message
    body.update(extra)
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


async def read_limited(request: Request, limit: int) -> bytes:
    """Read the whole body, refusing more than ``limit`` bytes.

    Raises:
        BodyTooLarge: ``Content-Length`` or the bytes received exceed ``limit``.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def origin_of(request: Request) -> tuple[str, str]:
    """The request's ``(scheme, host)``, host as the client sent it (``Host`` header).

    Example:
        >>> from starlette.requests import Request
        >>> scope = {"type": "http", "scheme": "http", "path": "/", "query_string": b"",
        ...          "headers": [(b"host", b"h:1")]}
        >>> origin_of(Request(scope))
        ('http', 'h:1')
    """
    host = request.headers.get("host") or request.url.netloc
    return request.url.scheme, host
