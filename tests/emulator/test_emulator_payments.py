"""Paid start: payments signed by the official x402 SDK, verified and settled for real."""

from __future__ import annotations

import httpx
import pytest
from x402.http.clients.httpx import x402HttpxClient

from prefect_giga.core.networks import BASE, BASE_SEPOLIA
from prefect_giga.testing import DEFAULT_PAYEE, GigaEmulator
from prefect_giga.testing.pytest_plugin import EmulatorFactory

from .emulator_support import (
    SDK_OPT_INS,
    WALLET,
    b64json,
    new_wallet,
    paid_post,
    payment_header,
    quote,
    sdk_client,
    sign_payment,
    start_run,
)

BODY = {"prompt": "Summarise this [duration=10]"}
START = 1_000_000_000  # 1000 USDC, the default starting balance


def _rejected(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 402, response.text
    assert response.json()["error"] == reason
    assert response.json()["reason"] == reason
    assert "payment-response" not in response.headers
    assert b64json(response.headers["payment-required"])["error"] == reason


async def test_paid_route_402_has_empty_body_and_challenge_header(http: httpx.AsyncClient) -> None:
    response, _ = await quote(http, {"prompt": "hi", "tier": "$1.00"})
    assert response.content == b""
    challenge = b64json(response.headers["payment-required"])
    assert challenge["x402Version"] == 2
    assert challenge["resource"]["url"].endswith("/api/start")
    assert challenge["resource"]["mimeType"] == "application/json"
    assert challenge["accepts"] == [
        {
            "scheme": "exact",
            "network": "eip155:8453",
            "asset": BASE.usdc_address,
            "amount": "1000000",
            "payTo": DEFAULT_PAYEE,
            "maxTimeoutSeconds": 300,
            "extra": {"name": "USD Coin", "version": "2"},
        }
    ]


async def test_sdk_payment_is_accepted_once_and_replay_is_refused(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    _, required = await quote(http, BODY)
    header = payment_header(await sign_payment(required))

    first = await paid_post(http, BODY, header)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "running"
    receipt = b64json(first.headers["payment-response"])
    assert receipt["success"] is True
    assert receipt["payer"] == WALLET.address
    assert receipt["network"] == "eip155:8453"
    [entry] = emulator.ledger
    assert (entry.payer, entry.payee, entry.amount) == (WALLET.address, DEFAULT_PAYEE, 500_000)
    assert entry.tx_hash == receipt["transaction"]
    assert entry.run_id == first.json()["runId"]
    assert emulator.balance_of(WALLET.address) == START - 500_000
    assert emulator.balance_of(DEFAULT_PAYEE) == START + 500_000
    assert (WALLET.address.lower(), entry.nonce) in emulator.used_nonces

    replay = await paid_post(http, BODY, header)
    _rejected(replay, "invalid_exact_evm_nonce_already_used")
    assert len(emulator.ledger) == 1
    assert len(emulator.runs) == 1
    assert emulator.balance_of(WALLET.address) == START - 500_000


async def test_flipped_signature_byte_is_refused(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    _, required = await quote(http, BODY)
    payload = await sign_payment(required)
    signature = bytearray.fromhex(payload.payload["signature"][2:])
    signature[10] ^= 0x01
    payload.payload["signature"] = "0x" + signature.hex()
    _rejected(
        await paid_post(http, BODY, payment_header(payload)), "invalid_exact_evm_payload_signature"
    )
    assert emulator.ledger == [] and emulator.runs == []


async def test_changed_authorization_value_is_refused(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    _, required = await quote(http, BODY)
    payload = await sign_payment(required)
    payload.payload["authorization"]["value"] = "1"
    _rejected(
        await paid_post(http, BODY, payment_header(payload)),
        "invalid_exact_evm_payload_authorization_value_mismatch",
    )
    assert emulator.ledger == []


@pytest.mark.parametrize("amount", ["400000", "600000"])
async def test_amount_other_than_the_quote_is_refused(
    emulator: GigaEmulator, http: httpx.AsyncClient, amount: str
) -> None:
    _, required = await quote(http, BODY)
    payload = await sign_payment(required, amount=amount)
    response = await paid_post(http, BODY, payment_header(payload))
    _rejected(response, "requirements_mismatch")
    assert "amount" in response.json()["message"]
    assert emulator.ledger == [] and emulator.balance_of(WALLET.address) == START


async def test_payment_signed_for_another_chain_is_refused(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    _, required = await quote(http, BODY)
    payload = await sign_payment(
        required,
        network=BASE_SEPOLIA.caip2,
        asset=BASE_SEPOLIA.usdc_address,
        extra={"name": "USDC", "version": "2"},
    )
    _rejected(await paid_post(http, BODY, payment_header(payload)), "requirements_mismatch")
    assert emulator.ledger == []


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"name": "USDC", "version": "2"}, "invalid_exact_evm_token_name_mismatch"),
        ({"name": "USD Coin", "version": "1"}, "invalid_exact_evm_token_version_mismatch"),
    ],
)
async def test_wrong_token_domain_in_extra_is_refused(
    emulator: GigaEmulator, http: httpx.AsyncClient, extra: dict[str, str], reason: str
) -> None:
    _, required = await quote(http, BODY)
    payload = await sign_payment(required, extra=extra)
    _rejected(await paid_post(http, BODY, payment_header(payload)), reason)
    assert emulator.ledger == []


async def test_signature_over_another_token_domain_is_refused(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    # Signed over the Base Sepolia USDC domain name, then relabelled as Base USDC: only the
    # chain's real EIP-712 recovery (with the token's true name) can catch it.
    _, required = await quote(http, BODY)
    payload = await sign_payment(required, extra={"name": "USDC", "version": "2"})
    payload.accepted.extra = dict(required.accepts[0].extra)
    _rejected(
        await paid_post(http, BODY, payment_header(payload)), "invalid_exact_evm_payload_signature"
    )
    assert emulator.ledger == []


async def test_payment_to_another_payee_is_refused(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    other = new_wallet().address
    _, required = await quote(http, BODY)
    payload = await sign_payment(required, pay_to=other)
    _rejected(await paid_post(http, BODY, payment_header(payload)), "requirements_mismatch")

    # Same, but the signed authorization is to `other` while `accepted` names the payee.
    payload = await sign_payment(required, pay_to=other)
    payload.accepted.pay_to = required.accepts[0].pay_to
    _rejected(
        await paid_post(http, BODY, payment_header(payload)),
        "invalid_exact_evm_payload_recipient_mismatch",
    )
    assert emulator.ledger == [] and emulator.balance_of(other) == START


async def test_unfunded_wallet_gets_insufficient_balance(
    giga_emulator_factory: EmulatorFactory,
) -> None:
    poor = new_wallet()
    emulator = giga_emulator_factory(
        **SDK_OPT_INS, manual_clock=True, unfunded=frozenset({poor.address})
    )
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        _rejected(await start_run(http, BODY, poor), "invalid_exact_evm_insufficient_balance")
        emulator.usdc.set_balance(poor.address, "0.49")
        _rejected(await start_run(http, BODY, poor), "invalid_exact_evm_insufficient_balance")
        emulator.usdc.set_balance(poor.address, "0.50")
        assert (await start_run(http, BODY, poor)).status_code == 200
    assert [e.payer for e in emulator.ledger] == [poor.address]
    assert emulator.balance_of(poor.address) == 0


async def test_tier_in_body_sets_the_quote_and_the_charge(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    for tier, atomic in (("$0.50", 500_000), ("$1.00", 1_000_000), ("$2.00", 2_000_000)):
        _, required = await quote(http, {"prompt": "x", "tier": tier})
        assert required.accepts[0].amount == str(atomic)
    response = await start_run(http, {"prompt": "x", "tier": "$2.00"})
    assert response.status_code == 200
    assert [e.amount for e in emulator.ledger] == [2_000_000]


async def test_unknown_tier_is_charged_at_the_default_price(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    body = {"prompt": "x", "tier": "$9.99"}
    _, required = await quote(http, body)
    assert required.accepts[0].amount == "500000"
    assert (await start_run(http, body)).status_code == 200
    assert emulator.runs[0].tier == "$0.50"
    assert [e.amount for e in emulator.ledger] == [500_000]


async def test_unknown_tier_can_be_rejected(giga_emulator_factory: EmulatorFactory) -> None:
    emulator = giga_emulator_factory(**SDK_OPT_INS, unknown_tier="reject")
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        response = await http.post("/api/start", json={"prompt": "x", "tier": "$9.99"})
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_tier"


@pytest.mark.parametrize(
    "body", [b'{"tier": "$0.50"}', b"{not json", b'{"prompt": "x", "files": 3}']
)
async def test_invalid_body_is_quoted_at_highest_tier_then_400_and_not_charged(
    emulator: GigaEmulator, http: httpx.AsyncClient, body: bytes
) -> None:
    _, required = await quote(http, body)
    assert required.accepts[0].amount == "2000000"
    response = await paid_post(http, body, payment_header(await sign_payment(required)))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert emulator.ledger == [] and emulator.runs == [] and emulator.used_nonces == set()
    assert emulator.balance_of(WALLET.address) == START


async def test_payment_for_one_tier_sent_with_another_is_a_mismatch(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    _, required = await quote(http, {"prompt": "x", "tier": "$0.50"})
    header = payment_header(await sign_payment(required))
    _rejected(
        await paid_post(http, {"prompt": "x", "tier": "$1.00"}, header), "requirements_mismatch"
    )
    assert emulator.ledger == []


async def test_request_over_the_size_limit_gets_413(giga_emulator_factory: EmulatorFactory) -> None:
    emulator = giga_emulator_factory(**SDK_OPT_INS, max_request_bytes=1024)
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        response = await http.post("/api/start", json={"prompt": "x" * 2000})
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_sdk_httpx_transport_pays_the_two_dollar_tier(emulator: GigaEmulator) -> None:
    async with x402HttpxClient(sdk_client(), base_url=emulator.url) as http:
        response = await http.post("/api/start", json={"prompt": "big job", "tier": "$2.00"})
    assert response.status_code == 200, response.text
    assert [e.amount for e in emulator.ledger] == [2_000_000]
    assert emulator.request_count("start", 402) == 1
    assert emulator.request_count("start", 200) == 1


async def test_base_sepolia_emulator_uses_its_token(giga_emulator_factory: EmulatorFactory) -> None:
    emulator = giga_emulator_factory(**SDK_OPT_INS, network="base-sepolia")
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        _, required = await quote(http, BODY)
        assert required.accepts[0].network == "eip155:84532"
        assert required.accepts[0].extra == {"name": "USDC", "version": "2"}
        assert (await start_run(http, BODY)).status_code == 200
    assert emulator.ledger[0].network == "eip155:84532"
