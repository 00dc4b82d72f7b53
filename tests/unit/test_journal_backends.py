"""The journal's backends: which one a setting chooses, serialised writers on both, a paid
lane that trusts another machine's lease, an old SQLite file that keeps working, and a
PostgreSQL URL whose password is never shown."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from prefect_giga import GigaClient, GigaCredentials
from prefect_giga.cli.doctor import check_shared_journal
from prefect_giga.core.exceptions import BudgetExceededError, GigaConfigError
from prefect_giga.payments.host import ReconcilePolicy
from prefect_giga.payments.journal import Journal, StartRef, StartState
from prefect_giga.payments.journal_schema import SCHEMA_VERSION
from prefect_giga.payments.journal_url import journal_target, redact_url
from prefect_giga.payments.lane import PaidLane

from ..journal_backends import JournalSpec, postgres_unavailable
from ..pg_server import PostgresServer

PAYER = "0x" + "ab" * 20
SERVER = "https://giga.dev"
KEY = "0x" + "11" * 32
REPO_ROOT = Path(__file__).resolve().parents[2]


def _reserve(journal: Journal, key: str, *, limit: str | None = None) -> None:
    journal.reserve(
        StartRef(PAYER, SERVER, key),
        network="eip155:8453",
        nonce="0x" + key.encode().hex().ljust(64, "0")[:64],
        tier="$0.50",
        amount=Decimal("0.50"),
        pay_to="0x" + "cd" * 20,
        daily_limit=None if limit is None else Decimal(limit),
    )


# --- choosing the backend ------------------------------------------------------------------


def test_a_url_chooses_postgres_and_wins_over_the_path_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GIGA_JOURNAL_PATH", str(tmp_path / "j.sqlite3"))
    assert journal_target() == (tmp_path / "j.sqlite3", None)
    monkeypatch.setenv("GIGA_JOURNAL_URL", "postgresql://db/journal")
    assert journal_target() == (None, "postgresql://db/journal")
    assert journal_target(tmp_path / "x.sqlite3") == (tmp_path / "x.sqlite3", None)  # explicit
    assert journal_target(url=SecretStr("postgres://db/j")) == (None, "postgres://db/j")
    with pytest.raises(GigaConfigError, match="not both"):
        journal_target(tmp_path / "x.sqlite3", "postgresql://db/journal")


def test_a_url_of_another_kind_is_refused_without_showing_its_password() -> None:
    with pytest.raises(GigaConfigError, match="postgresql://") as refused:
        journal_target(url="mysql://giga:s3cret@db/journal")
    assert "s3cret" not in str(refused.value)
    with pytest.raises(GigaConfigError) as bare:
        journal_target(url="host=db password=s3cret")
    assert "s3cret" not in str(bare.value)


def test_redacted_urls_keep_everything_but_the_password() -> None:
    assert redact_url("postgresql://giga:p%40ss@db:5432/j?sslmode=require") == (
        "postgresql://giga:***@db:5432/j?sslmode=require"
    )
    assert redact_url("postgresql://giga@db/j") == "postgresql://giga@db/j"
    assert "s3cret" not in redact_url("postgresql://db/j?password=s3cret&user=giga")


def test_a_client_takes_a_journal_or_a_journal_url_not_both(tmp_path: Path) -> None:
    with pytest.raises(GigaConfigError, match="not both"):
        GigaClient(
            private_key="0x" + "42" * 32,
            journal=Journal(tmp_path / "j.sqlite3"),
            journal_url="postgresql://giga:s3cret@db/journal",
        )


def test_a_postgres_url_without_psycopg_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    with pytest.raises(GigaConfigError, match=r"prefect-giga\[postgres\]") as refused:
        Journal(url="postgresql://giga:s3cret@127.0.0.1:1/never-opened")
    assert "s3cret" not in str(refused.value)


def test_the_package_imports_and_keeps_a_sqlite_journal_without_psycopg(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "import prefect_giga\n"
        "from prefect_giga.payments.journal import Journal\n"
        f"print(Journal({str(tmp_path / 'j.sqlite3')!r}).backend_name)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("GIGA_JOURNAL_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sqlite"


def test_missing_postgres_skips_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GIGA_REQUIRE_POSTGRES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no server here"):
        postgres_unavailable("no server here")
    monkeypatch.setenv("GIGA_REQUIRE_POSTGRES", "1")
    with pytest.raises(pytest.fail.Exception, match="required"):
        postgres_unavailable("no server here")


# --- the same behaviour on both ------------------------------------------------------------


def test_concurrent_writers_never_take_the_daily_limit_over(journal_store: JournalSpec) -> None:
    """Eight threads on two journals (as two processes) reserve $0.50 each under a $1.50
    limit at once: writers are serialised, so exactly three get through."""
    journals = [journal_store.open(), journal_store.open()]
    ready = threading.Barrier(8)
    outcomes: list[str] = []
    guard = threading.Lock()

    def reserve(index: int) -> None:
        ready.wait()
        try:
            _reserve(journals[index % 2], f"job-{index}", limit="1.50")
            outcome = "paid"
        except BudgetExceededError:
            outcome = "refused"
        with guard:
            outcomes.append(outcome)

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["paid"] * 3 + ["refused"] * 5
    assert journals[0].spent_today(PAYER) == Decimal("1.50")


def test_mark_sent_keeps_the_latest_authorization_and_first_send_time(
    journal_store: JournalSpec,
) -> None:
    now = [1_800_000_000.0]
    journal = journal_store.open(lambda: now[0])
    ref = StartRef(PAYER, SERVER, "job-1")
    _reserve(journal, "job-1")
    assert journal.mark_sent(ref, valid_before=1_800_000_900) == (now[0], False)
    now[0] += 5
    assert journal.mark_sent(ref, valid_before=1_800_000_100) == (now[0] - 5, True)
    entry = journal.get(ref)
    assert entry is not None and entry.valid_before == 1_800_000_900.0
    assert entry.state is StartState.SENT and entry.sent_at == now[0] - 5
    journal.mark_not_charged(ref)
    assert journal.spent_today(PAYER) == Decimal("0.50")  # its authorization may still settle
    now[0] = 1_800_001_000.0
    assert journal.spent_today(PAYER) == Decimal("0")  # expired: not charged for good
    _reserve(journal, "job-1")  # reserved again: the row starts over
    again = journal.get(ref)
    assert again is not None and again.state is StartState.RESERVED
    assert again.sent_at is None and again.valid_before is None and again.run_id is None


def test_payees_pins_and_started_runs_are_kept(journal_store: JournalSpec) -> None:
    journal = journal_store.open()
    ref = StartRef(PAYER, SERVER, "job-1")
    _reserve(journal, "job-1")
    journal.pin_payee(SERVER, "eip155:8453", "0x" + "AA" * 20)
    journal.mark_started(ref, "run_1", transaction="0xfeed", paid_to=("eip155:8453", "0xBB"))
    assert journal.pinned_payee(SERVER + "/", "eip155:8453") == "0xbb"
    entry = journal.get(ref)
    assert entry is not None and (entry.run_id, entry.transaction) == ("run_1", "0xfeed")
    assert journal.known_run_ids(PAYER) == {"run_1"}
    assert [e.key for e in journal.entries(since=0)] == ["job-1"]


def test_a_flight_of_another_machine_closes_the_gate_until_its_lease_lapses(
    journal_store: JournalSpec,
) -> None:
    now = [1_800_000_000.0]
    journal = journal_store.open(lambda: now[0])
    ref = StartRef(PAYER, SERVER, "mine")
    _reserve(journal, "mine")
    lane = PaidLane(journal, ref, lease=60)
    not_a_local_process = 2**31 - 2
    with journal.transaction() as db:
        db.execute(
            "INSERT INTO paid_flights (payer, server, key, phase, expires_at, owner, host) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (PAYER, SERVER, "theirs", "reconciling", now[0] + 30, not_a_local_process, "far"),
        )
    assert lane._try_admit(1_800_000_900) is None  # another machine reconciles: wait
    with journal.transaction() as db:
        db.execute("UPDATE paid_flights SET host = ?", (socket.gethostname(),))
    assert lane._try_admit(1_800_000_900) is not None  # a dead process of this machine
    lane.ended()
    with journal.transaction() as db:
        db.execute("UPDATE paid_flights SET host = ? WHERE key = ?", ("far", "theirs"))
    now[0] += 31
    assert lane._try_admit(1_800_000_900) is not None  # its lease lapsed
    lane.ended()


# --- an existing SQLite journal keeps working ----------------------------------------------

_VERSION_4 = """
CREATE TABLE starts_v2 (
    key TEXT NOT NULL, payer TEXT NOT NULL, network TEXT NOT NULL, server TEXT NOT NULL,
    nonce TEXT NOT NULL, tier TEXT NOT NULL, amount_atomic INTEGER NOT NULL,
    pay_to TEXT NOT NULL, state TEXT NOT NULL, run_id TEXT, run_status TEXT,
    transaction_hash TEXT, created_at REAL NOT NULL, sent_at REAL, updated_at REAL NOT NULL,
    valid_before REAL, fingerprint TEXT, PRIMARY KEY (payer, server, key)
);
CREATE TABLE payees (server TEXT NOT NULL, network TEXT NOT NULL, pay_to TEXT NOT NULL,
    seen_at REAL NOT NULL, PRIMARY KEY (server, network));
