"""x402 payments for Giga's paid start: check the quote, sign with a chosen nonce, read the receipt.

The quote in a 402 is checked against the user's limits *before* anything is signed. Signing
goes through the official x402 SDK (``x402Client`` with an EIP-3009 scheme registered), with
one difference from the SDK's own ``ExactEvmScheme``: the EIP-3009 nonce is the one the
caller derived for the logical start, so every payment signed for that start shares it and
the USDC contract can settle at most one of them.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from ..core.exceptions import GigaConfigError, GigaProtocolError, QuoteRefusedError
from ..core.models import PaymentReceipt, Quote
from ..core.money import format_usd, parse_usd, tier_price, to_atomic, to_usd
from ..core.networks import Network
from ..core.wallet import Wallet

__all__ = [
    "PAYMENT_IDENTIFIER",
    "PaymentPolicy",
    "SignedPayment",
    "decode_b64_json",
    "decode_receipt",
    "sign_payment",
]

PAYMENT_IDENTIFIER = "payment-identifier"
_ADDRESS = re.compile(r"^0x[0-9a-f]{40}$", re.IGNORECASE)
MAX_ACCEPTED_TIMEOUT_SECONDS = 3600


def decode_b64_json(value: str, what: str) -> dict[str, Any]:
    """Decode a base64 JSON header (``PAYMENT-REQUIRED``, ``PAYMENT-RESPONSE``).

    Raises:
        GigaProtocolError: The header is not base64 of a JSON object.
    """
    try:
        decoded = json.loads(base64.b64decode(value.strip(), validate=False))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise GigaProtocolError(f"The server's {what} header is not base64-encoded JSON") from None
    if not isinstance(decoded, dict):
        raise GigaProtocolError(f"The server's {what} header is not a JSON object")
    return decoded


@dataclass(frozen=True)
class PaymentPolicy:
    """What the user allows a paid start to cost and whom it may pay.

    Attributes:
        network: The only network payments may use.
        max_price_per_run: The most one run may cost, in USD (``None``: the tier's price).
        tier_prices: Prices for tier keys that are not themselves prices (``"premium"``).
        allowed_payees: Addresses that may be paid (``None``: any payee).
        max_timeout_seconds: The longest validity window a quote may ask for.

    Example:
        >>> from prefect_giga.core.networks import BASE
        >>> policy = PaymentPolicy(network=BASE, max_price_per_run=Decimal("1.00"))
        >>> policy.expected_price("$0.50")
        Decimal('0.50')
    """

    network: Network
    max_price_per_run: Decimal | None = None
    tier_prices: Mapping[str, Decimal] = field(default_factory=dict)
    allowed_payees: frozenset[str] | None = None
    max_timeout_seconds: int = MAX_ACCEPTED_TIMEOUT_SECONDS

    def with_published(self, published: Mapping[str, Decimal]) -> PaymentPolicy:
        """This policy, also knowing the prices a server publishes for keys that are not prices.

        The user's own ``tier_prices`` win; a key that is a price (``"$1.00"``) keeps it.

        Example:
            >>> from prefect_giga.core.networks import BASE
            >>> policy = PaymentPolicy(network=BASE).with_published({"pro": Decimal("2")})
            >>> policy.expected_price("pro")
            Decimal('2')
        """
        learned = {k: v for k, v in published.items() if tier_price(k) is None}
        if all(k in self.tier_prices for k in learned):
            return self
        return dataclasses.replace(self, tier_prices={**learned, **self.tier_prices})

    def expected_price(self, tier: str) -> Decimal:
        """The price the user expects for ``tier``, refusing tiers that would cost too much.

        Raises:
            GigaConfigError: The tier is unknown (not a price and not configured).
            QuoteRefusedError: The tier costs more than ``max_price_per_run``.
        """
        price = self.tier_prices.get(tier)
        if price is None:
            price = tier_price(tier)
        if price is None:
            known = ", ".join(sorted(self.tier_prices)) or "none configured"
            raise GigaConfigError(
                f"Unknown tier {tier!r}: Giga's tier keys are prices such as '$1.00' or '$2.00'; "
                f"other keys need a configured price (tier_prices: {known})"
            )
        price = parse_usd(price)
        if self.max_price_per_run is not None and price > self.max_price_per_run:
            raise QuoteRefusedError(
                f"Tier {tier} costs {format_usd(price)}, above max_price_per_run "
                f"{format_usd(self.max_price_per_run)}; nothing was signed",
                reason="tier_above_max_price",
                quote=price,
                limit=self.max_price_per_run,
            )
        return price

    def choose(
        self, payment_required: Mapping[str, Any], tier: str
    ) -> tuple[Quote, dict[str, Any]]:
        """Pick the ``accepts`` entry this policy allows and check its price.

        Args:
            payment_required: The decoded ``PAYMENT-REQUIRED`` challenge.
            tier: The tier that was asked for.

        Returns:
            The checked quote and the raw ``accepts`` entry to sign.

        Raises:
            GigaProtocolError: The challenge is malformed.
            QuoteRefusedError: No entry is on the allowed network, asset and payee, or the
                price differs from the tier's or exceeds the limit.
        """
        expected = self.expected_price(tier)
        accepts = payment_required.get("accepts")
        if payment_required.get("x402Version") != 2 or not isinstance(accepts, list):
            raise GigaProtocolError(
                "The PAYMENT-REQUIRED challenge is not x402 version 2 with an 'accepts' list"
            )
        refusals: list[str] = []
        for entry in accepts:
            if not isinstance(entry, dict):
                raise GigaProtocolError(
                    "An 'accepts' entry of the payment challenge is not an object"
                )
            if not _ADDRESS.match(str(entry.get("payTo", ""))):
                raise GigaProtocolError(
                    f"The payment challenge's payTo {str(entry.get('payTo'))[:60]!r} is not an "
                    "address; nothing was signed"
                )
            refusal = self._refusal(entry)
            if refusal is None:
                return self._check_price(entry, tier, expected), entry
            refusals.append(refusal)
        detail = "; ".join(refusals) or "it offered no way to pay"
        raise QuoteRefusedError(
            f"Refusing to pay: no payment option matches what you allow ({detail}); "
            "nothing was signed",
            reason=_first_reason(refusals),
        )

    def _refusal(self, entry: Mapping[str, Any]) -> str | None:
        network = self.network
        raw_extra = entry.get("extra")
        extra: Mapping[str, Any] = raw_extra if isinstance(raw_extra, dict) else {}
        pay_to = str(entry.get("payTo", ""))
        if entry.get("scheme") != "exact":
            return f"scheme_not_allowed: scheme {entry.get('scheme')!r} is not 'exact'"
        if entry.get("network") != network.caip2:
            return (
                f"network_not_allowed: asks for {entry.get('network')!r}, allowed {network.caip2}"
            )
        if str(entry.get("asset", "")).lower() != network.usdc_address.lower():
            return f"asset_not_allowed: asset {entry.get('asset')!r} is not USDC on {network.name}"
        if (extra.get("name"), extra.get("version")) != (
            network.usdc_eip712_name,
            network.usdc_eip712_version,
        ):
            return (
                f"token_domain_mismatch: EIP-712 domain {extra.get('name')!r}/"
                f"{extra.get('version')!r} is not USDC's {network.usdc_eip712_name!r}/"
                f"{network.usdc_eip712_version!r}"
            )
        if self.allowed_payees is not None and pay_to.lower() not in self.allowed_payees:
            return f"payee_not_allowed: payee {pay_to} is not in allowed_payees"
        timeout = entry.get("maxTimeoutSeconds")
        if not isinstance(timeout, int) or not 0 < timeout <= self.max_timeout_seconds:
            return (
                f"timeout_not_allowed: maxTimeoutSeconds {timeout!r} is outside "
                f"1..{self.max_timeout_seconds}"
            )
        return None

    def _check_price(self, entry: Mapping[str, Any], tier: str, expected: Decimal) -> Quote:
        raw = str(entry.get("amount", ""))
        if not (raw.isascii() and raw.isdigit()):
            raise GigaProtocolError(f"The quoted amount {raw!r} is not an integer of atomic units")
        amount = to_usd(raw)
        quote = Quote(
            tier=tier,
            amount=amount,
            amount_atomic=int(raw),
            network=str(entry["network"]),
            asset=str(entry["asset"]),
            pay_to=str(entry.get("payTo", "")),
            max_timeout_seconds=int(entry["maxTimeoutSeconds"]),
        )
        if int(raw) != to_atomic(expected):
            raise QuoteRefusedError(
                f"Refusing to pay: the server quoted {format_usd(amount)} for tier {tier}, which "
                f"costs {format_usd(expected)}; nothing was signed",
                reason="price_mismatch",
                quote=amount,
                limit=expected,
            )
        if self.max_price_per_run is not None and amount > self.max_price_per_run:
            raise QuoteRefusedError(
                f"Refusing to pay: the quote {format_usd(amount)} is above max_price_per_run "
                f"{format_usd(self.max_price_per_run)}; nothing was signed",
                reason="above_max_price",
                quote=amount,
                limit=self.max_price_per_run,
            )
        return quote


def _first_reason(refusals: list[str]) -> str:
    return refusals[0].split(":", 1)[0] if refusals else "no_payment_option"


@dataclass(frozen=True)
class SignedPayment:
    """A signed payment ready to send, and what it commits to.

    ``header`` is the ``PAYMENT-SIGNATURE`` value: a bearer credential for the amount, never
    logged. ``repr`` leaves it out.
    """

    header: str = field(repr=False)
    quote: Quote
    nonce: str
    valid_before: int
    payer: str

    def receipt(self, transaction: str) -> PaymentReceipt:
        """The receipt of this payment once settled in ``transaction`` ("" when unknown)."""
        quote = self.quote
        return PaymentReceipt(
            tier=quote.tier,
            amount=quote.amount,
            amount_atomic=quote.amount_atomic,
            asset=quote.asset,
            network=quote.network,
            payer=self.payer,
            pay_to=quote.pay_to,
            transaction=transaction,
            payment_nonce=self.nonce,
        )


class _FixedNonceExactScheme:
    """The x402 ``exact`` EIP-3009 scheme, signing with a nonce chosen by the caller."""

    scheme = "exact"

    def __init__(self, wallet: Wallet, nonce: str, now: float) -> None:
        from x402.mechanisms.evm.signers import EthAccountSigner

        # EthAccountSigner only calls sign_typed_data: any eth-account style signer works.
        self._signer = EthAccountSigner(cast(Any, wallet.signer))
        self._address = wallet.address
        self._nonce = nonce
        self._now = int(now)
        self.valid_before = 0

    def create_payment_payload(self, requirements: Any) -> dict[str, Any]:
        from x402.mechanisms.evm.eip712 import build_typed_data_for_signing
        from x402.mechanisms.evm.types import (
            ExactEIP3009Authorization,
            ExactEIP3009Payload,
            TypedDataField,
        )

        self.valid_before = self._now + int(requirements.max_timeout_seconds)
        authorization = ExactEIP3009Authorization(
            from_address=self._address,
            to=requirements.pay_to,
            value=requirements.amount,
            valid_after="0",
            valid_before=str(self.valid_before),
            nonce=self._nonce,
        )
        network = str(requirements.network)
        domain, types, primary_type, message = build_typed_data_for_signing(
            authorization,
            int(network.split(":", 1)[1]),
            requirements.asset,
            requirements.extra["name"],
            requirements.extra["version"],
        )
        fields = {
            name: [TypedDataField(name=f["name"], type=f["type"]) for f in entries]
            for name, entries in types.items()
        }
        signature = self._signer.sign_typed_data(domain, fields, primary_type, message)
        payload = ExactEIP3009Payload(authorization=authorization, signature="0x" + signature.hex())
        result: dict[str, Any] = payload.to_dict()
        return result


def payment_identifier(idempotency_key: str, payer: str) -> str:
    """The ``payment-identifier`` id for a logical start (16-128 of ``[A-Za-z0-9_-]``)."""
    digest = hashlib.sha256(f"{payer.lower()}|{idempotency_key}".encode()).hexdigest()
    return f"giga_{digest[:48]}"


async def sign_payment(
    wallet: Wallet,
    payment_required: Mapping[str, Any],
    accepted: Mapping[str, Any],
    quote: Quote,
    *,
    nonce: str,
    idempotency_key: str,
    now: float | None = None,
) -> SignedPayment:
    """Sign the chosen ``accepts`` entry through the x402 SDK with the given EIP-3009 nonce.

    Only the entry the policy chose is offered to the SDK, and its spend cap is set to the
    checked quote, so the SDK cannot pick or pay anything else. When the server declares the
    ``payment-identifier`` extension, the payload carries an id derived from the start's key.

    Raises:
        GigaProtocolError: The challenge does not parse as an x402 ``PaymentRequired``.
    """
    from pydantic import ValidationError
    from x402 import x402Client
    from x402.http.utils import encode_payment_signature_header
    from x402.schemas import PaymentRequired

    extensions = payment_required.get("extensions")
    offer = {**payment_required, "accepts": [dict(accepted)]}
    if isinstance(extensions, dict) and PAYMENT_IDENTIFIER in extensions:
        ext = dict(extensions)
        declared = (
            dict(ext[PAYMENT_IDENTIFIER]) if isinstance(ext[PAYMENT_IDENTIFIER], dict) else {}
        )
        info = dict(declared.get("info") or {})
        info["id"] = payment_identifier(idempotency_key, wallet.address)
        ext[PAYMENT_IDENTIFIER] = {**declared, "info": info}
        offer["extensions"] = ext
    try:
        required = PaymentRequired.model_validate(offer)
    except ValidationError as exc:
        raise GigaProtocolError(
            f"The PAYMENT-REQUIRED challenge is malformed ({exc.error_count()} problems)"
        ) from None

    scheme = _FixedNonceExactScheme(wallet, nonce, time.time() if now is None else now)
    client = x402Client()
    client.register(quote.network, scheme)
    client.set_spend_controls(
        {
            "max_amount_per_payment": f"${quote.amount}",
            "allowed_assets": [
                {
                    "network": quote.network,
                    "asset": quote.asset,
                    "max_amount_per_payment": str(quote.amount_atomic),
                }
            ],
        }
    )
    payload = await client.create_payment_payload(required)
    return SignedPayment(
        header=encode_payment_signature_header(payload),
        quote=quote,
        nonce=nonce,
        valid_before=scheme.valid_before,
        payer=wallet.address,
    )


def decode_receipt(header: str | None, payment: SignedPayment) -> PaymentReceipt:
    """Build the receipt from ``PAYMENT-RESPONSE`` and the payment that was sent.

    A missing header still gives a receipt (with an empty transaction hash): the run started
    and the payment was accepted.

    Raises:
        GigaProtocolError: The header is malformed or names another payer or network.
    """
    quote = payment.quote
    transaction = ""
    if header:
        settled = decode_b64_json(header, "PAYMENT-RESPONSE")
        payer = str(settled.get("payer") or payment.payer)
        if payer.lower() != payment.payer.lower():
            raise GigaProtocolError(
                f"PAYMENT-RESPONSE names payer {payer}, not this wallet {payment.payer}"
            )
        network = str(settled.get("network") or quote.network)
        if network != quote.network:
            raise GigaProtocolError(
                f"PAYMENT-RESPONSE names network {network}, not {quote.network}"
            )
        transaction = str(settled.get("transaction") or "")
    return payment.receipt(transaction)
