"""Streaming a run's file from its presigned link to disk: size cap, pace floor, atomic write."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

from ..core.exceptions import (
    FileTooLargeError,
    GigaProtocolError,
    GigaTransportError,
    LinkExpiredError,
    RunFileNotFoundError,
)
from ..core.exchange import Exchange
from ..core.http import transport_errors
from ..core.models import PresignedURL
from .files import write_stream_atomically

__all__ = ["MIN_DOWNLOAD_RATE", "stream_to_file"]

MIN_DOWNLOAD_RATE = 16 * 1024
"""Bytes per second a download must average, after its first ``timeout`` seconds."""


async def stream_to_file(
    exchange: Exchange,
    link: PresignedURL,
    target: Path,
    *,
    max_bytes: int | None,
    path: str,
) -> tuple[int, str]:
    """Stream the file behind ``link`` into ``target``; returns its size and SHA-256.

    Raises:
        LinkExpiredError: The link was refused (401, 403, 410).
        RunFileNotFoundError: The file is gone (404).
        FileTooLargeError: The file is over ``max_bytes``; nothing is kept.
        GigaTransportError: The transfer failed or went slower than `MIN_DOWNLOAD_RATE`.

    Example:
        ```python
        size, sha256 = await stream_to_file(exchange, link, Path("out/report.md"),
                                            max_bytes=None, path="report.md")
        ```
    """
    what = f"download of {path!r}"
    url = link.url.get_secret_value()
    with transport_errors(what):
        async with (
            exchange.slots,
            exchange.http.stream("GET", url, follow_redirects=True) as response,
        ):
            if response.status_code in (401, 403, 410):
                raise LinkExpiredError(
                    f"{what}: the presigned link was refused (HTTP {response.status_code}); "
                    "it may have expired"
                )
            if response.status_code == 404:
                raise RunFileNotFoundError(f"{what}: the file is gone (HTTP 404)")
            if response.status_code != 200:
                await response.aread()
                exchange.check(response, what)
                raise GigaProtocolError(f"{what}: unexpected HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            cap = max_bytes
            if cap is not None and declared and declared.isdigit() and int(declared) > cap:
                raise FileTooLargeError(
                    f"{what}: the file is {declared} bytes, above the {cap}-byte cap; "
                    "nothing was written"
                )
            chunks = _paced(response.aiter_bytes(), exchange.timeout, what)
            return await write_stream_atomically(chunks, target, max_bytes=cap)


async def _paced(chunks: AsyncIterator[bytes], grace: float, what: str) -> AsyncIterator[bytes]:
    """Pass ``chunks`` on while the stream averages `MIN_DOWNLOAD_RATE` after ``grace`` s.

    httpx's read timeout restarts with every byte, so a server trickling bytes forever would
    otherwise hold a download open for ever.
    """
    started = time.monotonic()
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if time.monotonic() - started > grace + received / MIN_DOWNLOAD_RATE:
            raise GigaTransportError(
                f"{what}: the server sends too slowly ({received} bytes in "
                f"{time.monotonic() - started:.0f} s); giving up"
            )
        yield chunk
