"""Workers of one wallet and the journal they share: two processes on one journal (a SQLite
file, and PostgreSQL as machines would share it) lose paid replies and never claim another's
run; workers that cannot share one journal switch list claims off and end unknown instead."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from prefect_giga import GigaCredentials
from prefect_giga.core.exceptions import OutcomeUnknownError
from prefect_giga.payments.journal import StartState
from prefect_giga.testing import GigaEmulator
from prefect_giga.testing.pytest_plugin import EmulatorFactory

from ..journal_backends import JournalSpec
from .items import FAST_RECONCILE, FAST_RETRY, prompt_for, wallet_key
from .report import REPORT
from .support import audit_ledger, fast_config, nonce_of, outcomes_of, spawn_client_process

SECTION = "Shared journals"


def _wrong_claims(emulator: GigaEmulator, key: str, lines: dict[str, dict[str, Any]]) -> int:
    """Outcomes naming a run that is not the one their own payment (nonce) paid for."""
    run_of = {e.nonce.lower(): e.run_id for e in emulator.ledger if e.payer.lower()}
    wrong = 0
    for ikey, line in lines.items():
        if "run_id" in line and run_of.get(nonce_of(key, ikey)) != line["run_id"]:
            wrong += 1
    return wrong


async def test_two_processes_losing_replies_on_one_journal_never_take_each_others_runs(
    emulator: GigaEmulator, journal_store: JournalSpec
) -> None:
    """Two processes of one wallet on one journal (as two machines on one PostgreSQL), four
    starts each, the first four paid replies dropped after settling: every start ends with
    its own run or as unknown with its nonce; nothing is paid twice."""
    index = 720
    key = wallet_key(index)
    first = [(index, f"shared-a-{i}") for i in range(4)]
    second = [(index, f"shared-b-{i}") for i in range(4)]
    emulator.faults.drop_replies_after_settlement(4)
    processes = [
        spawn_client_process(emulator.url, items, journal_store, one_at_a_time=True)
        for items in (first, second)
    ]
    lines: dict[str, dict[str, Any]] = {}
    for process in processes:
        lines.update(await asyncio.to_thread(outcomes_of, process))
    keys = [k for _, k in first + second]
    audit = audit_ledger(emulator, [(key, k) for k in keys])
    wrong = _wrong_claims(emulator, key, lines)
    unknown = [k for k, line in lines.items() if line.get("error") == "OutcomeUnknownError"]
    journal = journal_store.open()
    REPORT.starts += len(keys)
    REPORT.faults["reply dropped after settlement"] += 4
    REPORT.unknown += 4
    REPORT.left_unknown += len(unknown)
    REPORT.count(
        SECTION,
        f"wrong claims, two processes on one {journal_store.backend} journal",
        wrong,
        ok=wrong == 0,
    )
    REPORT.count(
        SECTION,
        f"lost replies reconciled to their own run, one {journal_store.backend} journal",
        sum(bool(line.get("reconciled")) for line in lines.values()),
    )
    REPORT.count(
        SECTION, f"lost replies left unknown, one {journal_store.backend} journal", len(unknown)
    )
    assert sorted(lines) == sorted(keys)
    assert all("run_id" in line or k in unknown for k, line in lines.items()), lines
    assert wrong == 0
    assert audit.duplicates == 0 and audit.unattributed == 0 and audit.chain_consistent
    assert set(audit.per_key) == set(keys)  # every start was paid once
    for ikey in unknown:  # reported with its own nonce, and still owed a resolution
        assert lines[ikey]["nonce"].lower() == nonce_of(key, ikey)
        [entry] = journal.find(ikey)
        assert entry.state is StartState.SENT and entry.run_id is None


async def test_two_processes_on_separate_journals_with_claims_off_end_unknown_not_guessed(
    giga_emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """Two workers of one wallet that cannot share a journal (one file each) lose replies;
    with list claims off neither guesses from ``/api/list``: each lost reply ends as
    `OutcomeUnknownError` with its nonce, and each start that got its reply has its own run."""
    emulator = giga_emulator_factory(fast_config())
    index = 721
    key = wallet_key(index)
    first = [(index, f"apart-a-{i}") for i in range(3)]
    second = [(index, f"apart-b-{i}") for i in range(3)]
    emulator.faults.drop_replies_after_settlement(2)
    processes = [
        spawn_client_process(
            emulator.url, items, tmp_path / name, one_at_a_time=True, list_claims=False
        )
        for items, name in ((first, "a.sqlite3"), (second, "b.sqlite3"))
    ]
    lines: dict[str, dict[str, Any]] = {}
    for process in processes:
        lines.update(await asyncio.to_thread(outcomes_of, process))
    keys = [k for _, k in first + second]
    audit = audit_ledger(emulator, [(key, k) for k in keys])
    wrong = _wrong_claims(emulator, key, lines)
    unknown = [k for k, line in lines.items() if line.get("error") == "OutcomeUnknownError"]
    REPORT.starts += len(keys)
    REPORT.faults["reply dropped after settlement"] += 2
    REPORT.unknown += 2
    REPORT.left_unknown += len(unknown)
    REPORT.count(SECTION, "wrong claims, separate journals, claims off", wrong, ok=wrong == 0)
    assert wrong == 0 and len(unknown) == 2
    assert all("run_id" in lines[k] for k in keys if k not in unknown)
    assert all(lines[k]["nonce"].lower() == nonce_of(key, k) for k in unknown)
    assert all(not lines[k]["candidates"] for k in unknown)  # nothing was even looked for
    assert emulator.requests.get(("list", 200), 0) == 0
    assert audit.duplicates == 0 and audit.unattributed == 0 and set(audit.per_key) == set(keys)


async def test_credentials_with_claims_off_report_a_lost_reply_as_unknown(
    emulator: GigaEmulator,
) -> None:
    """``GigaCredentials(list_claims=False)``: a reply lost after settling, whose re-send says
    "nonce already used", stays `OutcomeUnknownError` with the nonce, on every retry; the
    run list is never read and nothing is paid again."""
    key = wallet_key(722)
    credentials = GigaCredentials(private_key=key, base_url=emulator.url, list_claims=False)
    async with credentials.get_client(retry=FAST_RETRY, reconcile=FAST_RECONCILE) as giga:
        await giga.start(prompt_for("off-warm"), idempotency_key="off-warm")  # the quote
        emulator.faults.drop_replies_after_settlement(1)
        for _ in range(2):
            with pytest.raises(OutcomeUnknownError, match="switched off") as caught:
                await giga.start(prompt_for("off-1"), idempotency_key="off-1")
            assert caught.value.payment_nonce.lower() == nonce_of(key, "off-1")
            assert caught.value.candidate_run_ids == ()
        [entry] = giga.journal.find("off-1")
    REPORT.starts += 2
    REPORT.faults["reply dropped after settlement"] += 1
    REPORT.unknown += 1
    REPORT.left_unknown += 1
    assert entry.state is StartState.SENT and entry.run_id is None
    assert not [k for k in emulator.requests if k[0] == "list"]
    audit = audit_ledger(emulator, [(key, "off-warm"), (key, "off-1")])
    assert audit.per_key == {"off-warm": 1, "off-1": 1} and audit.duplicates == 0
