"""Spend limit shares of a batch spread over workers: each chunk run's limit, fixed up front.

A chunk run of `run_prompts` with ``chunk_deployment`` gets its share of the batch's
``spend_limit`` as a parameter before it starts, so no chunk needs to ask another (or the
parent) before paying, and the chunks together can never spend more than the limit:

* a chunk run that already exists (a retried or re-run parent finds it by its idempotency
  key) keeps its share, and counts as ``max(share, what its items already paid)``;
* chunk runs of the batch from another plan (another ``chunk_size``) that have not ended
  count as their shares (``outstanding``);
* the rest goes to the new chunk runs: each gets what its items already paid (read from the
  payment journal) plus the remainder pro rata to its items not yet paid, rounded down to
  the micro-dollar.

Pro rata by items is exact when the items cost the same (one tier); with mixed tiers a chunk
of dear items may refuse some while a chunk of cheap ones leaves part of its share unspent.
The unspent shares are reported in the batch's summary and result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from .credentials import GigaCredentials
from .idempotency import batch_item_key
from .payments.journal import JournalEntry, StartRef
from .results import PromptItem

__all__ = ["SHARE_QUANTUM", "PlannedChunk", "allocate_shares", "paid_items"]

SHARE_QUANTUM = Decimal("0.000001")
"""Shares are rounded down to USDC's smallest unit."""


@dataclass(frozen=True)
class PlannedChunk:
    """One chunk of a spread batch, as the parent plans it.

    Attributes:
        index: The chunk's position in the batch.
        first: The global index of its first item.
        stop: One past the global index of its last item.
        key: The idempotency key of its flow run.
        paid: What its items already paid (earlier attempts), per the journal.
        unpaid: How many of its items have paid nothing yet.
        existing: Whether its flow run already exists (its share is then fixed).
        share: The share of the existing flow run.

    Example:
        >>> PlannedChunk(0, 0, 10, "b-chunk-0", unpaid=10).existing
        False
    """

    index: int
    first: int
    stop: int
    key: str
    paid: Decimal = Decimal(0)
    unpaid: int = 0
    existing: bool = False
    share: Decimal | None = None


def allocate_shares(
    limit: Decimal | None, chunks: Sequence[PlannedChunk], outstanding: Decimal = Decimal(0)
) -> list[Decimal | None]:
    """Each chunk's share of ``limit``; the shares and ``outstanding`` never exceed it.

    Existing chunk runs keep their shares. The new ones get what their items already paid
    plus what is left, pro rata to their unpaid items, rounded down to the micro-dollar.
    ``outstanding`` is what other unfinished chunk runs of the batch may still spend.

    Example:
        >>> chunks = [PlannedChunk(i, 10 * i, 10 * i + 10, f"k{i}", unpaid=10) for i in range(4)]
        >>> [str(s) for s in allocate_shares(Decimal("42"), chunks)]
        ['10.500000', '10.500000', '10.500000', '10.500000']
    """
    if limit is None:
        return [None] * len(chunks)
    fixed = Decimal(0)
    for chunk in chunks:
        if chunk.existing:
            if chunk.share is None:
                raise ValueError(
                    f"Chunk run {chunk.key} of this batch has no spend limit of its own; "
                    "finish or cancel it before giving the batch a limit"
                )
            fixed += max(chunk.share, chunk.paid)
    fresh = [c for c in chunks if not c.existing]
    free = limit - fixed - outstanding - sum((c.paid for c in fresh), Decimal(0))
    free = max(free, Decimal(0))
    unpaid = sum(c.unpaid for c in fresh)
    shares: list[Decimal | None] = []
    for chunk in chunks:
        if chunk.existing:
            shares.append(chunk.share)
            continue
        extra = free * chunk.unpaid / unpaid if unpaid else Decimal(0)
        shares.append(chunk.paid + extra.quantize(SHARE_QUANTUM, rounding=ROUND_DOWN))
    return shares


def paid_items(
    credentials: GigaCredentials, batch: Sequence[PromptItem], scope: str
) -> dict[int, JournalEntry]:
    """The batch's items that earlier attempts paid for (or may have), by global index.

    Read from the payment journal, with the keys `BatchRunner.key_for` gives the items.

    Example:
        ```python
        paid = paid_items(credentials, batch, "orders-2026-12-03")
        ```
    """
    journal = credentials.open_journal()
    paid: dict[int, JournalEntry] = {}
    for index, item in enumerate(batch):
        key = batch_item_key(credentials.address, item, scope=scope, index=index)
        entry = journal.get(StartRef(credentials.address, credentials.base_url, key))
        if entry is not None and entry.state.counts_as_spent:
            paid[index] = entry
    return paid
