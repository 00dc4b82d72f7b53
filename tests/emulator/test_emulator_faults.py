"""Fault knobs: injected errors, failed settlements, dropped and held replies, hostile quotes."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from prefect_giga.testing import Faults, GigaEmulator
from prefect_giga.testing.pytest_plugin import EmulatorFactory

from .emulator_support import (
    SDK_OPT_INS,
    WALLET,
    authed,
    b64json,
    paid_post,
    payment_header,
    quote,
    read,
    sign_payment,
    start_run,
)

BODY = {"prompt": "faulty [duration=5]"}
START = 1_000_000_000


async def test_rate_limit_answers_429_with_retry_after_once(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    emulator.faults.rate_limit("read", retry_after=2, count=1)
    limited = await http.post("/api/read", json={"runId": "x"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert limited.json()["error"] == "rate_limited"
    assert (await http.post("/api/read", json={"runId": "x"})).status_code == 402
    assert emulator.request_count("read", 429) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_on_start_charge_nothing(
    emulator: GigaEmulator, http: httpx.AsyncClient, status: int
) -> None:
    _, required = await quote(http, BODY)
    header = payment_header(await sign_payment(required))
    emulator.faults.fail("start", status, count=1)
    assert (await paid_post(http, BODY, header)).status_code == status
    assert emulator.ledger == [] and emulator.runs == []
    # The same signed payment still works once the fault is gone.
    assert (await paid_post(http, BODY, header)).status_code == 200
    assert len(emulator.ledger) == 1


async def test_failed_settlement_discards_the_run_by_default(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    emulator.faults.fail_settlements(1)
    response = await start_run(http, BODY)
    assert response.status_code == 500
    assert response.json() == {"success": False, "error": "Settlement failed"}
    assert "payment-response" not in response.headers
    assert emulator.ledger == [] and emulator.runs == [] and emulator.used_nonces == set()
    assert emulator.balance_of(WALLET.address) == START
    assert (await start_run(http, BODY)).status_code == 200


async def test_failed_settlement_can_keep_the_unpaid_run(
    giga_emulator_factory: EmulatorFactory,
) -> None:
    emulator = giga_emulator_factory(**SDK_OPT_INS, manual_clock=True, keep_unpaid_runs=True)
    emulator.faults.fail_settlements(1)
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        assert (await start_run(http, BODY)).status_code == 500
        [run] = emulator.runs
        assert run.transaction is None
        assert (await read(http, run.id)).json()["status"] == "running"
    assert emulator.ledger == []


async def test_connection_dropped_after_settlement_still_charged(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    emulator.faults.drop_replies_after_settlement(1)
    with pytest.raises(httpx.TransportError):
        await start_run(http, BODY)
    [entry] = emulator.ledger
    assert entry.payer == WALLET.address and entry.amount == 500_000
    assert [run.id for run in emulator.runs] == [entry.run_id]
    assert emulator.dropper.dropped == 1
    # The run is there for the client that lost the reply to find.
    runs = (await authed(http, "/api/list", {})).json()["runs"]
    assert [r["id"] for r in runs] == [entry.run_id]


async def test_held_reply_times_the_client_out_after_side_effects(
    giga_emulator_factory: EmulatorFactory,
) -> None:
    emulator = giga_emulator_factory(
        **SDK_OPT_INS, manual_clock=True
    )  # stopping it cuts the held reply
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        _, required = await quote(http, BODY)
        header = payment_header(await sign_payment(required))
        emulator.faults.hold_reply("start", 30)
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                "/api/start", json=BODY, headers={"payment-signature": header}, timeout=0.5
            )
    # The side effects happened before the reply was held.
    assert len(emulator.ledger) == 1 and len(emulator.runs) == 1
    assert emulator.request_count("start", 200) == 1


async def test_latency_delays_the_reply(emulator: GigaEmulator, http: httpx.AsyncClient) -> None:
    emulator.faults.delay("list", 0.2)
    began = time.monotonic()
    assert (await http.post("/api/list", json={})).status_code == 402
    assert time.monotonic() - began >= 0.2


async def test_expired_file_urls_fault(emulator: GigaEmulator, http: httpx.AsyncClient) -> None:
    run_id = (await start_run(http, {"prompt": "x [duration=1]"})).json()["runId"]
    emulator.clock.advance(1)
    emulator.faults.expired_file_urls = True
    url = (await authed(http, "/api/file-url", {"runId": run_id, "path": "output.md"})).json()[
        "url"
    ]
    assert (await http.get(url)).status_code == 410


async def test_hostile_quote_knobs(emulator: GigaEmulator, http: httpx.AsyncClient) -> None:
    emulator.faults.quote_multiplier = Decimal(3)
    emulator.faults.payee_override = "0x000000000000000000000000000000000000dEaD"
    _, required = await quote(http, BODY)
    assert required.accepts[0].amount == "1500000"
    assert required.accepts[0].pay_to == "0x000000000000000000000000000000000000dEaD"
    emulator.faults.redirects["read"] = "http://example.invalid/api/read"
    redirected = await http.post("/api/read", json={"runId": "x"})
    assert redirected.status_code == 307
    assert redirected.headers["location"] == "http://example.invalid/api/read"


def test_error_rates_are_seeded() -> None:
    def pattern(seed: int) -> list[bool]:
        faults = Faults(seed=seed)
        faults.fail("read", 503, rate=0.5)
        return [faults.take_error("read") is not None for _ in range(32)]

    assert pattern(7) == pattern(7)
    assert 0 < sum(pattern(7)) < 32
    assert pattern(7) != pattern(8)


async def test_reset_restores_a_fresh_emulator(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    assert (await start_run(http, BODY)).status_code == 200
    emulator.faults.rate_limit("read")
    emulator.reset()
    assert emulator.ledger == [] and emulator.runs == [] and emulator.used_nonces == set()
    assert emulator.requests == {} and emulator.balance_of(WALLET.address) == START
    assert b64json((await quote(http, BODY))[0].headers["payment-required"])["accepts"]
    assert (await http.post("/api/read", json={"runId": "x"})).status_code == 402


async def test_emulator_serves_without_the_proxy(giga_emulator_factory: EmulatorFactory) -> None:
    emulator = giga_emulator_factory(**SDK_OPT_INS, manual_clock=True, proxy=False)
    emulator.faults.drop_replies_after_settlement(1)  # cannot drop without the proxy
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        run_id = (await start_run(http, BODY)).json()["runId"]
        assert (await read(http, run_id)).json()["status"] == "running"
    assert emulator.faults.drops_after_settlement == 1
