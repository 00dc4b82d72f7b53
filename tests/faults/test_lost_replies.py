"""Paid replies lost after settlement, with several wallets starting concurrently on one
server: the same signed payment is re-sent, ``nonce already used`` proves the payment, and
the run is claimed from ``/api/list`` (one paid request per wallet at a time,
`ONE_AT_A_TIME`, keeps every claim unambiguous)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from prefect_giga.core.exceptions import OutcomeUnknownError, SettlementFailedError
from prefect_giga.payments.journal import StartState
from prefect_giga.testing import AgentContext, AgentResult, GigaEmulator, default_agent

from ..journal_backends import JournalSpec
from .items import ONE_AT_A_TIME, prompt_for, wallet_key
from .report import REPORT
from .support import (
    Outcome,
    audit_ledger,
    fetch_output,
    make_client,
    nonce_of,
    start_until_known,
)

WALLETS = [wallet_key(500 + i) for i in range(4)]
PER_WALLET = 8

LOSSES: dict[str, tuple[str, Callable[[GigaEmulator], None], float]] = {
    "dropped": (
        "reply dropped after settlement",
        lambda e: e.faults.drop_replies_after_settlement(12),
        30.0,
    ),
    "held": (
        "reply held past the client timeout",
        lambda e: e.faults.hold_paid_replies(6.0, count=len(WALLETS)),
        2.0,
    ),
    "garbled": ("paid reply not JSON", lambda e: e.faults.garble("start", count=12), 30.0),
}


@pytest.mark.parametrize("loss", list(LOSSES))
async def test_concurrent_starts_of_four_wallets_reconcile_every_lost_reply(
    emulator: GigaEmulator, tmp_path: Path, loss: str
) -> None:
    kind, arm, timeout = LOSSES[loss]
    items = [(key, f"{loss}-{w}-{i}") for w, key in enumerate(WALLETS) for i in range(PER_WALLET)]
    clients = {
        key: make_client(emulator, key, timeout=timeout, reconcile=ONE_AT_A_TIME) for key in WALLETS
    }
    # Fetching uses its own clients with the default timeout: the short one is for the held
    # paid replies only, and 32 signed fetches on a loaded machine can outlast it.
    readers = {key: make_client(emulator, key) for key in WALLETS}
    arm(emulator)
    try:
        outcomes = await asyncio.gather(
            *(start_until_known(clients[key], ikey, prompt_for(ikey)) for key, ikey in items)
        )
        fetched = await asyncio.gather(
            *(
                fetch_output(readers[key], o.started.run_id, ikey, tmp_path, read_first=False)
                for (key, ikey), o in zip(items, outcomes, strict=True)
                if o.started is not None
            )
        )
    finally:
        for client in [*clients.values(), *readers.values()]:
            await client.aclose()
    lost = 12 if loss != "held" else len(WALLETS)
    REPORT.starts += len(items)
    REPORT.faults[kind] += lost
    unknown = [o for o in outcomes if o.errors or (o.started and o.started.reconciled)]
    REPORT.unknown += len(unknown)
    REPORT.starts_resolved(unknown)
    REPORT.outputs_checked += sum(fetched)
    REPORT.outputs_lost += len(items) - sum(fetched)
    assert all(o.started is not None for o in outcomes), [o.errors for o in outcomes]
    assert all(fetched) and len(fetched) == len(items)  # each claimed run is this start's own
    assert sum(o.started.reconciled for o in outcomes if o.started) == lost
    audit = audit_ledger(emulator, items)
    assert audit.entries == len(items) and audit.duplicates == 0 and audit.unattributed == 0
    assert audit.chain_consistent
    assert {e.run_id for e in emulator.ledger} == {o.started.run_id for o in outcomes if o.started}


async def test_cancelled_start_is_reconciled_by_its_retry_and_paid_once(
    emulator: GigaEmulator, tmp_path: Path, journal_store: JournalSpec
) -> None:
    """A start cancelled mid-payment (a task timeout) leaves its outcome unknown in the
    journal; retrying it with the same key re-sends the same payment and claims the run."""
    key = WALLETS[0]
    async with make_client(emulator, key) as giga:
        emulator.faults.hold_paid_replies(30, count=1)
        task = asyncio.ensure_future(
            giga.start(prompt_for("cancelled"), idempotency_key="cancelled")
        )
        for _ in range(1000):  # bounded: the payment settles within milliseconds
            if emulator.ledger:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        entry = next(iter(giga.journal.find("cancelled")), None)
        assert entry is not None and entry.state is StartState.SENT and entry.run_id is None
        started = await giga.start(prompt_for("cancelled"), idempotency_key="cancelled")
        fetched = await fetch_output(giga, started.run_id, "cancelled", tmp_path)
        again = await giga.start(prompt_for("cancelled"), idempotency_key="cancelled")
    REPORT.starts += 1
    REPORT.faults["start cancelled after settlement"] += 1
    REPORT.unknown += 1
    REPORT.starts_resolved([Outcome("cancelled", started, errors=["CancelledError"])])
    REPORT.outputs_checked += fetched
    assert fetched
    assert started.reconciled and again.reattached and again.run_id == started.run_id
    [paid] = emulator.ledger
    assert paid.run_id == started.run_id and paid.nonce == nonce_of(key, "cancelled")


async def test_lost_reply_beside_an_unresolved_start_of_the_same_wallet_stays_unknown(
    emulator: GigaEmulator, journal_store: JournalSpec
) -> None:
    """The claim rule's boundary: a start left unresolved (cancelled after paying) and a
    second start of the same wallet whose reply is lost cannot tell their two runs apart.
    Both report `OutcomeUnknownError` with their nonce and both candidates, and retries
    never pay again. (Retrying the cancelled start first would have claimed its run.)"""
    key = WALLETS[1]
    async with make_client(emulator, key) as giga:
        emulator.faults.hold_paid_replies(30, count=1)
        task = asyncio.ensure_future(giga.start(prompt_for("amb-1"), idempotency_key="amb-1"))
        for _ in range(1000):
            if emulator.ledger:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        emulator.faults.drop_replies_after_settlement(1)
        errors: Counter[str] = Counter()
        for ikey in ("amb-2", "amb-1", "amb-2"):
            with pytest.raises(OutcomeUnknownError) as caught:
                await giga.start(prompt_for(ikey), idempotency_key=ikey)
            assert caught.value.payment_nonce.lower() == nonce_of(key, ikey)
            assert set(caught.value.candidate_run_ids) == {r.id for r in emulator.runs}
            errors[ikey] += 1
    REPORT.starts += 2
    REPORT.faults["start cancelled after settlement"] += 1
    REPORT.faults["reply dropped after settlement"] += 1
    REPORT.unknown += len(errors)
    REPORT.left_unknown += len(errors)
    assert errors == {"amb-2": 2, "amb-1": 1}
    audit = audit_ledger(emulator, [(key, "amb-1"), (key, "amb-2")])
    assert audit.per_key == {"amb-1": 1, "amb-2": 1}


async def test_resend_that_loses_the_settlement_race_is_not_reported_uncharged(
    make_emulator: Callable[..., GigaEmulator], tmp_path: Path
) -> None:
    calls: list[str] = []

    async def slow_then_slower_first(ctx: AgentContext) -> AgentResult:
        calls.append(ctx.run_id)  # the server is slow: the first request outlives the timeout
        await asyncio.sleep(2.5 if len(calls) == 1 else 1.0)
        return await default_agent(ctx)

    emulator = make_emulator(agent=slow_then_slower_first)
    key = WALLETS[2]
    async with make_client(emulator, key, timeout=2.0) as giga:
        try:
            first: object = await giga.start(prompt_for("race"), idempotency_key="race")
        except SettlementFailedError as exc:
            first = exc
        entry = next(iter(giga.journal.find("race")), None)
        spent = giga.journal.spent_today(giga.address)
        [paid] = emulator.ledger  # the request the client gave up on was settled
        retried = await giga.start(prompt_for("race"), idempotency_key="race")
        assert await fetch_output(giga, retried.run_id, "race", tmp_path)
    REPORT.starts += 1
    REPORT.faults["slow handler: resend overlaps the original"] += 1
    assert retried.run_id == paid.run_id  # a retry finds it: paid once
    assert not isinstance(first, SettlementFailedError), "told 'not charged', but it was"
    assert entry is not None and entry.state is not StartState.NOT_CHARGED
    assert spent == Decimal("0.50")
