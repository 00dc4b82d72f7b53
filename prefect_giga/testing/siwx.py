"""Server-side Sign-In-With-X: challenges, and proof checks built on the x402 SDK's helpers.

The SDK parses the header and checks the EIP-191 signature (so the emulator is an
independent check of a client's own SIWE formatter); the emulator checks the domain
itself because it has two modes (``host:port`` as the SDKs expect, or the bare hostname
the real router issues), and applies the specification's time and nonce rules against
wall time, since clients sign ``issuedAt`` with their own clock.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import urlsplit

from x402.extensions.sign_in_with_x import (
    build_siwx_schema,
    parse_siwx_header,
    verify_siwx_signature,
)

from prefect_giga.core.networks import Network
from prefect_giga.testing.clock import isoformat_ms

__all__ = ["SIWX_ERROR_MESSAGES", "SiwxError", "SiwxVerifier", "expected_domain"]

SIWX_STATEMENT = "Sign in to verify your wallet identity"
SIWX_ERROR_MESSAGES = {
    "siwx_malformed": "Malformed SIWX payload",
    "siwx_expired": "SIWX message expired — request a new challenge",
    "siwx_nonce_used": "Nonce already used — request a new challenge",
    "siwx_invalid_signature": "Invalid signature — wallet mismatch or corrupted proof",
}
_EVM_CHAIN = re.compile(r"^eip155:\d+$")


class SiwxError(Exception):
    """A proof was refused; answered with 402 ``{error: code, message}`` and no challenge.

    Attributes:
        code: ``siwx_expired``, ``siwx_nonce_used``, ``siwx_invalid_signature`` or
            ``siwx_malformed``.
        detail: Why, for the emulator's own logs and tests (never sent).
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    @property
    def message(self) -> str:
        """The message sent to the client."""
        return SIWX_ERROR_MESSAGES[self.code]


def expected_domain(host: str, mode: Literal["host:port", "hostname"]) -> str:
    """The SIWX domain for a request ``Host`` in the given mode.

    Example:
        >>> expected_domain("127.0.0.1:8402", "hostname")
        '127.0.0.1'
    """
    if mode == "host:port":
        return host
    hostname = urlsplit("//" + host).hostname or host
    return f"[{hostname}]" if ":" in hostname else hostname


def _parse_time(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SiwxError("siwx_malformed", f"invalid {name}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _wall_now() -> datetime:
    return datetime.now(timezone.utc)


class SiwxVerifier:
    """Issues SIWX challenges and checks ``SIGN-IN-WITH-X`` proofs. Thread-safe.

    Args:
        network: Its CAIP-2 id is the challenge's supported chain.
        domain_mode: ``"host:port"`` or ``"hostname"``; proofs must use the same form.
        max_age_seconds: Oldest accepted ``issuedAt``.
        skew_seconds: How far in the future ``issuedAt`` may be.
        now: Wall-clock source (injectable for unit tests).

    Example:
        >>> from prefect_giga.core.networks import BASE
        >>> verifier = SiwxVerifier(BASE)
        >>> body = verifier.challenge("http://127.0.0.1:8402/api/read", "127.0.0.1:8402")
        >>> body["extensions"]["sign-in-with-x"]["info"]["domain"]
        '127.0.0.1:8402'
    """

    def __init__(
        self,
        network: Network,
        *,
        domain_mode: Literal["host:port", "hostname"] = "host:port",
        max_age_seconds: float = 300.0,
        skew_seconds: float = 30.0,
        now: Callable[[], datetime] = _wall_now,
    ) -> None:
        self.network = network
        self.domain_mode = domain_mode
        self.max_age = timedelta(seconds=max_age_seconds)
        self.skew = timedelta(seconds=skew_seconds)
        self._now = now
        self._lock = threading.Lock()
        self._used: dict[str, datetime] = {}

    def challenge(
        self, url: str, host: str, description: str = "SIWX-protected endpoint"
    ) -> dict[str, Any]:
        """The 402 body (and ``PAYMENT-REQUIRED`` content) asking for a proof."""
        issued = self._now()
        info = {
            "domain": expected_domain(host, self.domain_mode),
            "uri": url,
            "version": "1",
            "chainId": self.network.caip2,
            "type": "eip191",
            "nonce": secrets.token_hex(16),
            "issuedAt": isoformat_ms(issued),
            "expirationTime": isoformat_ms(issued + self.max_age),
            "statement": SIWX_STATEMENT,
        }
        return {
            "x402Version": 2,
            "error": "SIWX authentication required",
            "resource": {"url": url, "description": description, "mimeType": "application/json"},
            "accepts": [],
            "extensions": {
                "sign-in-with-x": {
                    "info": info,
                    "supportedChains": [{"chainId": self.network.caip2, "type": "eip191"}],
                    "schema": build_siwx_schema(),
                }
            },
        }

    def _burn(self, nonce: str, now: datetime) -> bool:
        horizon = now - self.max_age - self.skew - timedelta(minutes=1)
        with self._lock:
            for old in [n for n, at in self._used.items() if at < horizon]:
                del self._used[old]
            if nonce in self._used:
                return False
            self._used[nonce] = now
            return True

    def used_nonces(self) -> set[str]:
        """SIWX nonces used so far (within the replay window)."""
        with self._lock:
            return set(self._used)

    def reset(self) -> None:
        """Forget used nonces."""
        with self._lock:
            self._used.clear()

    async def verify(self, proof: str, *, scheme: str, host: str) -> str:
        """Check a base64 proof sent to ``scheme://host``; return the checksummed wallet.

        Raises:
            SiwxError: With the code the router answers.
        """
        try:
            payload = parse_siwx_header(proof.strip())
        except Exception as exc:
            raise SiwxError("siwx_malformed", str(exc)) from None
        domain = expected_domain(host, self.domain_mode)
        if payload.domain != domain:
            raise SiwxError("siwx_malformed", f"domain {payload.domain!r} is not {domain!r}")
        uri = urlsplit(payload.uri)
        if not uri.scheme or f"{uri.scheme}://{uri.netloc}" != f"{scheme}://{host}":
            raise SiwxError("siwx_malformed", f"uri {payload.uri!r} is not on {scheme}://{host}")
        if not _EVM_CHAIN.match(payload.chain_id) or payload.type != "eip191":
            raise SiwxError("siwx_malformed", f"unsupported chain {payload.chain_id!r}")
        now = self._now()
        issued = _parse_time(payload.issued_at, "issuedAt")
        if now - issued > self.max_age:
            raise SiwxError("siwx_expired", "issuedAt is too old")
        if issued - now > self.skew:
            raise SiwxError("siwx_malformed", "issuedAt is in the future")
        if payload.expiration_time and _parse_time(payload.expiration_time, "expiry") <= now:
            raise SiwxError("siwx_expired", "expirationTime has passed")
        if payload.not_before and _parse_time(payload.not_before, "notBefore") > now:
            raise SiwxError("siwx_malformed", "notBefore is in the future")
        if not self._burn(payload.nonce, now):
            raise SiwxError("siwx_nonce_used", "nonce already used")
        try:
            result = await verify_siwx_signature(payload)
        except Exception as exc:
            raise SiwxError("siwx_invalid_signature", str(exc)) from None
        if not result.is_valid or not result.payer:
            raise SiwxError("siwx_invalid_signature", str(result.invalid_message))
        return str(result.payer)
