"""x402 v2 for the paid route: the 402 challenge, and verifying and settling a paid request.

Verification and settlement go through the official SDK facilitator
(`x402.x402FacilitatorSync` with `ExactEvmFacilitatorScheme`) over the in-memory chain, so
signatures, amounts, payees, windows, nonces and balances are checked for real. On top of
the SDK, the emulator does what the real router does first (the signed ``accepted`` must
match the server-built requirement, else ``requirements_mismatch``) and what the SDK does
not (``accepted.extra.name``/``version`` must be the token's real EIP-712 domain).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from x402 import x402FacilitatorSync
from x402.http.utils import decode_payment_signature_header
from x402.mechanisms.evm.constants import ERR_TOKEN_NAME_MISMATCH, ERR_TOKEN_VERSION_MISMATCH
from x402.mechanisms.evm.exact import ExactEvmFacilitatorScheme
from x402.schemas import PaymentPayload, PaymentRequirements, SettleResponse

from prefect_giga.testing.chain import InMemoryUsdc
from prefect_giga.testing.evm_signer import EmulatorEvmSigner

__all__ = ["PaymentGate", "PaymentRejected", "VerifiedPayment", "b64_json"]

REQUIREMENTS_MISMATCH = "requirements_mismatch"
_STABLE_FIELDS = (
    ("scheme", "scheme"),
    ("network", "network"),
    ("asset", "asset"),
    ("amount", "amount"),
    ("pay_to", "payTo"),
    ("max_timeout_seconds", "maxTimeoutSeconds"),
)


def b64_json(value: Any) -> str:
    """Base64 (standard alphabet) of compact JSON, as x402 headers carry it.

    Example:
        >>> b64_json({"a": 1})
        'eyJhIjoxfQ=='
    """
    text = json.dumps(value, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class PaymentRejected(Exception):
    """A paid request was refused before anything ran; answered with 402.

    Attributes:
        reason: The machine-readable reason (an x402 SDK code or ``requirements_mismatch``).
        message: A human-readable explanation.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class VerifiedPayment:
    """A payment that passed verification and may now be settled.

    Attributes:
        payload: The decoded ``PAYMENT-SIGNATURE``.
        requirements: The server-built requirement it matched.
        payer: The checksummed payer.
        nonce: The EIP-3009 nonce (``0x`` hex).
    """

    payload: PaymentPayload
    requirements: PaymentRequirements
    payer: str
    nonce: str


def _same(field: str, signed: Any, expected: Any) -> bool:
    if field in ("asset", "pay_to"):
        return str(signed).lower() == str(expected).lower()
    return str(signed) == str(expected)


class PaymentGate:
    """Builds quotes and verifies and settles payments on one network's USDC.

    Args:
        usdc: The in-memory token payments move.
        max_timeout_seconds: ``maxTimeoutSeconds`` of every quote.

    Example:
        >>> from prefect_giga.core.networks import BASE
        >>> gate = PaymentGate(InMemoryUsdc(BASE))
        >>> gate.requirement(500000, "0x179eC767Cd66Dd21064F85fd630385f26A98FD4e")["amount"]
        '500000'
    """

    def __init__(self, usdc: InMemoryUsdc, *, max_timeout_seconds: int = 300) -> None:
        self.usdc = usdc
        self.network = usdc.network
        self.max_timeout_seconds = max_timeout_seconds
        self._facilitator = x402FacilitatorSync()
        self._facilitator.register(
            [self.network.caip2], ExactEvmFacilitatorScheme(EmulatorEvmSigner(usdc))
        )

    def requirement(self, amount: int, pay_to: str) -> dict[str, Any]:
        """One ``accepts`` entry asking for ``amount`` atomic USDC to ``pay_to``."""
        return {
            "scheme": "exact",
            "network": self.network.caip2,
            "asset": self.usdc.address,
            "amount": str(amount),
            "payTo": to_checksum_address(pay_to),
            "maxTimeoutSeconds": self.max_timeout_seconds,
            "extra": {
                "name": self.network.usdc_eip712_name,
                "version": self.network.usdc_eip712_version,
            },
        }

    @staticmethod
    def challenge(url: str, accepts: dict[str, Any], error: str) -> dict[str, Any]:
        """The ``PAYMENT-REQUIRED`` content for the paid route."""
        return {
            "x402Version": 2,
            "error": error,
            "resource": {
                "url": url,
                "description": "Start a Giga agent run",
                "mimeType": "application/json",
            },
            "accepts": [accepts],
        }

    def verify(self, header: str, expected: dict[str, Any]) -> VerifiedPayment:
        """Decode and verify a ``PAYMENT-SIGNATURE`` against the server-built requirement.

        Raises:
            PaymentRejected: The payment is malformed, does not match the quote, names the
                wrong token domain, or fails the SDK facilitator's verification.
        """
        try:
            payload = decode_payment_signature_header(header)
        except Exception:
            raise PaymentRejected(
                "invalid_payload", "PAYMENT-SIGNATURE is not a valid x402 payment"
            ) from None
        if not isinstance(payload, PaymentPayload) or payload.x402_version != 2:
            raise PaymentRejected("unsupported_x402_version", "Only x402 version 2 is accepted")
        accepted = payload.accepted
        for attr, key in _STABLE_FIELDS:
            signed, wanted = getattr(accepted, attr), expected[key]
            if not _same(attr, signed, wanted):
                raise PaymentRejected(
                    REQUIREMENTS_MISMATCH,
                    "Signed payment requirements did not match any server-built requirement "
                    f"({key}: signed {signed!r}, required {wanted!r})",
                )
        extra = accepted.extra or {}
        if extra.get("name") != self.network.usdc_eip712_name:
            raise PaymentRejected(ERR_TOKEN_NAME_MISMATCH, "extra.name is not the token's name")
        if extra.get("version") != self.network.usdc_eip712_version:
            raise PaymentRejected(
                ERR_TOKEN_VERSION_MISMATCH, "extra.version is not the token's version"
            )
        requirements = PaymentRequirements.model_validate(expected)
        try:
            result = self._facilitator.verify(payload, requirements)
        except Exception as exc:
            raise PaymentRejected("verify_error", str(exc)) from None
        if not result.is_valid or not result.payer:
            reason = result.invalid_reason or "invalid_payment"
            raise PaymentRejected(reason, result.invalid_message or reason)
        nonce = str(payload.payload.get("authorization", {}).get("nonce", ""))
        return VerifiedPayment(payload, requirements, to_checksum_address(result.payer), nonce)

    def settle(self, payment: VerifiedPayment, *, fail: bool = False) -> SettleResponse:
        """Settle on the in-memory chain; ``fail=True`` simulates a facilitator failure."""
        if fail:
            return SettleResponse(
                success=False,
                error_reason="settlement_failed",
                error_message="injected settlement failure",
                payer=payment.payer,
                transaction="",
                network=self.network.caip2,
            )
        try:
            result: SettleResponse = self._facilitator.settle(payment.payload, payment.requirements)
        except Exception as exc:
            return SettleResponse(
                success=False,
                error_reason="settle_error",
                error_message=str(exc),
                payer=payment.payer,
                transaction="",
                network=self.network.caip2,
            )
        return result
