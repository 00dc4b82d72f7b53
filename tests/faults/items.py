"""What a client process needs, kept light: wallets, prompts and fast policies (no emulator)."""

from __future__ import annotations

import hashlib

from prefect_giga import RetryPolicy
from prefect_giga.payments.paid_start import ReconcilePolicy

FAST_RETRY = RetryPolicy(attempts=5, initial_backoff=0.01, max_backoff=0.05, max_retry_after=1)
"""Free calls retry quickly (the emulator answers at once)."""
FAST_RECONCILE = ReconcilePolicy(resends=3, backoff=0.01)
"""A lost reply is followed up after 10 ms instead of a second."""
ONE_AT_A_TIME = ReconcilePolicy(resends=3, backoff=0.01, paid_in_flight=1)
"""`FAST_RECONCILE` with one paid request of a wallet in flight at a time (every lost reply
can then be claimed)."""


def wallet_key(index: int) -> str:
    """A deterministic throwaway private key (never funded anywhere real)."""
    return "0x" + hashlib.sha256(f"prefect-giga fault suite wallet {index}".encode()).hexdigest()


def prompt_for(idempotency_key: str, extra: str = "") -> str:
    """A prompt naming its key, so the run's ``output.md`` proves whose run it is."""
    return f"Money-safety item <{idempotency_key}> [duration=1]{extra}"
