"""Remembering recent quotes, so a paid start can pay on its first request."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from ..core.models import Quote

__all__ = ["DEFAULT_QUOTE_TTL", "Offer", "QuoteCache"]

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

    Example:
        >>> QuoteCache(ttl=0).recent("$0.50") is None
        True
    """

    def __init__(self, ttl: float = DEFAULT_QUOTE_TTL) -> None:
        self.ttl = ttl
        self._offers: dict[str, tuple[float, Offer]] = {}

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
