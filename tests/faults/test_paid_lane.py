"""The concurrent paid lane: paid requests of one wallet go out together while replies arrive;
a lost reply closes the gate; a claim needs every other start resolved."""

from __future__ import annotations

import asyncio

from prefect_giga.core.exceptions import OutcomeUnknownError
from prefect_giga.payments.journal import StartState
from prefect_giga.testing import GigaEmulator

from .items import prompt_for, wallet_key
from .report import REPORT
from .support import audit_ledger, make_client, start_until_known

KEY = wallet_key(800)
SECTION = "Concurrent paid lane"


async def test_two_replies_lost_at_once_both_end_unknown_and_are_never_cross_claimed(
    emulator: GigaEmulator,
) -> None:
    keys = ["lost-a", "lost-b"]
    async with make_client(emulator, KEY) as giga:
        await giga.start(prompt_for("lane-warm"), idempotency_key="lane-warm")  # the quote
        emulator.faults.drop_replies_after_settlement(len(keys))
        outcomes = await asyncio.gather(
            *(start_until_known(giga, key, prompt_for(key), attempts=2) for key in keys)
        )
        entries = [giga.journal.find(key)[0] for key in keys]
    paid_runs = {e.run_id for e in emulator.ledger}
    wrong = sum(o.started is not None for o in outcomes)  # any claim here would be a guess
    REPORT.starts += len(keys)
    REPORT.faults["reply dropped after settlement"] += len(keys)
    REPORT.unknown += len(keys)
    REPORT.left_unknown += sum(o.unknown is not None for o in outcomes)
    REPORT.starts_resolved(outcomes)
    REPORT.count(
        SECTION, "claims after two replies lost at once (wrong claims)", wrong, ok=wrong == 0
    )
    assert all(isinstance(o.unknown, OutcomeUnknownError) for o in outcomes)
    assert all(e.state is StartState.SENT and e.run_id is None for e in entries)
    for outcome in outcomes:
        assert outcome.unknown is not None
        assert set(outcome.unknown.candidate_run_ids) <= paid_runs
    audit = audit_ledger(emulator, [(KEY, k) for k in [*keys, "lane-warm"]])
    assert audit.per_key == {"lost-a": 1, "lost-b": 1, "lane-warm": 1}  # each paid once


async def test_paid_requests_of_one_wallet_fly_together_and_each_gets_its_own_run(
    emulator: GigaEmulator,
) -> None:
    """Eight starts of one wallet, one of them losing its reply: the others' requests go out
    together, the lost one is claimed once they landed, and every run is its own."""
    keys = [f"fly-{i}" for i in range(8)]
    async with make_client(emulator, KEY) as giga:
        await giga.start(prompt_for("fly-warm"), idempotency_key="fly-warm")
        emulator.faults.drop_replies_after_settlement(1)
        outcomes = await asyncio.gather(
            *(start_until_known(giga, key, prompt_for(key), attempts=1) for key in keys)
        )
    by_run = {e.run_id: e.nonce for e in emulator.ledger}
    audit = audit_ledger(emulator, [(KEY, k) for k in [*keys, "fly-warm"]])
    mine = {o.key: o.started.run_id for o in outcomes if o.started is not None}
    wrong = sum(
        by_run.get(run_id) is None or audit.per_key.get(key) != 1 for key, run_id in mine.items()
    )
    REPORT.starts += len(keys)
    REPORT.faults["reply dropped after settlement"] += 1
    REPORT.unknown += sum(
        bool(o.errors) or bool(o.started and o.started.reconciled) for o in outcomes
    )
    REPORT.count(SECTION, "concurrent starts of one wallet (wrong claims)", wrong, ok=wrong == 0)
    assert wrong == 0 and audit.duplicates == 0
    assert len(set(mine.values())) == len(mine)
    assert sum(o.started is not None and o.started.reconciled for o in outcomes) <= 1
