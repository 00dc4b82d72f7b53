"""The payment journal's tables in PostgreSQL, and their migration (version in
``journal_meta``).

The tables and columns are those of the SQLite journal (`journal_schema`), in PostgreSQL's
types: times as ``DOUBLE PRECISION`` seconds since the epoch, amounts as ``BIGINT`` atomic
USDC.
"""

from __future__ import annotations

from .journal_db import JournalDB
from .journal_schema import SCHEMA_VERSION

__all__ = ["migrate_postgres"]

_TABLES = (
    """CREATE TABLE IF NOT EXISTS starts_v2 (
        key TEXT NOT NULL,
        payer TEXT NOT NULL,
        network TEXT NOT NULL,
        server TEXT NOT NULL,
        nonce TEXT NOT NULL,
        tier TEXT NOT NULL,
        amount_atomic BIGINT NOT NULL,
        pay_to TEXT NOT NULL,
        state TEXT NOT NULL,
        run_id TEXT,
        run_status TEXT,
        transaction_hash TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        sent_at DOUBLE PRECISION,
        updated_at DOUBLE PRECISION NOT NULL,
        valid_before DOUBLE PRECISION,
        fingerprint TEXT,
        PRIMARY KEY (payer, server, key)
    )""",
    "CREATE INDEX IF NOT EXISTS starts_v2_by_payer ON starts_v2 (payer, created_at)",
    "CREATE INDEX IF NOT EXISTS starts_v2_by_key ON starts_v2 (payer, key)",
    """CREATE TABLE IF NOT EXISTS payees (
        server TEXT NOT NULL,
        network TEXT NOT NULL,
        pay_to TEXT NOT NULL,
        seen_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (server, network)
    )""",
    """CREATE TABLE IF NOT EXISTS leases (
        payer TEXT NOT NULL,
        key TEXT NOT NULL,
        owner TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (payer, key)
    )""",
    """CREATE TABLE IF NOT EXISTS paid_flights (
        payer TEXT NOT NULL,
        server TEXT NOT NULL,
        key TEXT NOT NULL,
        phase TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        owner BIGINT NOT NULL,
        host TEXT,
        PRIMARY KEY (payer, server, key)
    )""",
    """CREATE TABLE IF NOT EXISTS nonce_secrets (
        payer TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        recorded_at DOUBLE PRECISION NOT NULL
    )""",
)


def migrate_postgres(db: JournalDB) -> None:
    """Create the tables, or bring an older PostgreSQL journal up to `SCHEMA_VERSION`.

    Call it inside a write transaction (which holds the journal's lock), so two processes
    opening one new database create its tables once.

    Example:
        ```python
        with backend.write() as db:
            migrate_postgres(db)
        ```
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS journal_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
    )
    row = db.execute("SELECT value FROM journal_meta WHERE name = 'schema_version'").fetchone()
    if row is not None and int(str(row[0])) >= SCHEMA_VERSION:
        return
    for statement in _TABLES:
        db.execute(statement)
    db.execute(
        "INSERT INTO journal_meta (name, value) VALUES ('schema_version', ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (str(SCHEMA_VERSION),),
    )
