"""HTTP plumbing shared by the client: error mapping, retries for free calls, redaction."""

from __future__ import annotations

import contextlib
import logging
import random
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from .exceptions import (
    GigaProtocolError,
    GigaServerError,
    GigaTransportError,
    RateLimitedError,
)

__all__ = [
    "REDACTED_LOGGERS",
    "RetryPolicy",
    "excerpt",
    "install_log_redaction",
    "parse_json",
    "redact",
    "retry_after_seconds",
    "transport_errors",
]

T = TypeVar("T")

_SECRET_PATTERNS = (
    re.compile(r"(token=)[^&\s\"']+", re.IGNORECASE),
    re.compile(r"(Bearer\s+)[A-Za-z0-9+/=_\-.]+", re.IGNORECASE),
    re.compile(r"()\b[A-Za-z0-9+/_\-]{120,}={0,2}"),
    re.compile(r"()0x[0-9a-fA-F]{128,}"),
)


def redact(text: str) -> str:
    """Mask what could be a credential: presigned tokens, bearer proofs, long base64 or hex.

    Example:
        >>> redact("GET /api/file?token=abc.def 200")
        'GET /api/file?token=[redacted] 200'
    """
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1[redacted]", text)
    return text


def excerpt(response: httpx.Response, limit: int = 300) -> str:
    """The start of a response body, redacted, for error messages."""
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return ""
    text = redact(" ".join(text.split()))
    return text if len(text) <= limit else text[:limit] + "..."


def parse_json(response: httpx.Response, what: str) -> dict[str, Any]:
    """Decode a JSON object body, or raise `GigaProtocolError` saying which call broke."""
    try:
        value = response.json()
    except ValueError:
        raise GigaProtocolError(
            f"{what}: the server's reply (HTTP {response.status_code}) is not JSON: "
            f"{excerpt(response, 120)!r}"
        ) from None
    if not isinstance(value, dict):
        raise GigaProtocolError(f"{what}: the server's reply is JSON but not an object")
    return value


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` delay in seconds (delta or HTTP date), when given."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError, IndexError):
        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    return None


@contextlib.contextmanager
def transport_errors(what: str) -> Iterator[None]:
    """Translate httpx's transport errors into `GigaTransportError`, keeping the cause."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise GigaTransportError(f"{what}: timed out ({type(exc).__name__})") from exc
    except (httpx.DecodingError, httpx.TooManyRedirects) as exc:
        raise GigaProtocolError(f"{what}: {type(exc).__name__}: {redact(str(exc))}") from exc
    except httpx.RequestError as exc:
        raise GigaTransportError(f"{what}: {type(exc).__name__}: {redact(str(exc))}") from exc


def raise_for_server_status(response: httpx.Response, what: str) -> None:
    """Raise `RateLimitedError` on 429 and `GigaServerError` on 5xx."""
    if response.status_code == 429:
        raise RateLimitedError(
            f"{what}: rate limited by the server (HTTP 429)",
            body_excerpt=excerpt(response),
            retry_after=retry_after_seconds(response),
        )
    if response.status_code >= 500:
        raise GigaServerError(
            f"{what}: server error HTTP {response.status_code}: {excerpt(response)}",
            status_code=response.status_code,
            body_excerpt=excerpt(response),
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How free calls (read, list, file-url, file) retry: connection errors, 429 and 5xx.

    Paid requests never go through this policy.

    Attributes:
        attempts: Tries in all, the first included.
        initial_backoff: The first wait, in seconds; it doubles each time, with full jitter.
        max_backoff: The longest wait between tries.
        max_retry_after: The longest ``Retry-After`` honoured; longer asks give up.

    Example:
        >>> RetryPolicy(attempts=3).attempts
        3
    """

    attempts: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 20.0
    max_retry_after: float = 120.0

    def _wait(self, attempt: int, error: BaseException | None) -> float:
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            return error.retry_after
        ceiling = min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto

    def _retryable(self, error: BaseException) -> bool:
        if isinstance(error, RateLimitedError):
            return error.retry_after is None or error.retry_after <= self.max_retry_after
        return isinstance(error, GigaTransportError) or (
            isinstance(error, GigaServerError) and error.status_code >= 500
        )

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` under this policy (with tenacity), re-raising the last error."""
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, self.attempts)),
            retry=retry_if_exception(self._retryable),
            wait=lambda state: self._wait(
                state.attempt_number, state.outcome.exception() if state.outcome else None
            ),
            reraise=True,
        )

        async def run() -> T:  # tenacity only awaits functions it sees as coroutine functions
            return await attempt()

        result: T = await retrying(run)
        return result


class _RedactFilter(logging.Filter):
    """Formats each record's message with its arguments, then masks what `redact` masks.

    Formatting first means no argument (a header tuple, a URL object, a request) reaches a
    handler unmasked, whatever its type.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format
            message = f"{record.msg} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        return True


REDACTED_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "hpack",
    "hpack.hpack",
    "prefect_giga",
)
"""Loggers that can carry a URL, a header or a body. A logger's filter sees only records
logged on that very logger (not those its children pass up), so each child gets one."""


def install_log_redaction() -> None:
    """Keep presigned tokens and proofs out of the HTTP libraries' log lines (idempotent).

    Adds the redacting filter to every logger in `REDACTED_LOGGERS` and to any other
    ``httpx``, ``httpcore`` or ``hpack`` logger that exists when it is called.

    Example:
        >>> install_log_redaction()
        >>> any(isinstance(f, _RedactFilter) for f in logging.getLogger("httpcore.http11").filters)
        True
    """
    existing = [
        name
        for name in list(logging.Logger.manager.loggerDict)
        if name.split(".", 1)[0] in ("httpx", "httpcore", "hpack")
    ]
    for name in (*REDACTED_LOGGERS, *existing):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactFilter) for f in logger.filters):
            logger.addFilter(_RedactFilter())
