"""Re-attaching from the journal: a retried start with the same idempotency key gets its run
back without paying; the journal must only hand a run to the wallet and server that paid."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from prefect_giga import GigaClient, IdempotencyKeyConflictError
from prefect_giga.testing import GigaEmulator

from .items import prompt_for, wallet_key
from .report import REPORT
from .support import make_client

PAYER = wallet_key(800)


async def test_retried_start_reattaches_without_any_paid_request(emulator: GigaEmulator) -> None:
    async with make_client(emulator, PAYER) as giga:
        first = await giga.start(prompt_for("again"), idempotency_key="again")
        requests = sum(emulator.paid_requests.values())
        for _ in range(3):
            again = await giga.start(prompt_for("again"), idempotency_key="again")
            assert again.reattached and again.run_id == first.run_id
    async with make_client(emulator, PAYER) as fresh:  # a new process, same journal
        assert (await fresh.start(prompt_for("again"), idempotency_key="again")).reattached
    REPORT.starts += 1
    assert sum(emulator.paid_requests.values()) == requests == 1
    assert len(emulator.ledger) == 1


async def test_same_idempotency_key_with_another_wallet_starts_its_own_run(
    emulator: GigaEmulator,
) -> None:
    async with make_client(emulator, PAYER) as giga:
        mine = await giga.start(prompt_for("same-key"), idempotency_key="same-key")
    async with make_client(emulator, wallet_key(801)) as giga:
        theirs = await giga.start(prompt_for("same-key"), idempotency_key="same-key")
    REPORT.starts += 2
    assert not theirs.reattached and theirs.run_id != mine.run_id
    assert any(e.run_id == theirs.run_id for e in emulator.ledger)


@pytest.mark.parametrize("spelling", ["same form", "upper-case host, trailing slash"])
async def test_same_idempotency_key_at_another_server_is_refused_before_any_request(
    make_emulator: Callable[..., GigaEmulator], spelling: str
) -> None:
    first = make_emulator()
    second = make_emulator(seed=1)
    async with make_client(first, PAYER) as giga:
        mine = await giga.start(prompt_for("same-key"), idempotency_key="same-key")
    url = second.url if spelling == "same form" else second.url.upper() + "/"
    async with GigaClient(private_key=PAYER, base_url=url) as giga:
        with pytest.raises(IdempotencyKeyConflictError) as refused:
            await giga.start(prompt_for("same-key"), idempotency_key="same-key")
    # The first server itself, however its URL is spelled, is still the same origin.
    async with GigaClient(private_key=PAYER, base_url=first.url.upper() + "/") as giga:
        again = await giga.start(prompt_for("same-key"), idempotency_key="same-key")
    REPORT.starts += 1
    assert refused.value.origin == first.url and refused.value.run_id == mine.run_id
    assert first.url in str(refused.value) and mine.run_id in str(refused.value)
    assert sum(second.requests.values()) == 0 and second.ledger == []
    assert again.reattached and again.run_id == mine.run_id and len(first.ledger) == 1
