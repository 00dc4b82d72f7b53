"""`GigaClient.start` and `quote` against hand-built x402 402s: what gets signed, what gets
refused before signing, and how every failure of the paid request is classified."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from x402.http.utils import decode_payment_signature_header

from prefect_giga import FileAttachment, Quote, RetryPolicy, RunStatus
from prefect_giga.core.exceptions import (
    AttachmentError,
    BudgetExceededError,
    GigaConfigError,
    GigaProtocolError,
    GigaServerError,
    GigaTransportError,
    InsufficientFundsError,
    OutcomeUnknownError,
    PaymentRejectedError,
    QuoteRefusedError,
    RateLimitedError,
    SettlementFailedError,
)
from prefect_giga.core.wallet import Wallet

from ._giga_fakes import (
    ADDRESS,
    BASE_URL,
    KEY,
    NO_WAIT_RECONCILE,
    OTHER_PAYEE,
    PAYEE,
    PAYMENT_SIGNATURE,
    TX_HASH,
    USDC_BASE,
    USDC_SEPOLIA,
    Script,
    StartEndpoint,
    accepts_entry,
    api_calls,
    b64json,
    body_of,
    iso,
    make_client,
    mock_list,
    payment_of,
    payment_required,
    quote_402,
    started_200,
    summary_json,
)

START_URL = f"{BASE_URL}/api/start"


@pytest.fixture
def start(router: respx.MockRouter) -> StartEndpoint:
    """The default fake: quotes $0.50 to ``PAYEE``, then starts ``run_1``."""
    endpoint = StartEndpoint()
    router.post(START_URL).mock(side_effect=endpoint)
    return endpoint


def mock_start(router: respx.MockRouter, **replies: Any) -> StartEndpoint:
    endpoint = StartEndpoint(**replies)
    router.post(START_URL).mock(side_effect=endpoint)
    return endpoint


def quoted(amount: str, **overrides: Any) -> Any:
    return lambda _: quote_402(accepts_entry(amount, **overrides))


# --- happy path --------------------------------------------------------------------------


async def test_start_pays_the_quote_with_the_derived_nonce(start: StartEndpoint) -> None:
    async with make_client() as giga:
        await giga.start("Write a haiku", idempotency_key="job-1")

    assert len(start.probes) == 1
    assert len(start.payments) == 1
    payload = decode_payment_signature_header(start.payments[0].headers[PAYMENT_SIGNATURE])
    authorization = payload.payload["authorization"]
    assert authorization["value"] == "500000"
    assert authorization["from"] == ADDRESS
    assert authorization["to"] == PAYEE
    assert authorization["nonce"] == Wallet.from_private_key(KEY).payment_nonce("job-1")
    assert authorization["validAfter"] == "0"
    assert payload.accepted.amount == "500000"
    assert payload.accepted.pay_to == PAYEE
    assert payload.accepted.asset == USDC_BASE


async def test_start_sends_the_same_body_with_the_default_tier_to_probe_and_payment(
    start: StartEndpoint,
) -> None:
    async with make_client() as giga:
        await giga.start("Write a haiku")

    probe, paid = body_of(start.probes[0]), body_of(start.payments[0])
    assert probe == paid == {"prompt": "Write a haiku", "tier": "$0.50"}
    assert PAYMENT_SIGNATURE not in start.probes[0].headers


async def test_start_sends_the_chosen_tier_in_the_body(router: respx.MockRouter) -> None:
    endpoint = mock_start(router, quote=quoted("1000000"))

    async with make_client() as giga:
        started = await giga.start("Write a haiku", tier="$1.00")

    assert body_of(endpoint.probes[0])["tier"] == "$1.00"
    assert body_of(endpoint.payments[0])["tier"] == "$1.00"
    assert started.receipt is not None
    assert started.receipt.amount == Decimal("1")


async def test_start_sends_the_configured_default_tier(router: respx.MockRouter) -> None:
    endpoint = mock_start(router, quote=quoted("2000000"))

    async with make_client(default_tier="$2.00") as giga:
        await giga.start("Write a haiku")

    assert body_of(endpoint.probes[0])["tier"] == "$2.00"
    assert payment_of(endpoint.payments[0])["payload"]["authorization"]["value"] == "2000000"


async def test_start_returns_run_and_receipt_from_payment_response(start: StartEndpoint) -> None:
    async with make_client() as giga:
        started = await giga.start("Write a haiku", idempotency_key="job-1")

    assert started.run_id == "run_1"
    assert started.status is RunStatus.RUNNING
    receipt = started.receipt
    assert receipt is not None
    assert receipt.transaction == TX_HASH
    assert receipt.amount == Decimal("0.50")
    assert receipt.amount_atomic == 500_000
    assert receipt.payer == ADDRESS
    assert receipt.pay_to == PAYEE
    assert receipt.network == "eip155:8453"
    assert receipt.tier == "$0.50"
    assert receipt.payment_nonce == Wallet.from_private_key(KEY).payment_nonce("job-1")


async def test_start_with_same_key_signs_the_same_nonce(start: StartEndpoint) -> None:
    async with make_client() as giga:
        await giga.start("Write a haiku", idempotency_key="job-1")
        await giga.start("Write a haiku", idempotency_key="job-1")

    nonces = {payment_of(r)["payload"]["authorization"]["nonce"] for r in start.payments}
    assert len(nonces) == 1


async def test_start_without_key_draws_a_fresh_nonce_each_time(start: StartEndpoint) -> None:
    async with make_client() as giga:
        first = await giga.start("Write a haiku")
        second = await giga.start("Write a haiku")

    assert first.receipt is not None
    assert second.receipt is not None
    assert first.receipt.payment_nonce != second.receipt.payment_nonce


async def test_start_accepts_a_payee_in_allowed_payees(start: StartEndpoint) -> None:
    async with make_client(allowed_payees=[PAYEE.lower()]) as giga:
        started = await giga.start("Write a haiku")

    assert started.run_id == "run_1"


async def test_start_on_base_sepolia_signs_for_sepolia_usdc(router: respx.MockRouter) -> None:
    endpoint = mock_start(
        router,
        quote=quoted(
            "500000",
            network="eip155:84532",
            asset=USDC_SEPOLIA,
            extra={"name": "USDC", "version": "2"},
        ),
        paid=lambda _: started_200(network="eip155:84532"),
    )

    async with make_client(network="base-sepolia") as giga:
        started = await giga.start("Write a haiku")

    assert payment_of(endpoint.payments[0])["accepted"]["asset"] == USDC_SEPOLIA
    assert started.receipt is not None
    assert started.receipt.network == "eip155:84532"


async def test_before_payment_hook_sees_the_quote_and_can_refuse(start: StartEndpoint) -> None:
    seen: list[Quote] = []

    async def refuse(quote: Quote) -> None:
        seen.append(quote)
        raise BudgetExceededError("over today's budget", reason="daily_budget")

    async with make_client(before_payment=refuse) as giga:
        with pytest.raises(BudgetExceededError):
            await giga.start("Write a haiku")

    assert [q.amount for q in seen] == [Decimal("0.5")]
    assert start.payments == []


async def test_start_returns_run_when_server_asks_no_payment(router: respx.MockRouter) -> None:
    endpoint = mock_start(
        router, quote=lambda _: httpx.Response(200, json={"runId": "free", "status": "pending"})
    )

    async with make_client() as giga:
        started = await giga.start("Write a haiku")

    assert started.run_id == "free"
    assert started.status is RunStatus.PENDING
    assert started.receipt is None
    assert endpoint.payments == []


# --- refused before signing --------------------------------------------------------------


async def test_start_refuses_quote_above_limit(router: respx.MockRouter) -> None:
    endpoint = mock_start(router, quote=quoted("2000000"))

    async with make_client(max_price_per_run="1.00") as giga:
        with pytest.raises(QuoteRefusedError) as info:
            await giga.start("Write a haiku")

    assert info.value.quote == Decimal("2")
    assert len(api_calls(router)) == 1
    assert endpoint.payments == []
    assert all(PAYMENT_SIGNATURE not in call.request.headers for call in api_calls(router))


async def test_start_refuses_tier_above_limit_before_any_request(
    router: respx.MockRouter,
) -> None:
    mock_start(router, quote=quoted("2000000"))

    async with make_client(max_price_per_run="1.00") as giga:
        with pytest.raises(QuoteRefusedError) as info:
            await giga.start("Write a haiku", tier="$2.00")

    assert info.value.reason == "tier_above_max_price"
    assert len(api_calls(router)) == 0


@pytest.mark.parametrize(
    ("tier", "amount"),
    [("premium", "500000"), ("$1.00", "500000"), ("$0.50", "2000000"), ("$2.00", "500000")],
    ids=[
        "named-tier-at-default-price",
        "unknown-tier-fell-back-to-default",
        "highest-tier-quoted",
        "cheaper-than-asked",
    ],
)
async def test_start_refuses_quote_that_differs_from_tier_price(
    router: respx.MockRouter, tier: str, amount: str
) -> None:
    endpoint = mock_start(router, quote=quoted(amount))

    async with make_client(tier_prices={"premium": "2.00"}) as giga:
        with pytest.raises(QuoteRefusedError) as info:
            await giga.start("Write a haiku", tier=tier)

    assert info.value.reason == "price_mismatch"
    assert body_of(endpoint.probes[0])["tier"] == tier
    assert endpoint.payments == []
    assert len(api_calls(router)) == 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"network": "eip155:84532", "asset": USDC_SEPOLIA}, "network_not_allowed"),
        ({"network": "eip155:1"}, "network_not_allowed"),
        ({"asset": "0x" + "12" * 20}, "asset_not_allowed"),
        ({"payTo": OTHER_PAYEE}, "payee_not_allowed"),
        ({"extra": {"name": "USDC", "version": "2"}}, "token_domain_mismatch"),
        ({"extra": {"name": "USD Coin", "version": "1"}}, "token_domain_mismatch"),
        ({"maxTimeoutSeconds": 31_536_000}, "timeout_not_allowed"),
        ({"scheme": "upto"}, "scheme_not_allowed"),
    ],
    ids=[
        "another-network",
        "mainnet",
        "another-asset",
        "payee-not-allowed",
        "wrong-extra-name",
        "wrong-extra-version",
        "absurd-timeout",
        "another-scheme",
    ],
)
async def test_start_refuses_unsafe_payment_option_before_signing(
    router: respx.MockRouter, overrides: dict[str, Any], reason: str
) -> None:
    endpoint = mock_start(router, quote=quoted("500000", **overrides))

    async with make_client(allowed_payees=[PAYEE]) as giga:
        with pytest.raises(QuoteRefusedError) as info:
            await giga.start("Write a haiku")

    assert info.value.reason == reason
    assert endpoint.payments == []
    assert len(api_calls(router)) == 1


@pytest.mark.parametrize(
    "header",
    [
        "%%% not base64 %%%",
        base64.b64encode(b"this is not json").decode(),
        b64json({"x402Version": 2, "error": "Payment required"}),
        b64json({"x402Version": 1, "accepts": [accepts_entry()]}),
        b64json(["not", "an", "object"]),
        "",
    ],
    ids=["not-base64", "not-json", "missing-accepts", "version-1", "json-list", "empty"],
)
async def test_start_treats_malformed_payment_required_as_protocol_error(
    router: respx.MockRouter, header: str
) -> None:
    endpoint = mock_start(router, quote=lambda _: quote_402(header=header))

    async with make_client() as giga:
        with pytest.raises(GigaProtocolError):
            await giga.start("Write a haiku")

    assert endpoint.payments == []
    assert len(api_calls(router)) == 1


async def test_start_treats_402_without_challenge_header_as_protocol_error(
    router: respx.MockRouter,
) -> None:
    endpoint = mock_start(router, quote=lambda _: httpx.Response(402, json={"error": "pay"}))

    async with make_client() as giga:
        with pytest.raises(GigaProtocolError, match="PAYMENT-REQUIRED"):
            await giga.start("Write a haiku")

    assert endpoint.payments == []


async def test_start_treats_challenge_the_sdk_cannot_parse_as_protocol_error(
    router: respx.MockRouter,
) -> None:
    challenge = payment_required(resource="https://giga.example/api/start")
    endpoint = mock_start(router, quote=lambda _: quote_402(header=b64json(challenge)))

    async with make_client() as giga:
        with pytest.raises(GigaProtocolError, match="malformed"):
            await giga.start("Write a haiku")

    assert endpoint.payments == []


@pytest.mark.parametrize("pay_to", ["", "0x123", "not-an-address"])
async def test_start_treats_payee_that_is_not_an_address_as_protocol_error(
    router: respx.MockRouter, pay_to: str
) -> None:
    endpoint = mock_start(router, quote=quoted("500000", payTo=pay_to))

    async with make_client() as giga:
        with pytest.raises((GigaProtocolError, QuoteRefusedError)):
            await giga.start("Write a haiku")

    assert endpoint.payments == []


@pytest.mark.parametrize("tier", ["premium", "$abc", "0.50", "$0.0000001"])
async def test_start_refuses_unknown_tier_before_any_request(
    router: respx.MockRouter, tier: str
) -> None:
    mock_start(router)

    async with make_client() as giga:
        with pytest.raises(GigaConfigError):
            await giga.start("Write a haiku", tier=tier)

    assert len(api_calls(router)) == 0


@pytest.mark.parametrize("prompt", ["", "   ", None])
async def test_start_refuses_empty_prompt_before_any_request(
    router: respx.MockRouter, prompt: Any
) -> None:
    mock_start(router)

    async with make_client() as giga:
        with pytest.raises(GigaConfigError, match="prompt"):
            await giga.start(prompt)

    assert len(api_calls(router)) == 0


def test_client_refuses_bad_settings_at_construction() -> None:
    with pytest.raises(GigaConfigError, match="premium"):
        make_client(default_tier="premium")
    with pytest.raises(GigaConfigError, match="network"):
        make_client(network="eip155:1")
    with pytest.raises(GigaConfigError):
        make_client(max_price_per_run=0.5)
    with pytest.raises(GigaConfigError, match="base_url"):
        make_client(base_url="ftp://giga.example")


def test_client_refuses_default_tier_above_limit_as_config_error() -> None:
    with pytest.raises(GigaConfigError, match="max_price_per_run"):
        make_client(max_price_per_run="0.25", http_client=httpx.AsyncClient())


# --- attachments -------------------------------------------------------------------------


async def test_start_sends_attachments_base64_with_guessed_types(
    start: StartEndpoint, tmp_path: Path
) -> None:
    csv = tmp_path / "data.csv"
    csv.write_bytes(b"date,value\n2026-03-02,1\n")

    async with make_client() as giga:
        await giga.start(
            "Sort the CSV",
            files=[
                csv,
                str(csv),
                b"\x00\x01raw",
                ("notes.txt", b"hello"),
                FileAttachment.from_bytes("config.json", b"{}"),
                FileAttachment(filename="blob", content_type="image/png", data=b"\x89PNG"),
            ],
        )

    for request in (start.probes[0], start.payments[0]):
        files = body_of(request)["files"]
        assert [(f["filename"], f["contentType"]) for f in files] == [
            ("data.csv", "text/csv"),
            ("data.csv", "text/csv"),
            ("attachment-3.bin", "application/octet-stream"),
            ("notes.txt", "text/plain"),
            ("config.json", "application/json"),
            ("blob", "image/png"),
        ]
        decoded = [base64.b64decode(f["data"]) for f in files]
        assert decoded == [
            csv.read_bytes(),
            csv.read_bytes(),
            b"\x00\x01raw",
            b"hello",
            b"{}",
            b"\x89PNG",
        ]


async def test_start_refuses_missing_attachment_before_any_request(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    mock_start(router)

    async with make_client() as giga:
        with pytest.raises(AttachmentError, match="does not exist"):
            await giga.start("Sort the CSV", files=[tmp_path / "missing.csv"])
        with pytest.raises(AttachmentError, match="directory"):
            await giga.start("Sort the CSV", files=[tmp_path])

    assert len(api_calls(router)) == 0


async def test_start_refuses_oversized_request_before_any_request(
    router: respx.MockRouter,
) -> None:
    mock_start(router)

    async with make_client(max_request_bytes=1_000) as giga:
        with pytest.raises(AttachmentError, match="1000 bytes"):
            await giga.start("Sort the CSV", files=[("big.bin", b"x" * 2_000)])

    assert len(api_calls(router)) == 0


async def test_start_counts_base64_growth_toward_the_request_cap(
    router: respx.MockRouter,
) -> None:
    mock_start(router)

    async with make_client(max_request_bytes=1_000) as giga:
        with pytest.raises(AttachmentError):
            # 700 raw bytes fit the cap, their ~936 base64 characters plus overhead do not.
            await giga.start("p", files=[("a.bin", b"x" * 700)])

    assert len(api_calls(router)) == 0


async def test_start_counts_the_prompt_against_the_request_cap(router: respx.MockRouter) -> None:
    mock_start(router)

    async with make_client(max_request_bytes=1_000) as giga:
        with pytest.raises(AttachmentError):
            await giga.start("x" * 5_000)

    assert len(api_calls(router)) == 0


# --- the paid request fails --------------------------------------------------------------


@pytest.mark.parametrize(
    "paid",
    [
        lambda _: httpx.Response(
            402, json={"error": "Payment verification failed", "reason": "insufficient_funds"}
        ),
        lambda _: quote_402(error="insufficient_funds"),
    ],
    ids=["reason-in-body", "error-in-payment-required"],
)
async def test_start_reports_insufficient_funds_naming_address_and_network(
    router: respx.MockRouter, paid: Any
) -> None:
    endpoint = mock_start(router, paid=paid)

    async with make_client() as giga:
        with pytest.raises(InsufficientFundsError) as info:
            await giga.start("Write a haiku")

    message = str(info.value)
    assert ADDRESS in message
    assert "eip155:8453" in message
    assert "Base" in message
    assert info.value.reason == "insufficient_funds"
    assert len(endpoint.payments) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"error": "invalid_exact_evm_payload_signature"}, "invalid_exact_evm_payload_signature"),
        ({"error": "requirements_mismatch"}, "requirements_mismatch"),
        (None, "payment_rejected"),
    ],
    ids=["bad-signature", "requirements-mismatch", "no-reason"],
)
async def test_start_reports_rejected_payment(
    router: respx.MockRouter, body: dict[str, str] | None, reason: str
) -> None:
    endpoint = mock_start(router, paid=lambda _: httpx.Response(402, json=body))

    async with make_client() as giga:
        with pytest.raises(PaymentRejectedError) as info:
            await giga.start("Write a haiku")

    assert type(info.value) is PaymentRejectedError
    assert info.value.reason == reason
    assert len(endpoint.payments) == 1


async def test_start_reports_failed_settlement_as_not_charged(router: respx.MockRouter) -> None:
    endpoint = mock_start(
        router,
        paid=lambda _: httpx.Response(500, json={"success": False, "error": "Settlement failed"}),
    )

    async with make_client() as giga:
        with pytest.raises(SettlementFailedError, match="not charged"):
            await giga.start("Write a haiku")

    assert len(endpoint.payments) == 1


@pytest.mark.parametrize(
    "paid",
    [
        httpx.ConnectError("connection reset by peer"),
        httpx.ReadTimeout("timed out reading the reply"),
        httpx.RemoteProtocolError("server disconnected"),
        lambda _: httpx.Response(502, text="Bad Gateway"),
        lambda _: httpx.Response(503, json={"error": "unavailable"}),
        lambda _: httpx.Response(500, json={"success": False, "error": "boom"}),
    ],
    ids=["connect-error", "read-timeout", "disconnected", "502", "503", "500-not-settlement"],
)
async def test_start_resends_only_the_same_payment_when_the_reply_is_lost(
    router: respx.MockRouter, paid: Any
) -> None:
    endpoint = mock_start(router, paid=paid)
    mock_list(router)  # no run appeared: the outcome stays unknown

    async with make_client() as giga:
        with pytest.raises(OutcomeUnknownError) as info:
            await giga.start("Write a haiku", idempotency_key="job-9")

    error = info.value
    assert error.payment_nonce == Wallet.from_private_key(KEY).payment_nonce("job-9")
    assert error.payment_nonce in str(error)
    assert error.idempotency_key == "job-9"
    assert error.payer == ADDRESS
    assert error.network == "eip155:8453"
    assert error.candidate_run_ids == ()
    # The original plus NO_WAIT_RECONCILE.resends re-sends, all of the very same payment.
    assert len(endpoint.payments) == 1 + NO_WAIT_RECONCILE.resends
    assert len({r.headers[PAYMENT_SIGNATURE] for r in endpoint.payments}) == 1
    assert len(endpoint.probes) == 1


async def test_start_claims_the_single_new_run_when_an_earlier_attempt_was_paid(
    router: respx.MockRouter,
) -> None:
    endpoint = mock_start(
        router,
        paid=lambda _: httpx.Response(
            402,
            json={
                "error": "Payment verification failed",
                "reason": "invalid_exact_evm_nonce_already_used",
            },
        ),
    )
    now = iso(datetime.now(timezone.utc))
    mock_list(
        router,
        {**summary_json("run_paid_earlier", status="running"), "createdAt": now, "updatedAt": now},
        summary_json("run_from_long_ago"),  # created before the payment left: not a candidate
    )

    async with make_client() as giga:
        started = await giga.start("Write a haiku", idempotency_key="job-10")

    assert started.run_id == "run_paid_earlier"
    assert started.reconciled
    assert started.receipt is not None and started.receipt.transaction == ""
    assert len(endpoint.payments) == 1


async def test_start_recovers_the_run_when_a_resend_of_the_same_payment_succeeds(
    router: respx.MockRouter,
) -> None:
    endpoint = mock_start(
        router, paid=Script(httpx.ReadTimeout("lost"), started_200("run_after_resend"))
    )

    async with make_client() as giga:
        started = await giga.start("Write a haiku", idempotency_key="job-11")

    assert started.run_id == "run_after_resend"
    assert len(endpoint.payments) == 2
    assert len({r.headers[PAYMENT_SIGNATURE] for r in endpoint.payments}) == 1


async def test_start_reports_paid_client_error_without_retrying(router: respx.MockRouter) -> None:
    endpoint = mock_start(router, paid=lambda _: httpx.Response(400, json={"error": "bad body"}))

    async with make_client() as giga:
        with pytest.raises(GigaServerError) as info:
            await giga.start("Write a haiku")

    assert info.value.status_code == 400
    assert len(endpoint.payments) == 1


@pytest.mark.parametrize("status", [201, 202])
async def test_start_accepts_any_2xx_paid_reply(router: respx.MockRouter, status: int) -> None:
    def created(_: httpx.Request) -> httpx.Response:
        reply = started_200()
        return httpx.Response(status, json={"runId": "run_1"}, headers=reply.headers)

    mock_start(router, paid=created)

    async with make_client() as giga:
        started = await giga.start("Write a haiku")

    assert started.run_id == "run_1"
    assert started.receipt is not None
    assert started.receipt.transaction == TX_HASH


async def test_start_reconciles_a_paid_reply_without_run_id(router: respx.MockRouter) -> None:
    mock_start(router, paid=lambda _: httpx.Response(200, json={"status": "running"}))
    mock_list(router)

    async with make_client() as giga:
        with pytest.raises(OutcomeUnknownError, match="runId"):
            await giga.start("Write a haiku")


# --- the probe is a free call ------------------------------------------------------------


async def test_start_retries_the_probe_like_a_free_call(router: respx.MockRouter) -> None:
    endpoint = mock_start(
        router,
        quote=Script(
            httpx.Response(503),
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.ConnectError("refused"),
            lambda _: quote_402(),
        ),
    )

    async with make_client(retry=RetryPolicy(attempts=4, initial_backoff=0, max_backoff=0)) as giga:
        started = await giga.start("Write a haiku")

    assert started.run_id == "run_1"
    assert len(endpoint.probes) == 4
    assert len(endpoint.payments) == 1


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (lambda _: httpx.Response(503), GigaServerError),
        (lambda _: httpx.Response(429, headers={"Retry-After": "0"}), RateLimitedError),
        (httpx.ConnectError("refused"), GigaTransportError),
    ],
    ids=["503", "429", "connect-error"],
)
async def test_start_probe_gives_up_after_bounded_attempts(
    router: respx.MockRouter, failure: Any, error: type[Exception]
) -> None:
    endpoint = mock_start(router, quote=failure)

    async with make_client() as giga:
        with pytest.raises(error):
            await giga.start("Write a haiku")

    assert len(endpoint.probes) == 3
    assert endpoint.payments == []


# --- quote (dry run) ---------------------------------------------------------------------


async def test_quote_checks_the_price_and_never_pays(start: StartEndpoint) -> None:
    async with make_client() as giga:
        quote = await giga.quote("Write a haiku", tier="$0.50")

    assert quote.amount == Decimal("0.5")
    assert quote.amount_atomic == 500_000
    assert quote.pay_to == PAYEE
    assert quote.network == "eip155:8453"
    assert len(start.probes) == 1
    assert start.payments == []
    assert body_of(start.probes[0])["tier"] == "$0.50"


async def test_quote_refuses_a_quote_above_the_limit(router: respx.MockRouter) -> None:
    endpoint = mock_start(router, quote=quoted("2000000"))

    async with make_client(max_price_per_run="$1") as giga:
        with pytest.raises(QuoteRefusedError):
            await giga.quote("Write a haiku")

    assert endpoint.payments == []


async def test_quote_reports_a_server_that_started_without_payment(
    router: respx.MockRouter,
) -> None:
    mock_start(router, quote=lambda _: httpx.Response(200, json={"runId": "free"}))

    async with make_client() as giga:
        with pytest.raises(GigaProtocolError, match="without asking for payment"):
            await giga.quote("Write a haiku")
