"""Remembering recent quotes, so a paid start can pay on its first request."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..core.models import Quote

__all__ = ["DEFAULT_QUOTE_TTL", "Offer", "QuoteCache"]

_Probed = TypeVar("_Probed")

DEFAULT_QUOTE_TTL = 60.0
"""Seconds a quote is reused before the next start asks again."""


@dataclass(frozen=True)
class Offer:
    """A checked quote and the 402 challenge it came from.

    Attributes:
        quote: The quote, already checked against the payment policy.
        challenge: The decoded ``PAYMENT-REQUIRED`` challenge.
        accepted: The ``accepts`` entry to sign.
        from_cache: Remembered from an earlier start rather than just asked for.
    """

    quote: Quote
    challenge: dict[str, Any]
    accepted: dict[str, Any]
    from_cache: bool = False


class QuoteCache:
    """The latest checked offer per tier, reused for ``ttl`` seconds (``0`` turns it off).

    A start that pays from a remembered offer saves the unpaid probe (one round trip, and a
    second upload of its attachments). When the server refuses that payment, the start asks
    for a fresh quote and signs again with the same EIP-3009 nonce, so at most one of the two
    payments can ever settle.

    Concurrent starts of one tier share one probe (`offer`): the first asks, the others wait
    for its answer, so a batch whose starts all begin at once still costs one start request
    per item.

    Example:
        >>> QuoteCache(ttl=0).recent("$0.50") is None
        True
    """

    def __init__(self, ttl: float = DEFAULT_QUOTE_TTL) -> None:
        self.ttl = ttl
        self._offers: dict[str, tuple[float, Offer]] = {}
        self._probing: dict[str, asyncio.Future[Offer | None]] = {}
        self.probes = 0
        """Probes this cache let through (shared ones count once)."""

    async def offer(self, tier: str, probe: Callable[[], Awaitable[_Probed]]) -> Offer | _Probed:
        """The remembered offer for ``tier``, or the answer of one probe shared by all callers.

        When no offer is remembered, the first caller runs ``probe``; callers that arrive
        while it is in flight wait for it and take its offer (marked ``from_cache``, so a
        refused payment re-probes as with any remembered quote). When the shared probe does
        not yield an offer (it failed, or the server started a run without asking for
        payment), each waiting caller runs its own ``probe``, so nothing is ever taken from
        another caller's start.

        Example:
            ```python
            probed = await client.quotes.offer(tier, start.probe)
            ```
        """
        if self.ttl <= 0:  # quotes are not reused: every start asks for its own
            self.probes += 1
            return await probe()
        remembered = self.recent(tier)
        if remembered is not None:
            return remembered
        pending = self._probing.get(tier)
        if pending is not None:
            shared = await asyncio.shield(pending)
            if shared is not None:
                return dataclasses.replace(shared, from_cache=True)
            self.probes += 1
            return await probe()
        future: asyncio.Future[Offer | None] = asyncio.get_running_loop().create_future()
        self._probing[tier] = future
        self.probes += 1
        try:
            probed = await probe()
        except BaseException:
            future.set_result(None)
            raise
        finally:
            if self._probing.get(tier) is future:
                del self._probing[tier]
        future.set_result(probed if isinstance(probed, Offer) else None)
        return probed

    def recent(self, tier: str) -> Offer | None:
        """The offer for ``tier`` if one was checked less than ``ttl`` seconds ago."""
        entry = self._offers.get(tier)
        if entry is None or self.ttl <= 0 or time.monotonic() - entry[0] > self.ttl:
            return None
        return dataclasses.replace(entry[1], from_cache=True)

    def remember(self, tier: str, offer: Offer) -> None:
        """Keep ``offer`` as the latest for ``tier``."""
        self._offers[tier] = (time.monotonic(), offer)

    def forget(self, tier: str) -> None:
        """Drop the offer for ``tier`` (it was refused)."""
        self._offers.pop(tier, None)
