"""`resume` (experimental) against the emulator: paid and money-safe like a start, in both
tier tables; a retry never pays twice; a lost reply stays an unknown outcome; a body the
server does not take is refused before anything is signed."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from prefect_giga import GigaClient, OutcomeUnknownError, ResumeBodyRefusedError, SyncGigaClient
from prefect_giga.core.exceptions import GigaConfigError
from prefect_giga.payments.paid_start import ReconcilePolicy
from prefect_giga.testing import EmulatorConfig, GigaEmulator, tier_table

from .conftest import TEST_KEY, read_until_terminal

pytestmark = pytest.mark.integration

NO_WAIT = ReconcilePolicy(resends=1, backoff=0)
DEFAULT_PRICE = {"today": 1_000_000, "seed": 500_000}


@pytest.fixture(scope="module", params=sorted(DEFAULT_PRICE))
def table(request: pytest.FixtureRequest) -> Iterator[tuple[str, GigaEmulator]]:
    config = EmulatorConfig(manual_clock=True, **tier_table(request.param))
    with GigaEmulator(config).run() as server:
        yield request.param, server.emulator


def client(emulator: GigaEmulator, **options: Any) -> GigaClient:
    return GigaClient(private_key=TEST_KEY, base_url=emulator.url, reconcile=NO_WAIT, **options)


async def finished_run(giga: GigaClient, emulator: GigaEmulator) -> str:
    started = await giga.start("Write the first draft [duration=5]")
    emulator.clock.advance(60)
    await read_until_terminal(giga, started.run_id)
    return started.run_id


async def test_resume_pays_the_servers_default_tier_once_and_keeps_the_run(
    table: tuple[str, GigaEmulator],
) -> None:
    name, emulator = table
    emulator.reset()
    async with client(emulator) as giga:
        run_id = await finished_run(giga, emulator)
        resumed = await giga.resume(run_id, "Now add a summary", idempotency_key="more-1")
        again = await giga.resume(run_id, "Now add a summary", idempotency_key="more-1")
        run = await giga.read(run_id)
    amounts = [entry.amount for entry in emulator.ledger]
    assert amounts == [DEFAULT_PRICE[name], DEFAULT_PRICE[name]]  # the start, the resume
    assert resumed.run_id == run_id and resumed.idempotency_key == "more-1"
    assert resumed.receipt is not None and resumed.receipt.amount_atomic == DEFAULT_PRICE[name]
    assert again.reattached and again.run_id == run_id  # the retry paid nothing
    assert emulator.request_count("resume", 200) == 1
    assert not run.status.is_terminal  # back at work on the new prompt


async def test_resume_key_and_start_key_never_share_a_payment(
    table: tuple[str, GigaEmulator],
) -> None:
    _, emulator = table
    emulator.reset()
    async with client(emulator) as giga:
        run_id = await finished_run(giga, emulator)
        await giga.resume(run_id, "Resume under a key", idempotency_key="shared")
        started = await giga.start("Start under the same key", idempotency_key="shared")
        with pytest.raises(GigaConfigError, match="reserved"):
            await giga.start("A start key in the resume namespace", idempotency_key="giga-resume:x")
    assert not started.reattached and started.run_id != run_id
    nonces = [entry.nonce for entry in emulator.ledger]
    assert len(nonces) == 3 and len(set(nonces)) == 3


async def test_lost_resume_reply_stays_unknown_and_its_retry_never_pays_twice() -> None:
    emulator = GigaEmulator(EmulatorConfig(manual_clock=True))
    emulator.start()
    try:
        async with client(emulator) as giga:
            run_id = await finished_run(giga, emulator)
            emulator.faults.drop_replies_after_settlement(1)
            for _ in range(2):  # the call, then a retry with the same key
                with pytest.raises(OutcomeUnknownError) as caught:
                    await giga.resume(run_id, "Carry on", idempotency_key="lost-1")
                assert caught.value.idempotency_key == "lost-1"
                assert caught.value.candidate_run_ids == (run_id,)
        resumes = [e for e in emulator.ledger if e.run_id == run_id]
        assert len(resumes) == 2  # the start and exactly one resume
        assert emulator.request_count("list") == 0  # never claimed from the run list
    finally:
        emulator.close()


@pytest.mark.parametrize("tier", ["$1.00", "$5.00"], ids=["cheaper-tier", "highest-tier"])
def test_resume_body_the_server_does_not_take_is_refused_before_signing(tier: str) -> None:
    emulator = GigaEmulator(EmulatorConfig(manual_clock=True, resume_run_field="id"))
    emulator.start()
    try:
        with SyncGigaClient(
            private_key=TEST_KEY, base_url=emulator.url, max_price_per_run=None
        ) as giga:
            started = giga.start("A run to resume later")
            emulator.clock.advance(600)
            with pytest.raises(ResumeBodyRefusedError) as caught:
                giga.resume(started.run_id, "Carry on", tier=tier)
        assert "takes another body" in str(caught.value)
        assert caught.value.quote == Decimal("5.00")
        assert len(emulator.ledger) == 1  # the start only
        assert emulator.request_count("resume") >= 1
        assert (
            sum(1 for (name, status) in emulator.requests if name == "resume" and status != 402)
            == 0
        )
    finally:
        emulator.close()
