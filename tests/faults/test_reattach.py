"""Re-attaching from the journal: a retried start with the same idempotency key gets its run
back without paying; the journal must only hand a run to the wallet and server that paid."""

from __future__ import annotations

from collections.abc import Callable

import pytest

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


@pytest.mark.parametrize("elsewhere", ["another server", "another wallet"])
async def test_same_idempotency_key_elsewhere_starts_its_own_run(
    make_emulator: Callable[..., GigaEmulator], elsewhere: str
) -> None:
    first = make_emulator()
    second = make_emulator(seed=1) if elsewhere == "another server" else first
    other = PAYER if elsewhere == "another server" else wallet_key(801)
    async with make_client(first, PAYER) as giga:
        mine = await giga.start(prompt_for("same-key"), idempotency_key="same-key")
    async with make_client(second, other) as giga:
        theirs = await giga.start(prompt_for("same-key"), idempotency_key="same-key")
    REPORT.starts += 2
    assert not theirs.reattached and theirs.run_id != mine.run_id
    assert any(e.run_id == theirs.run_id for e in second.ledger)
