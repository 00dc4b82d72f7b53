"""Settling the authorizations a hostile emulator stashed: payments made for no run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect_giga.testing.hostile import StashOutcome

if TYPE_CHECKING:
    from prefect_giga.testing.state import EmulatorState

__all__ = ["settle_stashed"]


def settle_stashed(emulator: EmulatorState, payer: str | None = None) -> list[StashOutcome]:
    """Try to settle every authorization stashed for ``payer`` (everyone's when ``None``).

    Settlement goes through the emulator's real facilitator and in-memory chain; one that
    succeeds is recorded in the ledger with an empty ``run_id`` (paid for no run).

    Example:
        >>> from prefect_giga.testing import GigaEmulator
        >>> settle_stashed(GigaEmulator())
        []
    """
    outcomes: list[StashOutcome] = []
    for payment in emulator.hostile.take_stashed(payer):
        settled = emulator.payments.settle(payment)
        if settled.success:
            emulator.record_paid(payment, settled.transaction, run_id="")
        reason = "" if settled.success else str(settled.error_reason or "settle_failed")
        outcome = StashOutcome(payment.payer, payment.nonce, bool(settled.success), reason)
        emulator.hostile.count(outcome)
        outcomes.append(outcome)
    return outcomes
