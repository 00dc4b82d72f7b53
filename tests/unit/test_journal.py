"""The payment journal on its own: migrating old files, keys across origins, request
fingerprints, recorded nonces, nonce-secret fingerprints and leases (each on both backends,
SQLite and PostgreSQL, through the ``journal_store`` fixture)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from prefect_giga.core.exceptions import GigaConfigError, IdempotencyKeyConflictError, PaymentError
from prefect_giga.payments.journal import Journal, StartRef, StartState
from prefect_giga.payments.journal_schema import SCHEMA_VERSION
from prefect_giga.payments.request_fingerprint import request_fingerprint

from ..journal_backends import JournalSpec

PAYER = "0x" + "ab" * 20
NONCE = "0x" + "01" * 32

# The journal's tables as released before this schema version (no fingerprint column,
# servers stored as the user spelled them), for the migration tests.
_OLD_SCHEMA = """
CREATE TABLE starts_v2 (
    key TEXT NOT NULL, payer TEXT NOT NULL, network TEXT NOT NULL, server TEXT NOT NULL,
    nonce TEXT NOT NULL, tier TEXT NOT NULL, amount_atomic INTEGER NOT NULL,
    pay_to TEXT NOT NULL, state TEXT NOT NULL, run_id TEXT, run_status TEXT,
    transaction_hash TEXT, created_at REAL NOT NULL, sent_at REAL, updated_at REAL NOT NULL,
    valid_before REAL, PRIMARY KEY (payer, server, key)
);
CREATE TABLE payees (
    server TEXT NOT NULL, network TEXT NOT NULL, pay_to TEXT NOT NULL, seen_at REAL NOT NULL,
    PRIMARY KEY (server, network)
);
"""


class Clock:
    """A settable clock for the journal (seconds since the epoch)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _old_journal(path: Path, rows: list[tuple[str, str, str | None]]) -> None:
    """An old-format journal holding ``(server, key, run_id)`` starts of ``PAYER``."""
    db = sqlite3.connect(path)
    db.executescript(_OLD_SCHEMA)
    for server, key, run_id in rows:
        db.execute(
            "INSERT INTO starts_v2 VALUES (?, ?, 'eip155:8453', ?, ?, '$0.50', 500000, '0xpay', "
            "?, ?, 'running', NULL, 1.0, 1.0, 1.0, NULL)",
            (key, PAYER, server, NONCE, "started" if run_id else "sent", run_id),
        )
    db.execute("INSERT INTO payees VALUES ('HTTPS://Giga.DEV:443/', 'eip155:8453', '0xpay', 1.0)")
    db.commit()
    db.close()


def _reserve(
    journal: Journal, ref: StartRef, *, nonce: str = NONCE, fingerprint: str = "f1"
) -> None:
    journal.reserve(
        ref,
        network="eip155:8453",
        nonce=nonce,
        tier="$0.50",
        amount=Decimal("0.50"),
        pay_to="0x" + "cd" * 20,
        daily_limit=None,
        fingerprint=fingerprint,
    )


