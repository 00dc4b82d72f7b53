"""What an interrupted batch left behind, rebuilt from the payment journal."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from eth_account import Account

from prefect_giga.cancellation import find_left_behind
from prefect_giga.credentials import GigaCredentials
from prefect_giga.idempotency import start_key
from prefect_giga.payments.journal import Journal, StartRef
from prefect_giga.results import PromptItem

SERVER = "http://127.0.0.1:8402"


def _record(journal: Journal, creds: GigaCredentials, item: PromptItem, index: int) -> StartRef:
    key = start_key(creds.address, item.prompt, scope="batch-1", item=index)
    ref = StartRef(creds.address, SERVER, key)
    journal.reserve(
        ref,
        network="eip155:8453",
        nonce=f"0x{index:064x}",
        tier="$0.50",
        amount=Decimal("0.50"),
        pay_to="0x179eC767Cd66Dd21064F85fd630385f26A98FD4e",
        daily_limit=None,
    )
    return ref


def test_started_sent_and_refused_starts_are_told_apart(tmp_path: Path) -> None:
    creds = GigaCredentials(private_key="0x" + bytes(Account.create().key).hex(), base_url=SERVER)
    journal = Journal(tmp_path / "journal.sqlite3")
    items = [PromptItem(prompt=f"item {i}") for i in range(5)]
    running = _record(journal, creds, items[0], 0)
    journal.mark_started(running, "run-0", transaction="0xabc")
    finished = _record(journal, creds, items[1], 1)
    journal.mark_started(finished, "run-1", transaction="0xdef")
    sent = _record(journal, creds, items[2], 2)
    journal.mark_sent(sent, valid_before=2_000_000_000)
    refused = _record(journal, creds, items[3], 3)
    journal.mark_not_charged(refused)
    # items[4] never reached the journal: nothing was paid for it

    left = find_left_behind(creds, items, "batch-1", finished={"run-1"}, journal=journal)

    assert left.left_running == [(0, "run-0")]
    assert left.unknown == [(2, "sent")]
    assert find_left_behind(creds, items, "batch-2", journal=journal).empty
