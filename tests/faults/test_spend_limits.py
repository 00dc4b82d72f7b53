"""Spend limits at three levels, enforced before signing: per run, per batch, per payer per
rolling day (shared by processes through the journal). Asserts on the emulator's ledger."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from prefect_giga import SpendBudget
from prefect_giga.core.exceptions import (
    BudgetExceededError,
    PaymentRejectedError,
    QuoteRefusedError,
    SettlementFailedError,
)
from prefect_giga.core.models import Quote
from prefect_giga.payments.journal import Journal, ScopeLimit
from prefect_giga.testing import GigaEmulator, settle_stashed

from ..journal_backends import JournalSpec
from .conftest import SigningCounter
from .items import prompt_for, wallet_key
from .report import REPORT
from .support import audit_ledger, make_client, outcomes_of, spawn_client_process

KEY = wallet_key(200)
HALF = 500_000  # $0.50 in atomic USDC


# --- per run -----------------------------------------------------------------------------


async def test_tier_above_max_price_per_run_is_refused_before_any_request(
    emulator: GigaEmulator, signed: SigningCounter
) -> None:
    async with make_client(emulator, KEY, max_price_per_run="1.00") as giga:
        with pytest.raises(QuoteRefusedError) as caught:
            await giga.start(prompt_for("tier-2"), tier="$2.00", idempotency_key="tier-2")
    REPORT.starts += 1
    REPORT.overspend(
        "per run: tier above max_price_per_run",
        refused=caught.value.reason == "tier_above_max_price"
        and emulator.request_count("start") == 0
        and signed.count == 0,
    )
    assert caught.value.reason == "tier_above_max_price"
    assert emulator.request_count("start") == 0
    assert signed.count == 0 and emulator.ledger == []


@pytest.mark.parametrize("multiplier", [Decimal("1.000002"), Decimal(2), Decimal(40)])
async def test_quote_above_the_tier_price_is_refused_before_signing(
    emulator: GigaEmulator, signed: SigningCounter, multiplier: Decimal
) -> None:
    emulator.faults.quote_multiplier = multiplier
    async with make_client(emulator, KEY, max_price_per_run="50.00") as giga:
        with pytest.raises(QuoteRefusedError) as caught:
            await giga.start(prompt_for("inflated"), idempotency_key="inflated")
        assert giga.journal.find("inflated") == []
    REPORT.starts += 1
    REPORT.overspend(
        "per run: quote above the tier's price",
        refused=caught.value.reason == "price_mismatch"
        and signed.count == 0
        and emulator.paid_requests == {},
    )
    assert caught.value.reason == "price_mismatch"
    assert signed.count == 0 and emulator.paid_requests == {} and emulator.ledger == []


# --- per batch ---------------------------------------------------------------------------


async def test_batch_budget_refuses_starts_beyond_its_limit_before_signing(
    emulator: GigaEmulator, signed: SigningCounter
) -> None:
    """Seven $0.50 items on a $2.00 budget, one settlement failing on the way: four paid."""
    budget = SpendBudget("2.00")
    keys = [f"batch-{i}" for i in range(7)]
    emulator.faults.fail_settlements(1)
    refused: list[str] = []
    for key in keys:

        async def reserve(quote: Quote, key: str = key) -> None:
            budget.reserve(key, quote.amount)

        async with make_client(emulator, KEY, before_payment=reserve) as giga:
            for _ in range(2):
                try:
                    await giga.start(prompt_for(key), idempotency_key=key)
                except BudgetExceededError:
                    refused.append(key)
                except SettlementFailedError:  # not charged: give the reservation back
                    budget.release(key)
                    REPORT.faults["settlement failed"] += 1
                    continue
                break
            if key in refused:
                assert giga.journal.find(key) == []
    REPORT.starts += len(keys)
    audit = audit_ledger(emulator, [(KEY, k) for k in keys])
    affordable = int(Decimal("2.00") / Decimal("0.50"))
    for key in keys[affordable:]:  # every start the budget cannot afford is an attempt over it
        REPORT.overspend(
            "per batch: SpendBudget via before_payment",
            refused=key in refused and key not in audit.per_key,
        )
    assert refused == keys[4:]
    assert audit.micros == 4 * HALF and audit.duplicates == 0
    assert set(audit.per_key) == set(keys[:4])
    assert budget.committed == Decimal("2.00") and budget.refused == 3
    assert signed.count == sum(emulator.paid_requests.values()) == 5  # one was not settled


# --- per payer per rolling day -----------------------------------------------------------


async def _two_processes(
    emulator: GigaEmulator,
    journal_store: JournalSpec,
    first: list[tuple[int, str]],
    second: list[tuple[int, str]],
    **limits: str,
) -> dict[str, dict[str, Any]]:
    """Start ``first`` and ``second`` in two client processes at once on one journal, with
    ``limits`` (`spawn_client_process` options); their outcomes by key."""
    processes = [
        spawn_client_process(emulator.url, items, journal_store, **limits)
        for items in (first, second)
    ]
    outcomes: dict[str, dict[str, Any]] = {}
    for process in processes:
        outcomes.update(await asyncio.to_thread(outcomes_of, process))
    REPORT.starts += len(first) + len(second)
    return outcomes


async def test_daily_limit_is_shared_by_two_processes_on_one_journal(
    emulator: GigaEmulator, journal_store: JournalSpec
) -> None:
    """Two processes of one wallet, five $0.50 items each, $2.00 a day: four paid in all."""
    first = [(7, f"day-a-{i}") for i in range(5)]
    second = [(7, f"day-b-{i}") for i in range(5)]
    outcomes = await _two_processes(emulator, journal_store, first, second, daily_limit="2.00")
    started = [k for k, o in outcomes.items() if "run_id" in o]
    refused = [k for k, o in outcomes.items() if o.get("reason") == "daily_limit_exceeded"]
    journal = journal_store.open()
    paid_keys = set(audit_ledger(emulator, [(wallet_key(7), k) for _, k in first + second]).per_key)
    affordable = int(Decimal("2.00") / Decimal("0.50"))
    over = sorted(outcomes, key=lambda k: k not in paid_keys)[affordable:]
    for key in over:  # the starts beyond the four the limit affords
        REPORT.overspend(
            "per payer per day: two processes, one journal",
            refused=key in refused and key not in paid_keys and journal.find(key) == [],
        )
    assert len(outcomes) == 10 and len(started) == 4 and len(refused) == 6
    assert all(journal.find(key) == [] for key in refused)
    assert journal.spent_today(emulator.ledger[0].payer) == Decimal("2.00")
    audit = audit_ledger(emulator, [(wallet_key(7), k) for _, k in first + second])
    assert audit.micros == 4 * HALF and set(audit.per_key) == set(started)
    assert sum(emulator.paid_requests.values()) == 4  # nothing was sent for the refused


async def test_batch_limit_is_shared_by_two_processes_on_one_journal(
    emulator: GigaEmulator, journal_store: JournalSpec
) -> None:
    """Two processes run one batch's scope at once (two parent runs of one ``batch_id``),
    five $0.50 items each, $1.50 for the batch: three paid in all, whoever pays them."""
    scope = f"batch-{uuid.uuid4().hex[:8]}"
    first = [(8, f"{scope}-a-{i}") for i in range(5)]
    second = [(8, f"{scope}-b-{i}") for i in range(5)]
    outcomes = await _two_processes(
        emulator, journal_store, first, second, batch_limit=f"{scope}=1.50"
    )
    started = [k for k, o in outcomes.items() if "run_id" in o]
    refused = [k for k, o in outcomes.items() if o.get("reason") == "batch_budget_exceeded"]
    journal = journal_store.open()
    audit = audit_ledger(emulator, [(wallet_key(8), k) for _, k in first + second])
    affordable = int(Decimal("1.50") / Decimal("0.50"))
    over = sorted(outcomes, key=lambda k: k not in audit.per_key)[affordable:]
    for key in over:  # the starts beyond the three the limit affords
        REPORT.overspend(
            "per batch: two processes, one journal",
            refused=key in refused and key not in audit.per_key and journal.find(key) == [],
        )
    assert len(outcomes) == 10 and len(started) == 3 and len(refused) == 7
    assert all(journal.find(key) == [] for key in refused)
    assert audit.micros == 3 * HALF and set(audit.per_key) == set(started)
    assert sum(emulator.paid_requests.values()) == 3  # nothing was sent for the refused


async def test_a_batch_limit_counts_only_its_own_scope_and_each_start_once(
    emulator: GigaEmulator, journal_path: Path
) -> None:
    journal = Journal(journal_path)
    limit = ScopeLimit("scope-one", Decimal("1.00"))
    async with make_client(emulator, KEY, journal=journal) as giga:
        first = await giga.start(prompt_for("one-1"), idempotency_key="one-1", scope_limit=limit)
        await giga.start(prompt_for("other-1"), idempotency_key="other-1")  # no scope
        again = await giga.start(prompt_for("one-1"), idempotency_key="one-1", scope_limit=limit)
        await giga.start(prompt_for("one-2"), idempotency_key="one-2", scope_limit=limit)
        with pytest.raises(BudgetExceededError) as refused:
            await giga.start(prompt_for("one-3"), idempotency_key="one-3", scope_limit=limit)
        REPORT.starts += 5
        REPORT.overspend("per batch: one client, scope counted once", refused=True)
    assert again.run_id == first.run_id and again.reattached  # a re-attach counts once
    assert refused.value.reason == "batch_budget_exceeded"
    assert "scope-one" in str(refused.value) and "$1.00" in str(refused.value)
    assert journal.find("one-3") == []
    assert (
        len(audit_ledger(emulator, [(KEY, k) for k in ("one-1", "one-2", "other-1")]).per_key) == 3
    )


async def test_daily_limit_is_shared_by_two_clients_on_one_journal_file(
    emulator: GigaEmulator, journal_path: Path, signed: SigningCounter
) -> None:
    clients = [
        make_client(emulator, KEY, max_spend_per_day="1.50", journal=Journal(journal_path))
        for _ in range(2)
    ]
    keys = [f"shared-{i}" for i in range(8)]
    try:
        results = await asyncio.gather(
            *(
                clients[i % 2].start(prompt_for(key), idempotency_key=key)
                for i, key in enumerate(keys)
            ),
            return_exceptions=True,
        )
    finally:
        for client in clients:
            await client.aclose()
    REPORT.starts += len(keys)
    refused = [r for r in results if isinstance(r, BudgetExceededError)]
    affordable = int(Decimal("1.50") / Decimal("0.50"))
    paid = set(audit_ledger(emulator, [(KEY, k) for k in keys]).per_key)
    for key, result in list(zip(keys, results, strict=True)):
        if key not in paid and len(paid) >= affordable:  # an attempt beyond what the limit affords
            REPORT.overspend(
                "per payer per day: two clients, one journal file",
                refused=isinstance(result, BudgetExceededError),
            )
    assert len(refused) == 5
    assert all(r.reason == "daily_limit_exceeded" for r in refused)
    assert sum(e.amount for e in emulator.ledger) == 3 * HALF
    assert signed.count == 3


async def test_daily_limit_rolls_over_after_24_hours(
    emulator: GigaEmulator, journal_path: Path
) -> None:
    now = [time.time()]
    journal = Journal(journal_path, clock=lambda: now[0])
    async with make_client(emulator, KEY, max_spend_per_day="1.00", journal=journal) as giga:
        for key in ("roll-1", "roll-2"):
            await giga.start(prompt_for(key), idempotency_key=key)
        refusals: list[bool] = []
        for _ in range(2):  # at once, then 12 hours later: still within the rolling day
            paid_before = len(emulator.ledger)
            with pytest.raises(BudgetExceededError):
                await giga.start(prompt_for("roll-3"), idempotency_key="roll-3")
            refusals.append(len(emulator.ledger) == paid_before and not giga.journal.find("roll-3"))
            now[0] += 12 * 3600
        now[0] += 1
        await giga.start(prompt_for("roll-3"), idempotency_key="roll-3")
    REPORT.starts += 3
    for refusal in refusals:
        REPORT.overspend("per payer per day: rolling window", refused=refusal)
    assert [e.amount for e in emulator.ledger] == [HALF, HALF, HALF]


async def test_daily_limit_holds_when_a_server_settles_refused_authorizations_later(
    emulator: GigaEmulator,
) -> None:
    emulator.hostile.stash_and_refuse(100)
    keys = [f"stashed-{i}" for i in range(4)]
    async with make_client(emulator, KEY, max_spend_per_day="1.00") as giga:
        for key in keys:
            with pytest.raises((PaymentRejectedError, BudgetExceededError)):
                await giga.start(prompt_for(key), idempotency_key=key)
    REPORT.starts += len(keys)
    outcomes = settle_stashed(emulator)  # the hostile server settles whenever it likes
    REPORT.double_settle_attempts += len(outcomes)
    REPORT.double_settles_rejected += sum(not o.settled for o in outcomes)
    REPORT.stashed_settled += sum(o.settled for o in outcomes)
    audit = audit_ledger(emulator, [(KEY, k) for k in keys])
    assert audit.duplicates == 0  # the nonce guarantee holds: one payment per start at most
    assert audit.micros <= 2 * HALF, f"${audit.micros / 1e6:.2f} settled on a $1.00 daily limit"
