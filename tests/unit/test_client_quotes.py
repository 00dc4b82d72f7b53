"""Paying on the first request from a remembered quote, and falling back safely."""

from __future__ import annotations

import httpx
import pytest
import respx

from prefect_giga.core.exceptions import InsufficientFundsError
from prefect_giga.core.wallet import Wallet
from prefect_giga.payments.quotes import QuoteCache

from ._giga_fakes import (
    BASE_URL,
    KEY,
    PAYMENT_SIGNATURE,
    Script,
    StartEndpoint,
    accepts_entry,
    make_client,
    payment_of,
    quote_402,
    started_200,
)

START_URL = f"{BASE_URL}/api/start"


def mock_start(router: respx.MockRouter, **replies: object) -> StartEndpoint:
    endpoint = StartEndpoint(**replies)  # type: ignore[arg-type]
    router.post(START_URL).mock(side_effect=endpoint)
    return endpoint


async def test_second_start_of_a_tier_pays_on_its_first_request(router: respx.MockRouter) -> None:
    endpoint = mock_start(router)

    async with make_client() as giga:
        await giga.start("First", idempotency_key="a")
        await giga.start("Second", idempotency_key="b")

    assert len(endpoint.probes) == 1  # the second start skipped the unpaid probe
    assert len(endpoint.payments) == 2


async def test_quote_ttl_zero_always_probes(router: respx.MockRouter) -> None:
    endpoint = mock_start(router)

    async with make_client(quote_ttl=0) as giga:
        await giga.start("First", idempotency_key="a")
        await giga.start("Second", idempotency_key="b")

    assert len(endpoint.probes) == 2


async def test_refused_remembered_quote_falls_back_with_the_same_nonce(
    router: respx.MockRouter,
) -> None:
    endpoint = mock_start(
        router,
        quote=Script(quote_402(), quote_402(accepts_entry(maxTimeoutSeconds=120))),
        paid=Script(
            started_200("run_a"),
            httpx.Response(402, json={"error": "requirements_mismatch"}),
            started_200("run_b"),
        ),
    )

    async with make_client() as giga:
        first = await giga.start("First", idempotency_key="a")
        second = await giga.start("Second", idempotency_key="b")

    assert (first.run_id, second.run_id) == ("run_a", "run_b")
    assert len(endpoint.probes) == 2  # one for the first start, one for the fallback
    refused, retried = (payment_of(r) for r in endpoint.payments[1:])
    nonce = Wallet.from_private_key(KEY).payment_nonce("b")
    assert refused["payload"]["authorization"]["nonce"] == nonce
    assert retried["payload"]["authorization"]["nonce"] == nonce  # at most one can settle
    assert retried["accepted"]["maxTimeoutSeconds"] == 120


async def test_insufficient_funds_on_a_remembered_quote_is_not_retried(
    router: respx.MockRouter,
) -> None:
    endpoint = mock_start(
        router,
        paid=Script(
            started_200("run_a"),
            httpx.Response(402, json={"error": "x", "reason": "insufficient_funds"}),
        ),
    )

    async with make_client() as giga:
        await giga.start("First", idempotency_key="a")
        with pytest.raises(InsufficientFundsError):
            await giga.start("Second", idempotency_key="b")

    assert len(endpoint.probes) == 1
    assert len(endpoint.payments) == 2
    assert all(PAYMENT_SIGNATURE in r.headers for r in endpoint.payments)


def test_quote_cache_forgets_and_expires() -> None:
    cache = QuoteCache(ttl=60)
    assert cache.recent("$0.50") is None
    cache.ttl = -1
    assert cache.recent("$0.50") is None
