"""Moved to `prefect_giga.payments.quotes` (old imports and saved results use this path)."""

from .payments.quotes import DEFAULT_QUOTE_TTL, Offer, QuoteCache

__all__ = ["DEFAULT_QUOTE_TTL", "Offer", "QuoteCache"]
