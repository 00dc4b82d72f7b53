"""Where a presigned download link may point, and a connection pool that holds it to that.

A link comes from the server, so it is untrusted: it must use ``https`` unless it shares the
API's own origin, and it may not reach a private, link-local or loopback address (loopback
is allowed only when the API itself is on loopback, a private address only when the API is on
one). Names are checked on the addresses they resolve to *when connecting*, so a name that
resolves to an internal address is refused too; TLS still verifies the name (SNI and ``Host``
are unchanged). Redirects are followed under the same rules, never from ``https`` to ``http``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, urljoin, urlsplit

import httpcore
import httpx

from ..core.exceptions import UnsafeLinkError

__all__ = ["MAX_REDIRECTS", "LinkPolicy", "SafeLinks", "address_kind", "resolve_host"]

MAX_REDIRECTS = 5
"""Redirects a download follows at most (each one checked like the link itself)."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
AddressKind = Literal["public", "loopback", "private", "link-local", "never"]


def address_kind(address: str) -> AddressKind:
    """What kind of network an IP address is on.

    Example:
        >>> [address_kind(a) for a in ("93.184.216.34", "127.0.0.1", "10.0.0.5", "169.254.169.254")]
        ['public', 'loopback', 'private', 'link-local']
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "never"
    return "public" if ip.is_global else "private"


def _literal_kind(host: str) -> AddressKind | None:
    try:
        return address_kind(host.strip("[]"))
    except ValueError:
        return None


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    scheme = parts.scheme.lower()
    default = 443 if scheme == "https" else 80
    return scheme, (parts.hostname or "").lower(), parts.port or default


@dataclass(frozen=True)
class LinkPolicy:
    """The rules a download link and each of its redirects must meet.

    Attributes:
        api_origin: The API's ``(scheme, host, port)``: links there may use plain ``http``.
        internal_allowed: The internal address kinds links may reach because the API itself
            is on one (``loopback`` for a local server, ``private`` for one on a private
            network); empty for a public API.

    Example:
        >>> policy = LinkPolicy.for_api("https://giga.example")
        >>> policy.check_url("https://files.example/a?token=t")
        >>> policy.check_url("http://files.example/a")
        Traceback (most recent call last):
        ...
        prefect_giga.core.exceptions.UnsafeLinkError: ...
    """

    api_origin: tuple[str, str, int]
    internal_allowed: frozenset[str]

    @classmethod
    def for_api(cls, base_url: str) -> LinkPolicy:
        """The policy for a client of the API at ``base_url``."""
        parts = urlsplit(base_url)
        host = (parts.hostname or "").lower()
        kind = _literal_kind(host)
        if kind is None and (host == "localhost" or host.endswith(".localhost")):
            kind = "loopback"
        allowed = frozenset({kind}) if kind in ("loopback", "private") else frozenset()
        return cls(api_origin=_origin(parts), internal_allowed=allowed)

    def check_url(self, url: str, *, redirected_from: str | None = None) -> None:
        """Refuse a link (or a redirect's target) that breaks the rules; checks no DNS.

        Raises:
            UnsafeLinkError: Not ``https`` and not the API's origin, a redirect from
                ``https`` to ``http``, credentials in the URL, or an internal address.
        """
        parts = urlsplit(url)
        hop = "a redirect" if redirected_from else "the link"
        scheme = parts.scheme.lower()
        try:
            _ = parts.port
        except ValueError:
            raise UnsafeLinkError(f"Refusing to download: {hop} has an invalid port") from None
        if scheme not in ("http", "https") or not parts.hostname:
            raise UnsafeLinkError(f"Refusing to download: {hop} is not an http(s) URL")
        if parts.username is not None or parts.password is not None:
            raise UnsafeLinkError(f"Refusing to download: {hop} carries user credentials")
        from_https = redirected_from is not None and urlsplit(redirected_from).scheme == "https"
        if from_https and scheme != "https":
            raise UnsafeLinkError("Refusing to download: a redirect goes from https to http")
        same_origin = _origin(parts) == self.api_origin
        if scheme != "https" and not same_origin:
            raise UnsafeLinkError(
                f"Refusing to download: {hop} uses plain http on {parts.hostname}, which is not "
                "the API's origin (links must use https)"
            )
        kind = _literal_kind(parts.hostname)
        if kind is not None:
            self.check_address(parts.hostname, parts.hostname.strip("[]"))

    def check_address(self, host: str, address: str) -> None:
        """Refuse to connect to ``address`` (what ``host`` resolved to) if it is internal.

        Raises:
            UnsafeLinkError: The address is link-local, or private or loopback when the API
                is not on such an address itself.
        """
        kind = address_kind(address)
        if kind == "public" or kind in self.internal_allowed:
            return
        raise UnsafeLinkError(
            f"Refusing to download from {host}: it resolves to a {kind} address, which links "
            "may not reach"
            + ("" if kind in ("link-local", "never") else " unless the API itself is on one")
        )


async def resolve_host(host: str, port: int) -> list[str]:
    """The IP addresses ``host`` resolves to (for TCP), in the resolver's order.

    Example:
        ```python
        addresses = await resolve_host("localhost", 443)  # ['127.0.0.1', '::1']
        ```
    """
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves each name itself, checks every address, then connects to a checked one."""

    def __init__(self, policy: LinkPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        literal = _literal_kind(host) is not None
        try:
            addresses = [host.strip("[]")] if literal else await resolve_host(host, port)
        except OSError as exc:  # socket.gaierror: the name does not resolve
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:  # every address, so a mixed answer cannot slip one through
            self.policy.check_address(host, address)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool whose connections go through `_GuardedBackend`.

    httpx does not take a network backend, so the pool it builds is replaced by one that
    has the same settings and the guarded backend.
    """

    def __init__(self, policy: LinkPolicy, *, max_connections: int) -> None:
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(policy),
        )


class SafeLinks:
    """Opens presigned links under a `LinkPolicy`, with a connection pool of its own.

    The pool sends no credential and ignores proxy settings in the environment (a proxy
    would resolve names where they cannot be checked).

    Args:
        base_url: The API's base URL (its origin may use plain http; its kind of address
            may be reached).
        timeout: Seconds for connecting and between bytes.
        max_connections: Connections in the pool.

    Example:
        ```python
        links = SafeLinks("https://giga.example", timeout=30, max_connections=16)
        async with links.open(url, "download of 'output.md'") as response:
            body = await response.aread()
        ```
    """

    def __init__(self, base_url: str, *, timeout: float, max_connections: int) -> None:
        self.policy = LinkPolicy.for_api(base_url)
        self.timeout = timeout
        self.max_connections = max_connections
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """The pool links are fetched with (made on first use: most clients never download)."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                transport=_GuardedTransport(self.policy, max_connections=self.max_connections),
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                headers={"user-agent": "prefect-giga"},
                follow_redirects=False,
                trust_env=False,
            )
        return self._http

    @asynccontextmanager
    async def open(self, url: str, what: str) -> AsyncIterator[httpx.Response]:
        """GET ``url``, following checked redirects; yields the final streamed response.

        Raises:
            UnsafeLinkError: The link or a redirect breaks the policy; nothing is fetched
                from there.
            GigaProtocolError: More than `MAX_REDIRECTS` redirects.
        """
        self.policy.check_url(url)
        for _ in range(MAX_REDIRECTS + 1):
            response = await self.http.send(
                self.http.build_request("GET", url), stream=True, follow_redirects=False
            )
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                try:
                    yield response
                finally:
                    await response.aclose()
                return
            await response.aclose()
            target = urljoin(url, location)
            self.policy.check_url(target, redirected_from=url)
            url = target
        raise UnsafeLinkError(f"{what}: more than {MAX_REDIRECTS} redirects; refused")

    async def aclose(self) -> None:
        """Close the pool (if it was ever made)."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None
