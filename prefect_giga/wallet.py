"""Moved to `prefect_giga.core.wallet` (old imports and saved results use this path)."""

from .core.wallet import EthSigner, Wallet

__all__ = ["EthSigner", "Wallet"]