def test_old_journal_rows_are_found_under_the_canonical_origin(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _old_journal(
        path,
        [
            ("HTTPS://Giga.DEV:443/", "job-1", "run_1"),
            ("http://127.0.0.1:8402/", "job-2", None),
            ("https://bob:pa55word@giga.dev", "job-3", "run_3"),
        ],
    )
    journal = Journal(path)
    found = journal.get(StartRef(PAYER, "https://giga.dev", "job-1"))
    assert found is not None and found.run_id == "run_1" and found.fingerprint is None
    assert found.server == "https://giga.dev"
    assert journal.get(StartRef(PAYER, "HTTP://127.0.0.1:8402", "job-2")) is not None
    assert journal.pinned_payee("https://giga.dev/", "eip155:8453") == "0xpay"
    assert set(journal.origins_of(PAYER, "job-1")) == {"https://giga.dev"}
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert journal.get(StartRef(PAYER, "https://giga.dev", "job-3")) is not None
    servers = db.execute("SELECT server FROM starts_v2 UNION SELECT server FROM payees")
    assert not [row for row in servers if "pa55word" in row[0]]
    Journal(path)  # opening it again migrates nothing twice
    assert db.execute("SELECT COUNT(*) FROM starts_v2").fetchone()[0] == 3


def test_old_row_without_fingerprint_accepts_one_request_then_only_that_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    _old_journal(path, [("https://giga.dev", "job-1", "run_1")])
    journal = Journal(path)
    ref = StartRef(PAYER, "https://giga.dev", "job-1")
    first = request_fingerprint("Summarise the CSV", None)
    journal.bind_request(ref, first)
    journal.bind_request(ref, first)
    entry = journal.get(ref)
    assert entry is not None and entry.fingerprint == first
    with pytest.raises(IdempotencyKeyConflictError) as refused:
        journal.bind_request(ref, request_fingerprint("Something else", None))
    assert refused.value.run_id == "run_1" and refused.value.origin == "https://giga.dev"
    assert "different request" in str(refused.value)


def test_fingerprint_covers_prompt_tier_as_named_and_attachments() -> None:
    files = [{"filename": "a.csv", "contentType": "text/csv", "data": "YQ=="}]
    base = request_fingerprint("p", None, files)
    assert base == request_fingerprint("p", None, [dict(f) for f in files])
    variants = {
        request_fingerprint("q", None, files),
        request_fingerprint("p", "$0.50", files),
        request_fingerprint("p", None, []),
        request_fingerprint("p", None, [{**files[0], "data": "Yg=="}]),
        request_fingerprint("p", None, [{**files[0], "filename": "b.csv"}]),
    }
    assert base not in variants and len(variants) == 5


def test_origins_of_lists_every_server_a_key_was_used_at(journal_store: JournalSpec) -> None:
    journal = journal_store.open()
    _reserve(journal, StartRef(PAYER, "https://giga.dev", "job-1"))
    _reserve(journal, StartRef(PAYER, "https://other.example:8443/", "job-1"))
    _reserve(journal, StartRef("0x" + "99" * 20, "https://third.example", "job-1"))
    origins = journal.origins_of(PAYER.upper().replace("0X", "0x"), "job-1")
    assert set(origins) == {"https://giga.dev", "https://other.example:8443"}
    assert journal.origins_of(PAYER, "job-2") == {}


def test_a_recorded_start_keeps_its_nonce(journal_store: JournalSpec) -> None:
    journal = journal_store.open()
    ref = StartRef(PAYER, "https://giga.dev", "job-1")
    _reserve(journal, ref)
    journal.mark_not_charged(ref)
    with pytest.raises(PaymentError, match="must reuse that nonce"):
        _reserve(journal, ref, nonce="0x" + "02" * 32)
    _reserve(journal, ref)  # the recorded nonce is accepted again
    entry = journal.get(ref)
    assert entry is not None and entry.nonce == NONCE and entry.state is StartState.RESERVED
    assert entry.fingerprint == "f1"


def test_a_wallet_keeps_one_nonce_secret(journal_store: JournalSpec) -> None:
    journal = journal_store.open()
    journal.check_nonce_secret(PAYER, "a" * 32)
    journal.check_nonce_secret(PAYER.upper().replace("0X", "0x"), "a" * 32)
    journal.check_nonce_secret("0x" + "99" * 20, "b" * 32)  # another wallet, another secret
    with pytest.raises(GigaConfigError, match="same secret"):
        journal_store.open().check_nonce_secret(PAYER, "b" * 32)


def test_lease_is_held_until_released_or_expired(journal_store: JournalSpec) -> None:
    clock = Clock()
    journal = journal_store.open(clock)
    other = journal_store.open(clock)  # another process on the same journal
    assert journal.try_lease(PAYER, "job-1", "a", 60) is None
    assert journal.try_lease(PAYER, "job-1", "a", 60) is None  # renewing
    assert other.try_lease(PAYER, "job-1", "b", 60) == ("a", clock.now + 60)
    assert other.try_lease(PAYER, "job-2", "b", 60) is None  # another key: free
    clock.now += 61
    assert other.try_lease(PAYER, "job-1", "b", 60) is None  # expired: taken over
    assert journal.try_lease(PAYER, "job-1", "a", 60) == ("b", clock.now + 60)
    assert journal.try_lease(PAYER, "job-1", "a", 60, replacing="b") is None  # b is dead
    journal.release_lease(PAYER, "job-1", "b")  # not b's any more: no effect
    assert other.try_lease(PAYER, "job-1", "b", 60) is not None
    journal.release_lease(PAYER, "job-1", "a")
    assert other.try_lease(PAYER, "job-1", "b", 60) is None


def _sent(journal: Journal, key: str) -> StartRef:
    ref = StartRef(PAYER, "https://giga.dev", key)
    _reserve(journal, ref, nonce="0x" + key.encode().hex().rjust(64, "0"))
    journal.mark_sent(ref, valid_before=2_000_000_000)
    return ref


def test_assigning_a_run_checks_and_writes_in_one_transaction(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    first, second = _sent(journal, "job-1"), _sent(journal, "job-2")
    # The live claim's rule: not while another start of the wallet has no known run.
    assert journal.assign_sent_run(first, "run-a", alone=True) == (
        "start job-2 of this wallet has no known run either"
    )
    assert journal.assign_sent_run(first, "run-a", alone=False) is None
    # One run is never two starts': the second start cannot take run-a.
    assert (
        journal.assign_sent_run(second, "run-a", alone=True) == "run run-a is already start job-1's"
    )
    # A start that is no longer unresolved keeps what it has.
    assert journal.assign_sent_run(first, "run-b", alone=False) == (
        "the start is started now, no longer unresolved"
    )
    assert journal.assign_sent_run(second, "run-b", alone=True) is None
    recorded = {
        key: journal.get(StartRef(PAYER, "https://giga.dev", key)) for key in ("job-1", "job-2")
    }
    assert {k: (e.state, e.run_id) for k, e in recorded.items() if e} == {
        "job-1": (StartState.STARTED, "run-a"),
        "job-2": (StartState.STARTED, "run-b"),
    }
