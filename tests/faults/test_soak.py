"""Three hundred paid starts under a seeded mix of faults: every start paid exactly once, every
unknown outcome reconciled, every output downloaded. Asserts on the emulators' ledgers.

Six wallets run concurrently, each against its own emulator, so each start's fault is armed
just before its own payment is signed (the ``before_payment`` hook) and hits exactly that
paid request; the choices come from one seeded generator, so every run injects the same.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prefect_giga import GigaClient
from prefect_giga.core.models import Quote
from prefect_giga.testing import GigaEmulator

from .items import prompt_for, wallet_key
from .report import REPORT
from .support import (
    LOST_REPLY_KINDS,
    Outcome,
    audit_ledger,
    fetch_output,
    make_client,
    start_until_known,
)

SEED = 20261128
STARTS = 300
SHARDS = 6
CLIENT_TIMEOUT = 2.0
"""Seconds; a paid reply held longer than this is lost to the client."""

PAID_FAULTS: list[tuple[str, int]] = [
    ("none", 36),
    ("paid 5xx", 8),
    ("paid 429", 8),
    ("reply dropped after settlement", 10),
    ("reply held past the client timeout", 5),
    ("settlement failed", 8),
    ("paid reply not JSON", 9),
    ("stash and refuse, settle later", 8),
    ("probe 503", 8),
]
"""Faults armed just before a start's payment is signed, with their weights."""

READ_FAULTS: list[tuple[str, int]] = [
    ("none", 60),
    ("read 5xx", 10),
    ("file-url 429", 10),
    ("file 502", 10),
    ("read reply not JSON", 10),
]
"""Faults armed before a start's output is read and downloaded, with their weights."""

READS = frozenset({"read 5xx", "read reply not JSON"})
"""Read faults that need the status read before the download."""

EXPECTED_RESOLUTION = {
    "paid 5xx": "resend of the same signed payment",
    "paid 429": "resend of the same signed payment",
    "reply dropped after settlement": "claimed from /api/list",
    "reply held past the client timeout": "claimed from /api/list",
    "paid reply not JSON": "claimed from /api/list",
}


@dataclass(frozen=True)
class Item:
    """One planned start: its key and the faults it meets."""

    key: str
    paid: str
    read: str
    status: int


def plan() -> list[Item]:
    """The seeded plan: the same faults in the same order on every run."""
    rng = random.Random(SEED)
    kinds, weights = zip(*PAID_FAULTS, strict=True)
    reads, read_weights = zip(*READ_FAULTS, strict=True)
    return [
        Item(
            key=f"soak-{i:03d}",
            paid=rng.choices(kinds, weights)[0],
            read=rng.choices(reads, read_weights)[0],
            status=rng.choice((500, 502, 503, 504)),
        )
        for i in range(STARTS)
    ]


def arm_paid(emulator: GigaEmulator, item: Item) -> None:
    faults, hostile = emulator.faults, emulator.hostile
    arms: dict[str, Callable[[], None]] = {
        "none": lambda: None,
        "paid 5xx": lambda: faults.fail("start", item.status, count=1),
        "paid 429": lambda: faults.fail("start", 429, count=1, retry_after=0),
        "reply dropped after settlement": lambda: faults.drop_replies_after_settlement(1),
        "reply held past the client timeout": lambda: faults.hold_paid_replies(
            CLIENT_TIMEOUT * 3, count=1
        ),
        "settlement failed": lambda: faults.fail_settlements(1),
        "paid reply not JSON": lambda: faults.garble("start", count=1),
        "stash and refuse, settle later": lambda: hostile.stash_and_refuse(1),
        "probe 503": lambda: None,  # armed before the start instead
    }
    arms[item.paid]()


def arm_read(emulator: GigaEmulator, item: Item) -> None:
    faults = emulator.faults
    arms: dict[str, Callable[[], None]] = {
        "none": lambda: None,
        "read 5xx": lambda: faults.fail("read", 503, count=1),
        "file-url 429": lambda: faults.rate_limit("file-url", retry_after=0, count=1),
        "file 502": lambda: faults.fail("file", 502, count=1),
        "read reply not JSON": lambda: faults.garble("read", count=1),
    }
    arms[item.read]()


