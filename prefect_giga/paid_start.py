"""Moved to `prefect_giga.payments.paid_start` (old imports and saved results use this path)."""

from .payments.host import ReconcilePolicy
from .payments.lane import PaidLane
from .payments.paid_start import PaidStart
from .payments.replies import PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE

__all__ = [
    "PAYMENT_REQUIRED",
    "PAYMENT_RESPONSE",
    "PAYMENT_SIGNATURE",
    "PaidLane",
    "PaidStart",
    "ReconcilePolicy",
]
