"""Streaming a run's file from its checked presigned link to disk: caps, pace, atomic write."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx

from ..core.exceptions import (
    FileTooLargeError,
    GigaProtocolError,
    GigaTransportError,
    LinkExpiredError,
    RunFileNotFoundError,
)
from ..core.exchange import Exchange
from ..core.http import RetryPolicy, transport_errors
from ..core.models import PresignedURL
from .files import ByteBudget, write_stream_atomically
from .links import SafeLinks

__all__ = ["MIN_DOWNLOAD_RATE", "fetch_run_file", "stream_to_file"]

MIN_DOWNLOAD_RATE = 16 * 1024
"""Bytes per second a download must average, after its first ``timeout`` seconds."""


async def fetch_run_file(
    exchange: Exchange,
    links: SafeLinks,
    retry: RetryPolicy,
    fresh_link: Callable[[], Awaitable[PresignedURL]],
    target: Path,
    *,
    root: Path,
    max_bytes: int | None,
    path: str,
    budget: ByteBudget | None = None,
) -> tuple[int, str]:
    """Download a run's file with a fresh link, retried; one more fresh link if it expired.

    Raises:
        LinkExpiredError: The server refused two fresh links in a row.

    Example:
        ```python
        size, sha256 = await fetch_run_file(exchange, links, RetryPolicy(),
            lambda: giga.file_url(run_id, "a.md"), Path("out/a.md"), root=Path("out"),
            max_bytes=None, path="a.md")
        ```
    """

    async def stream(link: PresignedURL) -> tuple[int, str]:
        return await retry.call(
            lambda: stream_to_file(
                exchange,
                links,
                link,
                target,
                max_bytes=max_bytes,
                path=path,
                root=root,
                budget=budget,
            )
        )

    try:
        return await stream(await fresh_link())
    except LinkExpiredError:  # one fresh link, then give up
        return await stream(await fresh_link())


async def stream_to_file(
    exchange: Exchange,
    links: SafeLinks,
    link: PresignedURL,
    target: Path,
    *,
    max_bytes: int | None,
    path: str,
    root: Path | None = None,
    budget: ByteBudget | None = None,
) -> tuple[int, str]:
    """Stream the file behind ``link`` into ``target``; returns its size and SHA-256.

    The link and every redirect are checked by ``links`` before anything is fetched; a
    ``Content-Length`` the body does not match (more bytes or fewer) loses the whole file.

    Args:
        exchange: The API exchange (its admission slots and timeout).
        links: The link policy and the pool links are fetched with.
        link: The presigned link.
        target: Where the file lands.
        max_bytes: The largest file kept (``None``: no cap).
        path: The file's path in the run, for messages.
        root: The folder ``target`` must resolve inside, checked again just before writing.
        budget: A byte budget shared with other files (a per-run cap).

    Raises:
        UnsafeLinkError: The link or a redirect points where links may not; nothing fetched.
        LinkExpiredError: The link was refused (401, 403, 410).
        RunFileNotFoundError: The file is gone (404).
        FileTooLargeError: The file is over ``max_bytes`` or the budget; nothing is kept.
        GigaProtocolError: The body does not match its ``Content-Length``; nothing is kept.
        GigaTransportError: The transfer failed or went slower than `MIN_DOWNLOAD_RATE`.

    Example:
        ```python
        size, sha256 = await stream_to_file(exchange, links, link, Path("out/report.md"),
                                            max_bytes=None, path="report.md")
        ```
    """
    what = f"download of {path!r}"
    url = link.url.get_secret_value()
    with transport_errors(what):
        async with exchange.slots, links.open(url, what) as response:
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
            declared = _declared_length(response, what)
            if max_bytes is not None and declared is not None and declared > max_bytes:
                raise FileTooLargeError(
                    f"{what}: the file is {declared} bytes, above the {max_bytes}-byte cap; "
                    "nothing was written"
                )
            chunks = _paced(_as_declared(response, declared, what), exchange.timeout, what)
            if budget is not None:
                chunks = budget.metered(chunks, what)
            return await write_stream_atomically(chunks, target, max_bytes=max_bytes, root=root)


def _declared_length(response: httpx.Response, what: str) -> int | None:
    values = response.headers.get_list("content-length")
    if not values:
        return None
    if len(set(values)) != 1 or not values[0].strip().isdigit():
        raise GigaProtocolError(f"{what}: the reply's Content-Length is not one number")
    return int(values[0].strip())


async def _as_declared(
    response: httpx.Response, declared: int | None, what: str
) -> AsyncIterator[bytes]:
    """The body's chunks, refusing a body longer or shorter than its ``Content-Length``.

    The length counts bytes on the wire (before any ``Content-Encoding`` is decoded).
    """
    async for chunk in response.aiter_bytes():
        if declared is not None and response.num_bytes_downloaded > declared:
            raise GigaProtocolError(
                f"{what}: the server sent more than the {declared} bytes it declared; "
                "nothing was kept"
            )
        yield chunk
    if declared is not None and response.num_bytes_downloaded != declared:
        raise GigaProtocolError(
            f"{what}: the server declared {declared} bytes but sent "
            f"{response.num_bytes_downloaded}; nothing was kept"
        )


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