def leftover(emulator: GigaEmulator) -> list[str]:
    """Armed faults nobody triggered (each armed fault must hit its own request)."""
    faults = emulator.faults
    left = [f"error on {e}" for e, f in faults.errors.items() if f.count]
    left += [f"body of {e}" for e, f in faults.bodies.items() if f.count]
    if faults.drops_after_settlement or faults.settle_failures or faults.hold_paid_count:
        left.append("paid-reply fault")
    if emulator.hostile.stash_refusals:
        left.append("stash")
    return left


@dataclass
class Result:
    item: Item
    outcome: Outcome
    fetched: bool


async def run_shard(
    emulator: GigaEmulator, key: str, items: list[Item], dest: Path
) -> list[Result]:
    pending: list[Item] = []

    async def before_payment(quote: Quote) -> None:
        if pending:  # only the start's first signing meets its fault
            arm_paid(emulator, pending.pop())

    results: list[Result] = []
    client: GigaClient = make_client(
        emulator, key, timeout=CLIENT_TIMEOUT, before_payment=before_payment
    )
    async with client:
        for item in items:
            pending[:] = [item]
            if item.paid == "probe 503":
                quotes = getattr(client, "quotes", None)
                if quotes is not None:  # a remembered quote would skip the probe
                    quotes.forget("$0.50")
                emulator.faults.fail("start", 503, count=1)
            outcome = await start_until_known(client, item.key, prompt_for(item.key))
            fetched = False
            if outcome.started is not None:
                arm_read(emulator, item)
                fetched = await fetch_output(
                    client, outcome.started.run_id, item.key, dest, read_first=item.read in READS
                )
            left = leftover(emulator)
            assert not left, f"{item}: {left}"
            emulator.faults.clear()
            results.append(Result(item, outcome, fetched))
    return results


async def test_three_hundred_starts_under_seeded_faults_are_each_paid_once_and_delivered(
    make_emulator: Callable[..., GigaEmulator], tmp_path: Path
) -> None:
    items = plan()
    keys = [wallet_key(700 + s) for s in range(SHARDS)]
    emulators = [make_emulator() for _ in range(SHARDS)]
    shards = [items[s::SHARDS] for s in range(SHARDS)]
    per_shard = await asyncio.gather(
        *(
            run_shard(emulators[s], keys[s], shards[s], tmp_path / f"shard-{s}")
            for s in range(SHARDS)
        )
    )
    results = [r for shard in per_shard for r in shard]

    REPORT.starts += len(results)
    resolutions: Counter[str] = Counter()
    for r in results:
        for kind in (r.item.paid, r.item.read):
            if kind != "none":
                REPORT.faults[kind] += 1
        if r.item.paid in LOST_REPLY_KINDS:
            REPORT.unknown += 1
            resolutions[r.outcome.resolution] += 1
            assert r.outcome.resolution == EXPECTED_RESOLUTION[r.item.paid], r
        REPORT.outputs_checked += r.fetched
        REPORT.outputs_lost += not r.fetched
    REPORT.resolved.update(resolutions)
    for emulator in emulators:
        REPORT.double_settle_attempts += emulator.hostile.settle_attempts
        REPORT.double_settles_rejected += emulator.hostile.double_settles_rejected
        REPORT.stashed_settled += emulator.hostile.settled_stashed

    assert all(r.outcome.started is not None for r in results), [
        (r.item, r.outcome.errors) for r in results if r.outcome.started is None
    ]
    assert all(r.fetched for r in results), [r.item for r in results if not r.fetched]
    for s, emulator in enumerate(emulators):
        audit = audit_ledger(emulator, [(keys[s], item.key) for item in shards[s]])
        assert audit.entries == len(shards[s])
        assert audit.duplicates == 0 and audit.unattributed == 0 and audit.chain_consistent
        assert all(audit.per_key[item.key] == 1 for item in shards[s])
        stashes = sum(i.paid == "stash and refuse, settle later" for i in shards[s])
        assert emulator.hostile.double_settles_rejected == stashes
        assert emulator.hostile.settled_stashed == 0
        paid_runs = {e.run_id for e in emulator.ledger}
        assert paid_runs == {
            r.outcome.started.run_id for r in per_shard[s] if r.outcome.started is not None
        }
    errors = Counter(e for r in results for e in r.outcome.errors)
    assert errors["SettlementFailedError"] == sum(i.paid == "settlement failed" for i in items)
    assert errors["OutcomeUnknownError"] == 0
