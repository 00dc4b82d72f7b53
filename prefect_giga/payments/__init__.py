"""Paying for a run: the quote policy, x402 signing, the exactly-once paid start, the
journal and budgets."""

# `prefect_giga.payments` was one module before the package grew rooms; its names stay here.
from .signing import (
    MAX_ACCEPTED_TIMEOUT_SECONDS,
    PAYMENT_IDENTIFIER,
    PaymentPolicy,
    SignedPayment,
    decode_b64_json,
    decode_receipt,
    payment_identifier,
    sign_payment,
)

__all__ = [
    "MAX_ACCEPTED_TIMEOUT_SECONDS",
    "PAYMENT_IDENTIFIER",
    "PaymentPolicy",
    "SignedPayment",
    "decode_b64_json",
    "decode_receipt",
    "payment_identifier",
    "sign_payment",
]
