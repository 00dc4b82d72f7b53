"""x402 payments without the network: EIP-3009 signatures against the vectors, the SDK's own
header decoding, eth-account signer recovery, the quote policy and the receipt."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from x402.http.utils import decode_payment_signature_header

from prefect_giga.core.exceptions import GigaConfigError, GigaProtocolError, QuoteRefusedError
from prefect_giga.core.models import Quote
from prefect_giga.core.networks import BASE, BASE_SEPOLIA, get_network
from prefect_giga.core.wallet import Wallet
from prefect_giga.payments.signing import (
    PAYMENT_IDENTIFIER,
    PaymentPolicy,
    SignedPayment,
    decode_b64_json,
    decode_receipt,
    payment_identifier,
    sign_payment,
)

from ..vectors import load_vectors
from ._giga_fakes import (
    ADDRESS,
    KEY,
    OTHER_PAYEE,
    PAYEE,
    TX_HASH,
    USDC_BASE,
    USDC_SEPOLIA,
    accepts_entry,
    b64json,
    payment_required,
    settlement_header,
    unb64json,
)

EIP3009_VECTORS = load_vectors()["eip3009"]
TRANSFER_TYPES = {
    "TransferWithAuthorization": [
        {"name": "from", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "validAfter", "type": "uint256"},
        {"name": "validBefore", "type": "uint256"},
        {"name": "nonce", "type": "bytes32"},
    ]
}


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.from_private_key(KEY)


def typed_message(authorization: dict[str, str]) -> dict[str, Any]:
    return {
        "from": authorization["from"],
        "to": authorization["to"],
        "value": int(authorization["value"]),
        "validAfter": int(authorization["validAfter"]),
        "validBefore": int(authorization["validBefore"]),
        "nonce": bytes.fromhex(authorization["nonce"].removeprefix("0x")),
    }


def recover_transfer_signer(
    domain: dict[str, Any], authorization: dict[str, str], signature: str
) -> str:
    signable = encode_typed_data(
        domain_data=domain, message_types=TRANSFER_TYPES, message_data=typed_message(authorization)
    )
    return str(Account.recover_message(signable, signature=signature))


def vector_challenge(vector: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    domain, message = vector["domain"], vector["message"]
    accepted = accepts_entry(
        message["value"],
        network=vector["network"],
        asset=domain["verifyingContract"],
        payTo=message["to"],
        extra={"name": domain["name"], "version": domain["version"]},
    )
    return payment_required(accepted), accepted


async def sign_vector(wallet: Wallet, vector: dict[str, Any]) -> SignedPayment:
    challenge, accepted = vector_challenge(vector)
    network = get_network(vector["network"])
    tier = "$" + str(int(vector["message"]["value"]) / 1_000_000)
    quote, chosen = PaymentPolicy(network=network).choose(challenge, tier)
    valid_before = int(vector["message"]["validBefore"])
    return await sign_payment(
        wallet,
        challenge,
        chosen,
        quote,
        nonce=vector["message"]["nonce"],
        idempotency_key="vector",
        now=valid_before - accepted["maxTimeoutSeconds"],
    )


# --- the oracle --------------------------------------------------------------------------


@pytest.mark.parametrize("vector", EIP3009_VECTORS, ids=lambda v: v["network"])
async def test_sign_payment_reproduces_eip3009_vector(
    wallet: Wallet, vector: dict[str, Any]
) -> None:
    signed = await sign_vector(wallet, vector)

    payload = decode_payment_signature_header(signed.header)

    assert payload.x402_version == 2
    assert payload.payload["signature"] == vector["signature"]
    assert payload.payload["authorization"] == vector["message"]
    assert signed.valid_before == int(vector["message"]["validBefore"])
    assert signed.nonce == vector["message"]["nonce"]
    assert signed.payer == ADDRESS


@pytest.mark.parametrize("vector", EIP3009_VECTORS, ids=lambda v: v["network"])
async def test_signed_payment_header_parses_with_x402_sdk(
    wallet: Wallet, vector: dict[str, Any]
) -> None:
    signed = await sign_vector(wallet, vector)
    _, accepted = vector_challenge(vector)

    payload = decode_payment_signature_header(signed.header)

    assert payload.accepted.amount == vector["message"]["value"]
    assert payload.accepted.pay_to == vector["message"]["to"]
    assert payload.accepted.network == vector["network"]
    assert payload.accepted.asset == vector["domain"]["verifyingContract"]
    assert payload.accepted.extra == accepted["extra"]
    assert payload.resource is not None
    assert payload.resource.url.endswith("/api/start")


@pytest.mark.parametrize("vector", EIP3009_VECTORS, ids=lambda v: v["network"])
def test_vector_digest_and_signer_recover_with_eth_account(vector: dict[str, Any]) -> None:
    signable = encode_typed_data(
        domain_data=vector["domain"],
        message_types=TRANSFER_TYPES,
        message_data=typed_message(vector["message"]),
    )
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)

    assert "0x" + digest.hex() == vector["digest"]
    assert recover_transfer_signer(vector["domain"], vector["message"], vector["signature"]) == (
        ADDRESS
    )


@pytest.mark.parametrize("network", [BASE, BASE_SEPOLIA], ids=lambda n: n.caip2)
async def test_signature_with_derived_nonce_recovers_to_wallet(wallet: Wallet, network) -> None:
    accepted = accepts_entry(
        "1000000",
        network=network.caip2,
        asset=network.usdc_address,
        extra={"name": network.usdc_eip712_name, "version": network.usdc_eip712_version},
    )
    challenge = payment_required(accepted)
    quote, chosen = PaymentPolicy(network=network).choose(challenge, "$1.00")
    nonce = wallet.payment_nonce("job-7")

    signed = await sign_payment(
        wallet, challenge, chosen, quote, nonce=nonce, idempotency_key="job-7", now=1_800_000_000
    )

    payload = unb64json(signed.header)["payload"]
    domain = {
        "name": network.usdc_eip712_name,
        "version": network.usdc_eip712_version,
        "chainId": network.chain_id,
        "verifyingContract": network.usdc_address,
    }
    assert payload["authorization"]["nonce"] == nonce
    assert payload["authorization"]["validBefore"] == str(1_800_000_000 + 300)
    assert recover_transfer_signer(domain, payload["authorization"], payload["signature"]) == (
        ADDRESS
    )


async def test_signed_payment_repr_hides_the_header(wallet: Wallet) -> None:
    signed = await sign_vector(wallet, EIP3009_VECTORS[0])

    assert signed.header not in repr(signed)
    assert EIP3009_VECTORS[0]["signature"][2:] not in repr(signed)


async def test_payment_identifier_extension_is_filled_when_offered(wallet: Wallet) -> None:
    challenge = payment_required(
        extensions={PAYMENT_IDENTIFIER: {"info": {"required": False}, "schema": {}}}
    )
    quote, chosen = PaymentPolicy(network=BASE).choose(challenge, "$0.50")

    signed = await sign_payment(
        wallet, challenge, chosen, quote, nonce="0x" + "ab" * 32, idempotency_key="job-1"
    )

    extension = unb64json(signed.header)["extensions"][PAYMENT_IDENTIFIER]
    assert extension["info"]["id"] == payment_identifier("job-1", ADDRESS)
    assert extension["info"]["required"] is False


def test_payment_identifier_is_stable_and_within_the_allowed_alphabet() -> None:
    first = payment_identifier("job-1", ADDRESS)

    assert first == payment_identifier("job-1", ADDRESS.lower())
    assert first != payment_identifier("job-2", ADDRESS)
    assert 16 <= len(first) <= 128
    assert all(c.isascii() and (c.isalnum() or c in "_-") for c in first)


async def test_payment_without_identifier_extension_carries_none(wallet: Wallet) -> None:
    challenge = payment_required()
    quote, chosen = PaymentPolicy(network=BASE).choose(challenge, "$0.50")

    signed = await sign_payment(
        wallet, challenge, chosen, quote, nonce="0x" + "ab" * 32, idempotency_key="job-1"
    )

    assert PAYMENT_IDENTIFIER not in (unb64json(signed.header).get("extensions") or {})


# --- the quote policy --------------------------------------------------------------------


def test_policy_chooses_the_first_allowed_option() -> None:
    wrong_network = accepts_entry(network="eip155:1")
    good = accepts_entry()
    policy = PaymentPolicy(network=BASE)

    quote, chosen = policy.choose(payment_required(wrong_network, good), "$0.50")

    assert chosen == good
    assert quote == Quote(
        tier="$0.50",
        amount=Decimal("0.5"),
        amount_atomic=500_000,
        network="eip155:8453",
        asset=USDC_BASE,
        pay_to=PAYEE,
        max_timeout_seconds=300,
    )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"scheme": "upto"}, "scheme_not_allowed"),
        ({"network": "eip155:84532", "asset": USDC_SEPOLIA}, "network_not_allowed"),
        ({"asset": "0x" + "12" * 20}, "asset_not_allowed"),
        ({"extra": {"name": "USDC", "version": "2"}}, "token_domain_mismatch"),
        ({"extra": {"name": "USD Coin", "version": "1"}}, "token_domain_mismatch"),
        ({"extra": None}, "token_domain_mismatch"),
        ({"maxTimeoutSeconds": 10**9}, "timeout_not_allowed"),
        ({"maxTimeoutSeconds": 0}, "timeout_not_allowed"),
        ({"maxTimeoutSeconds": "300"}, "timeout_not_allowed"),
    ],
    ids=[
        "scheme",
        "network",
        "asset",
        "extra-name",
        "extra-version",
        "extra-missing",
        "timeout-absurd",
        "timeout-zero",
        "timeout-string",
    ],
)
def test_policy_refuses_unsafe_option(overrides: dict[str, Any], reason: str) -> None:
    challenge = payment_required(accepts_entry(**overrides))

    with pytest.raises(QuoteRefusedError) as info:
        PaymentPolicy(network=BASE).choose(challenge, "$0.50")

    assert info.value.reason == reason


def test_policy_refuses_payee_outside_allowed_payees() -> None:
    policy = PaymentPolicy(network=BASE, allowed_payees=frozenset({OTHER_PAYEE.lower()}))

    with pytest.raises(QuoteRefusedError) as info:
        policy.choose(payment_required(), "$0.50")

    assert info.value.reason == "payee_not_allowed"


def test_policy_compares_allowed_payees_without_case() -> None:
    policy = PaymentPolicy(network=BASE, allowed_payees=frozenset({PAYEE.lower()}))

    quote, _ = policy.choose(payment_required(accepts_entry(payTo=PAYEE.upper())), "$0.50")

    assert quote.pay_to == PAYEE.upper()


def test_policy_refuses_empty_accepts() -> None:
    with pytest.raises(QuoteRefusedError) as info:
        PaymentPolicy(network=BASE).choose(payment_required(accepts=[]), "$0.50")

    assert info.value.reason == "no_payment_option"


@pytest.mark.parametrize(
    ("tier", "amount"),
    [("$0.50", "2000000"), ("$1.00", "500000"), ("$2.00", "1999999")],
    ids=["highest-tier-for-default", "default-price-for-another-tier", "one-micro-off"],
)
def test_policy_refuses_quote_that_differs_from_tier_price(tier: str, amount: str) -> None:
    with pytest.raises(QuoteRefusedError) as info:
        PaymentPolicy(network=BASE).choose(payment_required(accepts_entry(amount)), tier)

    assert info.value.reason == "price_mismatch"
    assert info.value.quote == Decimal(amount) / 1_000_000


def test_policy_uses_configured_price_for_named_tier() -> None:
    policy = PaymentPolicy(network=BASE, tier_prices={"premium": Decimal("2.00")})

    quote, _ = policy.choose(payment_required(accepts_entry("2000000")), "premium")

    assert quote.amount == Decimal("2")
    assert quote.tier == "premium"


def test_policy_refuses_unknown_tier_as_config_error() -> None:
    with pytest.raises(GigaConfigError, match="premium"):
        PaymentPolicy(network=BASE).choose(payment_required(), "premium")


def test_policy_refuses_tier_above_max_price_before_reading_quote() -> None:
    policy = PaymentPolicy(network=BASE, max_price_per_run=Decimal("1.00"))

    with pytest.raises(QuoteRefusedError) as info:
        policy.expected_price("$2.00")

    assert info.value.reason == "tier_above_max_price"
    assert info.value.limit == Decimal("1.00")


@pytest.mark.parametrize(
    "challenge",
    [
        {"x402Version": 1, "accepts": [accepts_entry()]},
        {"x402Version": 2},
        {"x402Version": 2, "accepts": {"0": accepts_entry()}},
        {"x402Version": 2, "accepts": ["exact"]},
    ],
    ids=["version-1", "no-accepts", "accepts-not-list", "entry-not-object"],
)
def test_policy_treats_malformed_challenge_as_protocol_error(challenge: dict[str, Any]) -> None:
    with pytest.raises(GigaProtocolError):
        PaymentPolicy(network=BASE).choose(challenge, "$0.50")


@pytest.mark.parametrize("amount", ["0.5", "-500000", "", "5e5"])
def test_policy_refuses_amount_that_is_not_atomic_units(amount: str) -> None:
    with pytest.raises(GigaProtocolError):
        PaymentPolicy(network=BASE).choose(payment_required(accepts_entry(amount)), "$0.50")


def test_policy_refuses_non_ascii_digit_amount_as_protocol_error() -> None:
    with pytest.raises(GigaProtocolError):
        PaymentPolicy(network=BASE).choose(payment_required(accepts_entry("²")), "$0.50")


# --- headers and receipts ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["%%%not base64%%%", b64json("just a string"), "aGVsbG8=", b64json([1, 2])],
    ids=["not-base64", "json-string", "not-json", "json-list"],
)
def test_decode_b64_json_refuses_anything_but_an_object(value: str) -> None:
    with pytest.raises(GigaProtocolError, match="PAYMENT-REQUIRED"):
        decode_b64_json(value, "PAYMENT-REQUIRED")


def _signed(quote: Quote) -> SignedPayment:
    return SignedPayment(
        header="unused", quote=quote, nonce="0x" + "cd" * 32, valid_before=1, payer=ADDRESS
    )


def _quote() -> Quote:
    return PaymentPolicy(network=BASE).choose(payment_required(), "$0.50")[0]


def test_decode_receipt_reads_the_settlement() -> None:
    receipt = decode_receipt(settlement_header(), _signed(_quote()))

    assert receipt.transaction == TX_HASH
    assert receipt.payer == ADDRESS
    assert receipt.amount == Decimal("0.5")
    assert receipt.amount_atomic == 500_000
    assert receipt.pay_to == PAYEE
    assert receipt.payment_nonce == "0x" + "cd" * 32


def test_decode_receipt_without_header_has_empty_transaction() -> None:
    receipt = decode_receipt(None, _signed(_quote()))

    assert receipt.transaction == ""
    assert receipt.network == "eip155:8453"


@pytest.mark.parametrize(
    "header",
    [settlement_header(payer=OTHER_PAYEE), settlement_header(network="eip155:84532")],
    ids=["other-payer", "other-network"],
)
def test_decode_receipt_refuses_settlement_for_someone_else(header: str) -> None:
    with pytest.raises(GigaProtocolError, match="PAYMENT-RESPONSE"):
        decode_receipt(header, _signed(_quote()))


class _UnpinnedHost:
    """Just what `check_payee` reads from a client: no allowed payees, nothing pinned."""

    base_url = "https://giga.example"
    pin_payee = False

    def __init__(self) -> None:
        self.policy = PaymentPolicy(BASE)
        self.journal = self

    def pinned_payee(self, server: str, network: str) -> str | None:
        return None


def test_a_first_payee_is_warned_about_once_per_client(caplog: pytest.LogCaptureFixture) -> None:
    from prefect_giga.payments.start_guards import check_payee

    quote = Quote(
        tier="$1.00",
        amount=Decimal("1.00"),
        amount_atomic=1_000_000,
        network="eip155:8453",
        asset="0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        pay_to="0x" + "ab" * 20,
    )
    first, second = _UnpinnedHost(), _UnpinnedHost()
    caplog.set_level("WARNING", logger="prefect_giga.payments")
    for _ in range(3):  # concurrent first starts of one client
        check_payee(first, quote)  # type: ignore[arg-type]
    check_payee(second, quote)  # type: ignore[arg-type]
    warnings = [r for r in caplog.records if "for the first time" in r.getMessage()]
    assert len(warnings) == 2
