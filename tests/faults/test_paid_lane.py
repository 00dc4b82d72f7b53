"""The concurrent paid lane: paid requests of one wallet go out together while replies arrive;
a lost reply closes the gate; a claim needs every other start resolved (each on a SQLite file
and on PostgreSQL: clients built without a journal use the test's ``journal_store``)."""

from __future__ import annotations

import asyncio
import time

import pytest

from prefect_giga import GigaClient
from prefect_giga.core.exceptions import OutcomeUnknownError
from prefect_giga.core.wallet import Wallet
from prefect_giga.payments.journal import StartRef, StartState
from prefect_giga.payments.lane import PaidLane
from prefect_giga.testing import GigaEmulator

from ..journal_backends import JournalSpec
from .items import prompt_for, wallet_key
from .report import REPORT
from .support import (
    audit_ledger,
    make_client,
    nonce_of,
    outcomes_of,
    spawn_client_process,
    start_until_known,
)

KEY = wallet_key(800)
SECTION = "Concurrent paid lane"


async def test_two_replies_lost_at_once_both_end_unknown_and_are_never_cross_claimed(
    emulator: GigaEmulator, journal_store: JournalSpec
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
    emulator: GigaEmulator, journal_store: JournalSpec
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


async def _paid_then_cancelled(giga: GigaClient, emulator: GigaEmulator, key: str) -> None:
    """Start ``key``, let it settle with its reply held, and cancel it: left ``sent``."""
    paid_before = len(emulator.ledger)
    emulator.faults.hold_paid_replies(30, count=1)
    task = asyncio.ensure_future(giga.start(prompt_for(key), idempotency_key=key))
    for _ in range(1000):  # bounded: the payment settles within milliseconds
        if len(emulator.ledger) > paid_before:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_slow_start_sent_before_another_claims_window_still_blocks_its_claim(
    emulator: GigaEmulator, journal_store: JournalSpec
) -> None:
    """Start A left unresolved was sent ten minutes ago (by the journal's clock) but its run
    appears only now; B's reply is lost and B was not charged. The one new run is A's: B must
    not claim it, whatever A's send time."""
    offset = [-600.0]
    journal = journal_store.open(clock=lambda: time.time() + offset[0])
    async with make_client(emulator, KEY, journal=journal) as giga:
        await giga.start(prompt_for("slow-warm"), idempotency_key="slow-warm")  # the quote
        await _paid_then_cancelled(giga, emulator, "slow-a")
        offset[0] = 0.0
        emulator.faults.fail("start", 503, count=1)  # B's reply is lost: not handled at all
        emulator.faults.fail_settlements(count=10)  # and its re-sends are not settled
        outcome = await start_until_known(giga, "slow-b", prompt_for("slow-b"), attempts=1)
        [a], [b] = journal.find("slow-a"), journal.find("slow-b")
    [run_a] = [e.run_id for e in emulator.ledger if e.nonce.lower() == nonce_of(KEY, "slow-a")]
    wrong = int(outcome.started is not None)
    REPORT.starts += 2
    REPORT.faults["start cancelled after settlement"] += 1
    REPORT.faults["paid 5xx"] += 1
    REPORT.unknown += 2
    REPORT.left_unknown += 2
    REPORT.count(
        SECTION, "claims beside a slow start sent before the window (wrong)", wrong, ok=wrong == 0
    )
    assert a.sent_at is not None and b.sent_at is not None and b.sent_at - a.sent_at > 500
    assert outcome.started is None and isinstance(outcome.unknown, OutcomeUnknownError)
    assert outcome.unknown.candidate_run_ids == (run_a,)  # the only new run is A's
    assert b.state is StartState.SENT  # neither claimed nor "not charged": unknown


async def test_a_lost_reply_closes_the_gate_for_a_second_process_on_the_same_journal(
    emulator: GigaEmulator, journal_store: JournalSpec
) -> None:
    """While a start of the wallet reconciles a lost reply (its gate row in the journal),
    a second process of the same wallet sends no paid request; once it ends, all are paid
    once and get their own runs."""
    index = 801
    address = wallet_key(index)
    ref = StartRef(Wallet.from_private_key(address).address, emulator.url.rstrip("/"), "gate-a")
    lane = PaidLane(journal_store.open(), ref, lease=120)
    lane.lost()  # this process is reconciling a lost reply: the gate is closed
    keys = [f"gate-b-{i}" for i in range(3)]
    process = spawn_client_process(emulator.url, [(index, k) for k in keys], journal_store)
    journal = journal_store.open()
    for _ in range(3000):  # bounded: the second process reserves its starts, then waits
        if all(journal.find(k) for k in keys) or process.poll() is not None:
            break
        await asyncio.sleep(0.01)
    paid_while_closed = sum(emulator.paid_requests.values())
    states = {journal.find(k)[0].state for k in keys if journal.find(k)}
    lane.ended()  # reconciliation over: the gate opens
    lines = await asyncio.to_thread(outcomes_of, process)
    audit = audit_ledger(emulator, [(address, k) for k in keys])
    REPORT.starts += len(keys)
    REPORT.count(
        SECTION,
        "paid requests of a second process while the gate was closed",
        paid_while_closed,
        ok=paid_while_closed == 0,
    )
    assert states == {StartState.RESERVED}  # reserved and signed, but not sent
    assert paid_while_closed == 0
    assert all("run_id" in lines[k] for k in keys), lines
    assert audit.per_key == dict.fromkeys(keys, 1) and audit.duplicates == 0
