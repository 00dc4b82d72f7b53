"""Moved to `prefect_giga.core.money` (old imports and saved results use this path)."""

from .core.money import USDC_DECIMALS, format_usd, parse_usd, tier_price, to_atomic, to_usd

__all__ = ["USDC_DECIMALS", "format_usd", "parse_usd", "tier_price", "to_atomic", "to_usd"]
