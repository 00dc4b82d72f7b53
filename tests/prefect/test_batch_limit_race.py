"""Two parent runs of one ``batch_id`` at once share the batch's spend limit (journal-checked)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from prefect_giga import GigaCredentials, ItemOutcome, PromptItem
from prefect_giga.batch import BatchOptions
from prefect_giga.chunks import run_prompts_chunk
from prefect_giga.flows import run_prompts
from prefect_giga.testing import GigaEmulator

from .conftest import FAST, payments_by


async def test_two_parents_of_one_batch_id_racing_stay_within_its_limit(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path, batch_id: str
) -> None:
    # Different items under one batch_id (a re-run with an edited list, started twice by
    # mistake): each parent's own budget would allow $1.50, the batch allows $1.50 in all.
    first = [f"Race A {i}" for i in range(5)]
    second = [f"Race B {i}" for i in range(5)]

    results = await asyncio.gather(
        *(
            run_prompts(
                items,
                credentials,
                batch_id=batch_id,
                spend_limit=Decimal("1.50"),
                max_concurrency=5,
                allow_failures=True,
                dest=str(dest),
                **FAST,
            )
            for items in (first, second)
        )
    )

    paid = payments_by(emulator, credentials.address)
    assert sum(entry.amount for entry in paid) == 3 * 500_000  # $1.50: three runs in all
    outcomes = [item.outcome for result in results for item in result.items]
    assert outcomes.count(ItemOutcome.COMPLETED) == 3
    assert outcomes.count(ItemOutcome.REFUSED) == 7
    assert sum((result.spent for result in results), Decimal(0)) == Decimal("1.50")


async def test_chunk_runs_on_their_own_keep_their_shares_within_the_batch_total(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path, batch_id: str
) -> None:
    # As chunk runs of a deployment get them: each its own share ($1.00), the batch's
    # total ($2.00) checked in the journal they share.
    options = BatchOptions(
        key_scope=batch_id,
        dest=str(dest),
        poll_interval=0.05,
        timeout=60.0,
        spend_limit=Decimal("1.00"),
        batch_limit=Decimal("2.00"),
    )
    items = [PromptItem(prompt=f"Chunked {i}") for i in range(6)]

    chunks = [await run_prompts_chunk(credentials, items[i : i + 2], i, options) for i in (0, 2, 4)]

    outcomes = [[r.outcome for r in chunk] for chunk in chunks]
    assert outcomes[:2] == [[ItemOutcome.COMPLETED] * 2] * 2  # the batch's other spend is
    assert outcomes[2] == [ItemOutcome.REFUSED] * 2  # not held against a share, only the total
    assert "batch" in (chunks[2][0].error or "") and "$2.00" in (chunks[2][0].error or "")
    assert len(payments_by(emulator, credentials.address)) == 4
