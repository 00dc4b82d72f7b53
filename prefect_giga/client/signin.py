"""Signing in for free reads: SIWX proofs on each request, in as few round trips as possible.

The first call to a server learns the form of its challenge's ``domain`` (bare hostname or
``host:port``); concurrent first calls share that one challenge. Later calls sign a nonce the
client makes itself, in one round trip, and fall back to the server's challenge (remembered
per server) when it refuses them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from ..core import siwx
from ..core.exceptions import AuthenticationError, GigaProtocolError
from ..core.exchange import Exchange, json_or_empty
from ..core.http import RetryPolicy, parse_json
from ..core.networks import Network
from ..core.siwx_rules import check_challenge
from ..core.wallet import Wallet
from ..payments.signing import decode_b64_json

__all__ = ["SignIn"]

_PAYMENT_REQUIRED = "PAYMENT-REQUIRED"
_DomainForm = Literal["hostname", "netloc"]


class SignIn:
    """Sends SIWX-signed requests for one wallet to one server.

    Args:
        exchange: The server and its connection pool.
        wallet: The wallet that signs in.
        network: The chain named in the proofs.

    Example:
        ```python
        signin = SignIn(exchange, wallet, BASE, RetryPolicy())
        response = await signin.post("/api/list", {"limit": 10}, "list runs")
        ```
    """

    def __init__(
        self, exchange: Exchange, wallet: Wallet, network: Network, retry: RetryPolicy
    ) -> None:
        self.exchange = exchange
        self.wallet = wallet
        self.network = network
        self.retry = retry
        self._domain_form: dict[str, _DomainForm] = {}
        self._first_sign_in = asyncio.Lock()
        self._client_nonces_refused: set[str] = set()

    async def call(
        self,
        path: str,
        body: dict[str, Any],
        what: str,
        not_found: Callable[[], Exception] | None = None,
    ) -> dict[str, Any]:
        """A signed call's JSON reply, retried by the retry policy (reads are free).

        Raises:
            GigaError: The error the reply means; ``not_found()`` on a 404 when given.

        Example:
            ```python
            data = await signin.call("/api/read", {"runId": run_id}, f"read run {run_id}")
            ```
        """

        async def attempt() -> dict[str, Any]:
            response = await self.post(path, body, what)
            if response.status_code == 404 and not_found is not None:
                raise not_found()
            self.exchange.check(response, what)
            return parse_json(response, what)

        return await self.retry.call(attempt)

    async def post(self, path: str, body: dict[str, Any], what: str) -> httpx.Response:
        """POST ``body`` to ``path`` with a sign-in proof; returns the reply (any status).

        Raises:
            AuthenticationError: The server refused the wallet's sign-in.
            SiwxChallengeError: The server's challenge is not one this client will sign.
        """
        origin = self.exchange.base_url
        if origin not in self._domain_form and origin not in self._client_nonces_refused:
            # The first call to a server learns its challenge's domain form; concurrent first
            # calls wait for it instead of each asking for a challenge of their own.
            async with self._first_sign_in:
                if origin not in self._domain_form:
                    return await self._challenged_post(path, body, what)
        return await self._fast_post(path, body, what)

    async def _fast_post(self, path: str, body: dict[str, Any], what: str) -> httpx.Response:
        url = self.exchange.url(path)
        origin = self.exchange.base_url
        form = self._domain_form.get(origin)
        if form is not None and origin not in self._client_nonces_refused:
            info = siwx.client_made_info(url, self.network.caip2, bare_hostname=form == "hostname")
            response = await self.exchange.send(
                "POST",
                path,
                what,
                json=body,
                headers={siwx.SIWX_HEADER: siwx.sign_in(self.wallet, info)},
            )
            if response.status_code != 402:
                return response
            self._client_nonces_refused.add(origin)
        return await self._challenged_post(path, body, what)

    async def _challenged_post(self, path: str, body: dict[str, Any], what: str) -> httpx.Response:
        url = self.exchange.url(path)
        origin = self.exchange.base_url
        challenge_reply = await self.exchange.send("POST", path, what, json=body)
        if challenge_reply.status_code != 402:
            return challenge_reply
        info = siwx.parse_challenge(self._challenge_of(challenge_reply, what), self.network.caip2)
        check_challenge(info, url, chain_id=self.network.caip2)  # refuses before signing
        self._domain_form[origin] = (
            "hostname" if info.domain == urlsplit(url).hostname else "netloc"
        )
        response = await self.exchange.send(
            "POST",
            path,
            what,
            json=body,
            headers={siwx.SIWX_HEADER: siwx.sign_in(self.wallet, info)},
        )
        if response.status_code == 402:
            data = json_or_empty(response)
            code = str(data.get("error") or "siwx_refused")
            raise AuthenticationError(
                f"{what}: the server refused the wallet's sign-in ({code}: "
                f"{str(data.get('message') or '')[:200]})",
                code=code,
            )
        return response

    @staticmethod
    def _challenge_of(response: httpx.Response, what: str) -> dict[str, Any]:
        header = response.headers.get(_PAYMENT_REQUIRED)
        data = json_or_empty(response)
        if "extensions" not in data and header:
            data = decode_b64_json(header, _PAYMENT_REQUIRED)
        if not data:
            raise GigaProtocolError(f"{what}: the 402 reply carries no sign-in challenge")
        return data
