"""The emulator's record of settled payments, one entry per charged run."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from prefect_giga.core.money import to_usd

__all__ = ["Ledger", "LedgerEntry"]


@dataclass(frozen=True)
class LedgerEntry:
    """One settled payment.

    Attributes:
        payer: Checksummed payer.
        payee: Checksummed payee.
        amount: Atomic USDC units.
        asset: The USDC contract.
        network: CAIP-2 network id.
        nonce: The EIP-3009 nonce (``0x`` hex).
        tx_hash: The (fake) transaction hash.
        run_id: The run paid for.
        time: Emulator time of settlement.
    """

    payer: str
    payee: str
    amount: int
    asset: str
    network: str
    nonce: str
    tx_hash: str
    run_id: str
    time: datetime

    @property
    def transaction(self) -> str:
        """The transaction hash (same as `tx_hash`, named as in ``PAYMENT-RESPONSE``)."""
        return self.tx_hash

    @property
    def usd(self) -> Decimal:
        """The amount in USD."""
        return to_usd(self.amount)


class Ledger:
    """A thread-safe, append-only list of `LedgerEntry`.

    Example:
        >>> Ledger().entries()
        []
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LedgerEntry] = []

    def record(self, entry: LedgerEntry) -> None:
        """Append an entry."""
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LedgerEntry]:
        """A copy of every entry, oldest first."""
        with self._lock:
            return list(self._entries)

    def reset(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