CREATE TABLE leases (payer TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL,
    expires_at REAL NOT NULL, PRIMARY KEY (payer, key));
CREATE TABLE paid_flights (payer TEXT NOT NULL, server TEXT NOT NULL, key TEXT NOT NULL,
    phase TEXT NOT NULL, expires_at REAL NOT NULL, owner INTEGER NOT NULL,
    PRIMARY KEY (payer, server, key));
CREATE TABLE nonce_secrets (payer TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,
    recorded_at REAL NOT NULL);
PRAGMA user_version = 4;
"""


def test_a_version_4_sqlite_journal_keeps_its_starts_and_gains_hosts_scopes_and_indexes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v4.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(_VERSION_4)
    db.execute(
        "INSERT INTO starts_v2 VALUES ('job-1', ?, 'eip155:8453', ?, ?, '$0.50', 500000, "
        "'0xpay', 'started', 'run_1', 'running', '0xfeed', 1.0, 1.0, 1.0, 2.0, 'f1')",
        (PAYER, SERVER, KEY),
    )
    db.execute(
        "INSERT INTO paid_flights VALUES (?, ?, 'job-2', 'sending', 9e9, ?)",
        (PAYER, SERVER, os.getpid()),
    )
    db.commit()
    db.close()
    journal = Journal(path)
    entry = journal.get(StartRef(PAYER, SERVER, "job-1"))
    assert entry is not None and entry.run_id == "run_1" and entry.fingerprint == "f1"
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = {row[1] for row in check.execute("PRAGMA table_info(paid_flights)")}
    assert "host" in columns
    starts = {row[1] for row in check.execute("PRAGMA table_info(starts_v2)")}
    assert "scope" in starts  # version 6: batch limits; its old starts belong to no batch
    indexes = {row[1] for row in check.execute("PRAGMA index_list(starts_v2)")}
    assert {"starts_v2_spend", "starts_v2_by_scope", "starts_v2_by_run"} <= indexes
    lane = PaidLane(journal, StartRef(PAYER, SERVER, "job-3"), lease=60)
    _reserve(journal, "job-3")
    assert lane._try_admit(9_999_999_999) is not None  # a sending flight does not close it
    lane.ended()
    check.close()


# --- PostgreSQL: the password is never shown ------------------------------------------------


def test_a_postgres_journal_never_shows_its_password(postgres_server: PostgresServer) -> None:
    database = postgres_server.new_database().rsplit("/", 1)[1]
    url = postgres_server.url(database, password="s3cret-pw")  # trust auth: accepted
    journal = Journal(url=url)
    assert journal.backend_name == "postgresql" and journal.path is None
    check = check_shared_journal(journal)  # what `prefect-giga doctor` shows
    assert check.status == "ok"
    for shown in (repr(journal), journal.location, check.detail):
        assert "s3cret-pw" not in shown and "***" in shown
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(GigaConfigError, match="GIGA_JOURNAL_URL") as refused:
        Journal(url=f"postgresql://giga:s3cret-pw@127.0.0.1:{closed}/journal")
    assert "s3cret-pw" not in str(refused.value) and "***" in str(refused.value)


def test_credentials_carry_the_journal_url_as_a_secret_and_claims_off(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.new_database().replace("postgres@", "postgres:s3cret-pw@")
    credentials = GigaCredentials(
        private_key="0x" + "42" * 32, base_url="http://127.0.0.1:8402", journal_url=url
    )
    assert "s3cret-pw" not in repr(credentials)
    assert "s3cret-pw" not in str(credentials.model_dump())
    client = credentials.get_client()
    assert client.journal.backend_name == "postgresql" and client.reconcile.list_claims
    off = credentials.model_copy(update={"list_claims": False})
    forced = off.get_client(reconcile=ReconcilePolicy(resends=1))
    assert not forced.reconcile.list_claims and forced.reconcile.resends == 1
    with pytest.raises(ValueError, match="postgresql://"):
        GigaCredentials(private_key="0x" + "42" * 32, journal_url="mysql://u:s3cret-pw@db/j")


def test_a_database_user_that_cannot_create_the_tables_gets_a_config_error(
    postgres_server: PostgresServer,
) -> None:
    import psycopg

    url = postgres_server.new_database()
    role = f"reader_{url.rsplit('_', 1)[1]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # as PostgreSQL 15+ does
    reader = url.replace("postgres@", f"{role}:s3cret-pw@")
    with pytest.raises(GigaConfigError, match="create the journal's tables") as refused:
        Journal(url=reader)
    assert "s3cret-pw" not in str(refused.value)


def test_a_connection_the_server_dropped_is_reopened_for_the_next_write(
    postgres_server: PostgresServer,
) -> None:
    import psycopg

    url = postgres_server.new_database()
    journal = Journal(url=url)
    journal.pin_payee(SERVER, "eip155:8453", "0x" + "aa" * 20)
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as admin:
        mine = admin.execute("SELECT pg_backend_pid()").fetchone()[0]
        query = (
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid != %s "
            "AND application_name = 'prefect-giga'"
        )
        victims = [row[0] for row in admin.execute(query, (database, mine)).fetchall()]
        assert victims
        for pid in victims:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 30  # a bound: terminated backends exit at once
        while admin.execute(query, (database, mine)).fetchall():
            assert time.monotonic() < deadline, "the journal's connection outlived its kill"
    journal.pin_payee(SERVER, "eip155:8453", "0x" + "bb" * 20)  # reconnects, then writes
    assert journal.pinned_payee(SERVER, "eip155:8453") == "0x" + "bb" * 20


def test_statements_with_a_literal_percent_sign_run_on_both(journal_store: JournalSpec) -> None:
    journal = journal_store.open()
    _reserve(journal, "job-50%")
    with journal.transaction() as db:
        row = db.execute(
            "SELECT key FROM starts_v2 WHERE key LIKE '%\\%' ESCAPE '\\' AND payer = ?", (PAYER,)
        ).fetchone()
    assert row[0] == "job-50%"
