"""`SpendBudget`: a spend limit shared by the starts of one batch, checked before signing."""

from __future__ import annotations

import threading
from decimal import Decimal

from ..core.exceptions import BudgetExceededError
from ..core.money import format_usd, parse_usd

__all__ = ["SpendBudget"]


class SpendBudget:
    """Counts what a batch has spent and refuses a payment that would go over the limit.

    A payment is *reserved* just before it is signed and *released* when the server
    provably did not charge it (rejected, settlement failed). A start whose outcome is
    unknown stays reserved: the budget never under-counts. Thread- and task-safe.

    Example:
        >>> budget = SpendBudget("1.00")
        >>> budget.reserve("item-1", Decimal("0.50"))
        >>> budget.reserve("item-2", Decimal("0.50"))
        >>> budget.reserve("item-3", Decimal("0.50"))
        Traceback (most recent call last):
        ...
        prefect_giga.core.exceptions.BudgetExceededError: ...
    """

    def __init__(self, limit: Decimal | str | int | None) -> None:
        self.limit = None if limit is None else parse_usd(limit)
        self._lock = threading.Lock()
        self._reserved: dict[str, Decimal] = {}
        self._total = Decimal(0)  # the sum of _reserved, kept as it changes
        self.refused = 0

    @property
    def committed(self) -> Decimal:
        """Reserved plus recorded spending, in USD."""
        with self._lock:
            return self._total

    def reserve(self, key: str, amount: Decimal) -> None:
        """Reserve ``amount`` for the start ``key`` or raise `BudgetExceededError`.

        Reserving the same key again is a no-op (a retry of the same start), unless the new
        amount is larger (a re-quoted start): then the larger amount must fit.
        """
        with self._lock:
            held = self._reserved.get(key, Decimal(0))
            if key in self._reserved and amount <= held:
                return
            committed = self._total - held
            if self.limit is not None and committed + amount > self.limit:
                self.refused += 1
                raise BudgetExceededError(
                    f"Refusing to pay {format_usd(amount)}: the batch has committed "
                    f"{format_usd(committed)} of its {format_usd(self.limit)} spend limit; "
                    "nothing was signed",
                    reason="batch_budget_exceeded",
                    quote=amount,
                    limit=self.limit,
                )
            self._reserved[key] = amount
            self._total += amount - held

    def record(self, key: str, amount: Decimal) -> None:
        """Count a payment made earlier (a cached start re-attached after a retry)."""
        with self._lock:
            if key not in self._reserved:
                self._reserved[key] = amount
                self._total += amount

    def release(self, key: str) -> None:
        """Give back a reservation the server provably did not charge."""
        with self._lock:
            self._total -= self._reserved.pop(key, Decimal(0))
