"""`Exchange`: one request to the Giga API and its whole reply, with the deadline and the caps.

The client's reads and the paid start both talk to the server through it, so neither needs
the other's internals: it owns the connection pool's admission (as many requests in flight
as there are connections), the per-request deadline, the reply-size cap, and the mapping of
HTTP statuses to `GigaError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from .exceptions import (
    AuthenticationError,
    GigaConfigError,
    GigaError,
    GigaProtocolError,
    GigaServerError,
    GigaTransportError,
    RequestNotSentError,
    RunNotFoundError,
)
from .http import excerpt, raise_for_server_status, transport_errors

__all__ = [
    "MAX_REPLY_BYTES",
    "Exchange",
    "canonical_origin",
    "json_or_empty",
    "normalize_base_url",
    "validate_reply",
]

MAX_REPLY_BYTES = 16 * 1024 * 1024
"""The largest API reply (JSON) the client reads; a longer one is refused."""


class Exchange:
    """Sends API requests to one server and reads each reply whole, within a deadline.

    Only time on the wire counts against ``timeout``: waiting for a pool slot (`slots`) or
    for one of httpcore's connections does not. The deadline starts when the request reaches
    a connection (httpcore's trace reports connecting or sending), and a request that failed
    before any byte of it was written raises `RequestNotSentError`, so a paid start knows the
    server never saw it.

    Args:
        base_url: The server, as `normalize_base_url` returns it.
        http: The connection pool; API calls never follow redirects.
        timeout: Seconds on the wire for one request, reply included.
        max_in_flight: Requests let into the pool at once; more wait their turn (httpcore's
            pool bookkeeping costs more CPU than it saves when hundreds queue inside it).
        queue_timeout: Seconds a request that holds a slot may wait for httpcore to give it
            a connection (default: ten times ``timeout``, at least five minutes).

    Attributes:
        paid_turns: Paid starts waiting to be signed take a turn here first (as many at
            once as ``max_in_flight``), so a payment is signed when a slot is near: with
            thousands of starts at once, one signed first could wait in `slots` past its
            ``validBefore``.

    Example:
        ```python
        exchange = Exchange("http://127.0.0.1:8402", httpx.AsyncClient(), timeout=30)
        response = await exchange.send("POST", "/api/list", "list runs", json={"limit": 1})
        exchange.check(response, "list runs")
        ```
    """

    def __init__(
        self,
        base_url: str,
        http: httpx.AsyncClient,
        *,
        timeout: float,
        max_in_flight: int,
        queue_timeout: float | None = None,
    ) -> None:
        self.base_url = base_url
        self.http = http
        self.timeout = timeout
        self.queue_timeout = queue_timeout if queue_timeout is not None else max(300, 10 * timeout)
        self.slots = asyncio.Semaphore(max_in_flight)
        self.paid_turns = asyncio.Semaphore(max_in_flight)

    def url(self, path: str) -> str:
        """The absolute URL of an API path.

        Example:
            >>> Exchange("http://127.0.0.1:8402", None, timeout=1, max_in_flight=1).url("/api/read")
            'http://127.0.0.1:8402/api/read'
        """
        return self.base_url + path

    async def send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request and return its whole reply (any status).

        Raises:
            RequestNotSentError: It failed before any byte of it was written.
            GigaTransportError: The connection failed or no complete reply came in time.
            GigaProtocolError: The reply is larger than `MAX_REPLY_BYTES`.
        """
        configured = self.http.timeout
        request = self.http.build_request(
            method,
            self.url(path),
            json=json,
            headers=dict(headers or {}),
            # httpcore's wait for a connection is bounded by `queue_timeout`, not httpx's.
            timeout=httpx.Timeout(
                connect=configured.connect,
                read=configured.read,
                write=configured.write,
                pool=None,
            ),
        )
        async with self.slots:  # waiting for a slot is not time on the wire
            return await self._send_in_slot(request, what)

    async def _send_in_slot(self, request: httpx.Request, what: str) -> httpx.Response:
        loop = asyncio.get_running_loop()
        wire = _WireTrace()
        request.extensions["trace"] = wire.trace
        traced = _emits_traces(self.http, request)
        exchange = asyncio.ensure_future(self._exchange(request, what))
        try:
            reached = asyncio.ensure_future(wire.reached.wait())
            try:  # until a connection takes the request: bounded by queue_timeout only
                await asyncio.wait(
                    {exchange, reached},
                    timeout=self.queue_timeout if traced else self.timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                reached.cancel()
            if not exchange.done() and wire.reached_at is not None:  # on the wire
                await asyncio.wait({exchange}, timeout=wire.reached_at + self.timeout - loop.time())
            if not exchange.done():
                if traced and wire.reached_at is None:
                    raise RequestNotSentError(
                        f"{what}: no connection was free within {self.queue_timeout:g} s; "
                        "the request was not sent"
                    )
                raise GigaTransportError(f"{what}: no complete reply within {self.timeout:g} s")
            try:
                return exchange.result()
            except GigaTransportError as exc:
                if wire.reached_at is not None and not wire.written:
                    raise RequestNotSentError(
                        f"{exc}; it failed before any byte of it was written, so the server "
                        "never saw it"
                    ) from exc
                raise
        finally:
            if not exchange.done():
                exchange.cancel()
                with contextlib.suppress(asyncio.CancelledError, GigaError):
                    await exchange

    async def _exchange(self, request: httpx.Request, what: str) -> httpx.Response:
        with transport_errors(what):
            return await self._exchange_unmapped(request, what)

    async def _exchange_unmapped(self, request: httpx.Request, what: str) -> httpx.Response:
        response = await self.http.send(request, stream=True, follow_redirects=False)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_REPLY_BYTES:
                    raise GigaProtocolError(
                        f"{what}: the reply is larger than {MAX_REPLY_BYTES} bytes; refused"
                    )
        finally:
            await response.aclose()
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code, headers=headers, content=bytes(body), request=request
        )

    def check(self, response: httpx.Response, what: str) -> None:
        """Raise the `GigaError` that a non-2xx reply means; return on 2xx.

        Raises:
            GigaProtocolError: A redirect (never followed).
            RateLimitedError: HTTP 429.
            AuthenticationError: HTTP 402 on a call that was already signed.
            RunNotFoundError: HTTP 404.
            GigaServerError: Any other error status.
        """
        status = response.status_code
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise GigaProtocolError(
                f"{what}: the server redirected (HTTP {status}); API calls never follow "
                "redirects, so no proof or payment went to another host"
            )
        raise_for_server_status(response, what)
        if status == 402:
            raise AuthenticationError(f"{what}: the server asked for authentication again")
        if status == 404:
            raise RunNotFoundError(f"{what}: not found (HTTP 404)")
        raise GigaServerError(
            f"{what}: HTTP {status}: {excerpt(response)}",
            status_code=status,
            body_excerpt=excerpt(response),
        )


class _WireTrace:
    """httpcore's trace for one request: when a connection took it, and whether it was written.

    httpcore reports nothing while a request waits for a connection; its first event
    (connecting, or sending on a kept-alive connection) means the request is on the wire.
    """

    def __init__(self) -> None:
        self.reached_at: float | None = None
        self.written = False
        self.reached = asyncio.Event()

    async def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if self.reached_at is None:
            self.reached_at = asyncio.get_running_loop().time()
            self.reached.set()
        if event.endswith(".send_request_headers.started"):
            self.written = True  # from here on some bytes may have reached the server


def _emits_traces(http: httpx.AsyncClient, request: httpx.Request) -> bool:
    """Whether ``request`` goes through httpcore, which reports its progress by trace."""
    return isinstance(http._transport_for_url(request.url), httpx.AsyncHTTPTransport)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _origin_parts(base_url: str) -> tuple[str, str, int | None, str]:
    """Scheme, host, port (``None`` when default) and path of ``base_url``, lower-cased.

    Raises:
        GigaConfigError: It is not an http(s) URL, or it carries user info, a query or a
            fragment. The message never repeats a password.
    """
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        shown = base_url if "@" not in base_url else "(not shown: it holds user info)"
        raise GigaConfigError(f"base_url must be an http(s) URL with a host, got {shown!r}")
    if "@" in parts.netloc:
        raise GigaConfigError(
            f"base_url must not carry user info ('user:password@'): Giga authenticates with "
            f"the wallet, and a password in the URL would end up in logs and the payment "
            f"journal. Give {scheme}://{parts.hostname} instead (the rest is not shown)."
        )
    if parts.query or parts.fragment:
        raise GigaConfigError("base_url must not have a query string or a fragment")
    try:
        port = parts.port
    except ValueError:
        raise GigaConfigError(f"base_url has an invalid port: {base_url!r}") from None
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    return scheme, parts.hostname.lower(), port, parts.path.rstrip("/")


def canonical_origin(base_url: str) -> str:
    """``base_url`` in the one form the payment journal keys servers by.

    Lower-case scheme and host, the default port dropped, no trailing slash, no user info.
    A value that is not an http(s) URL is returned unchanged (old journal rows stay found).

    Example:
        >>> canonical_origin("HTTPS://Giga.DEV:443/")
        'https://giga.dev'
        >>> canonical_origin("http://user:pw@127.0.0.1:8402/api/")
        'http://127.0.0.1:8402/api'
    """
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return base_url
    try:
        port = parts.port
    except ValueError:
        return base_url
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def normalize_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """``base_url`` checked and in canonical form (see `canonical_origin`); the journal keys
    starts by it.

    Plain ``http`` is allowed only for a loopback host (``localhost``, ``127.0.0.0/8``,
    ``::1``) unless ``allow_insecure_http``: on any other network an attacker could rewrite
    the quote, its payee included.

    Args:
        base_url: The Giga server's URL.
        allow_insecure_http: Accept plain ``http`` to a host that is not loopback.

    Raises:
        GigaConfigError: It is not an http(s) URL, it carries user info (the message never
            shows the password), a query or a fragment, or it is plain ``http`` to a host
            that is not loopback without ``allow_insecure_http``.

    Example:
        >>> normalize_base_url("HTTP://LOCALHOST:8402/")
        'http://localhost:8402'
        >>> normalize_base_url("https://giga.dev:443")
        'https://giga.dev'
    """
    scheme, host, _port, _path = _origin_parts(base_url)
    if scheme == "http" and not allow_insecure_http and not _is_loopback(host):
        raise GigaConfigError(
            f"Refusing plain http to {host}: on a network an attacker could rewrite the "
            "payment quote (its payee too). Use https, or pass allow_insecure_http=True if "
            "this network is trusted."
        )
    return canonical_origin(base_url)


def json_or_empty(response: httpx.Response) -> dict[str, Any]:
    """The reply's JSON object, or ``{}`` when it is not one.

    Example:
        >>> json_or_empty(httpx.Response(200, text="not json"))
        {}
    """
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_Model = TypeVar("_Model", bound=BaseModel)


def validate_reply(model: type[_Model], data: dict[str, Any], what: str) -> _Model:
    """``data`` as ``model``, or a `GigaProtocolError` naming the fields that do not match.

    Example:
        >>> from prefect_giga.core.models import RunPage
        >>> validate_reply(RunPage, {"runs": []}, "list runs").runs
        []
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:5])
        raise GigaProtocolError(f"{what}: the reply does not match the API ({fields})") from None
