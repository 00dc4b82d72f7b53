"""The payment journal's tables, and the migration that brings an older journal file up to date.

Old files keep working: columns are only ever added, and servers recorded in an older form
(``https://Giga.dev:443/``) are rewritten to the canonical one the journal looks them up by.
"""

from __future__ import annotations

import sqlite3

from ..core.exchange import canonical_origin

__all__ = [
    "POSTGRES_TYPES",
    "SCHEMA_VERSION",
    "SELECT_STARTS",
    "SQLITE_TYPES",
    "index_statements",
    "migrate",
    "table_statements",
]

SCHEMA_VERSION = 6
"""``PRAGMA user_version`` once `migrate` has run: 3 adds request fingerprints, leases,
nonce-secret fingerprints and canonical server names; 4 the paid lane's ``paid_flights``;
5 the host of each flight's owner (a journal shared by machines); 6 each start's spend
``scope`` (a batch, whose limit every process on the journal shares) and the indexes that
keep a start's cost flat as the journal grows (the daily-limit sum, run ids, unresolved
starts)."""

SELECT_STARTS = (
    "SELECT key, payer, network, server, nonce, tier, amount_atomic, pay_to, state, run_id, "
    "run_status, transaction_hash, created_at, sent_at, updated_at, valid_before, fingerprint "
    "FROM starts_v2"
)
"""Every ``starts_v2`` column but ``scope``, in the order `entry_from_row` reads them."""

_TABLES = (
    """CREATE TABLE IF NOT EXISTS starts_v2 (
        key TEXT NOT NULL,
        payer TEXT NOT NULL,
        network TEXT NOT NULL,
        server TEXT NOT NULL,
        nonce TEXT NOT NULL,
        tier TEXT NOT NULL,
        amount_atomic {amount} NOT NULL,
        pay_to TEXT NOT NULL,
        state TEXT NOT NULL,
        run_id TEXT,
        run_status TEXT,
        transaction_hash TEXT,
        created_at {time} NOT NULL,
        sent_at {time},
        updated_at {time} NOT NULL,
        valid_before {time},
        fingerprint TEXT,
        scope TEXT,
        PRIMARY KEY (payer, server, key)
    )""",
    """CREATE TABLE IF NOT EXISTS payees (
        server TEXT NOT NULL,
        network TEXT NOT NULL,
        pay_to TEXT NOT NULL,
        seen_at {time} NOT NULL,
        PRIMARY KEY (server, network)
    )""",
    """CREATE TABLE IF NOT EXISTS leases (
        payer TEXT NOT NULL,
        key TEXT NOT NULL,
        owner TEXT NOT NULL,
        expires_at {time} NOT NULL,
        PRIMARY KEY (payer, key)
    )""",
    """CREATE TABLE IF NOT EXISTS paid_flights (
        payer TEXT NOT NULL,
        server TEXT NOT NULL,
        key TEXT NOT NULL,
        phase TEXT NOT NULL,
        expires_at {time} NOT NULL,
        owner {amount} NOT NULL,
        host TEXT,
        PRIMARY KEY (payer, server, key)
    )""",
    """CREATE TABLE IF NOT EXISTS nonce_secrets (
        payer TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        recorded_at {time} NOT NULL
    )""",
)

_INDEXES = (
    # (payer, created_at) is a prefix of starts_v2_spend: one index less to write per start.
    "DROP INDEX IF EXISTS starts_v2_by_payer",
    "CREATE INDEX IF NOT EXISTS starts_v2_by_key ON starts_v2 (payer, key)",
    # Covers the daily-limit sum, so it reads the index alone, not each start's row.
    "CREATE INDEX IF NOT EXISTS starts_v2_spend "
    "ON starts_v2 (payer, created_at, state, valid_before, amount_atomic)",
    "CREATE INDEX IF NOT EXISTS starts_v2_by_run ON starts_v2 (payer, run_id)",
    "CREATE INDEX IF NOT EXISTS starts_v2_by_state ON starts_v2 (payer, server, state)",
    "CREATE INDEX IF NOT EXISTS starts_v2_by_scope ON starts_v2 (payer, scope)",
)

SQLITE_TYPES = {"time": "REAL", "amount": "INTEGER"}
"""Column types of the SQLite journal: seconds since the epoch, 64-bit integers."""
POSTGRES_TYPES = {"time": "DOUBLE PRECISION", "amount": "BIGINT"}
"""The same columns in PostgreSQL."""


def table_statements(types: dict[str, str]) -> list[str]:
    """The journal's ``CREATE TABLE`` statements, with ``types`` for its time and 64-bit
    integer columns (`SQLITE_TYPES` or `POSTGRES_TYPES`).

    Example:
        >>> "REAL" in table_statements(SQLITE_TYPES)[0]
        True
    """
    return [statement.format(**types) for statement in _TABLES]


def index_statements() -> list[str]:
    """The journal's index statements (both databases), run once every column exists.

    Example:
        >>> any("starts_v2_spend" in s for s in index_statements())
        True
    """
    return list(_INDEXES)


def migrate(db: sqlite3.Connection) -> None:
    """Create the tables, or bring an older journal up to `SCHEMA_VERSION`.

    Call it inside a write transaction, so two processes opening one old file migrate it
    once.

    Example:
        >>> db = sqlite3.connect(":memory:")
        >>> migrate(db)
        >>> db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        True
    """
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version >= SCHEMA_VERSION:
        return
    for statement in table_statements(SQLITE_TYPES):
        db.execute(statement)
    columns = {str(row[1]) for row in db.execute("PRAGMA table_info(starts_v2)")}
    if "fingerprint" not in columns:  # a version 1 or 2 file: its rows accept any request once
        db.execute("ALTER TABLE starts_v2 ADD COLUMN fingerprint TEXT")
    if "scope" not in columns:  # before version 6: no start counts against a batch's limit
        db.execute("ALTER TABLE starts_v2 ADD COLUMN scope TEXT")
    flights = {str(row[1]) for row in db.execute("PRAGMA table_info(paid_flights)")}
    if "host" not in flights:  # a version 4 file: its flights are this machine's
        db.execute("ALTER TABLE paid_flights ADD COLUMN host TEXT")
    for statement in index_statements():
        db.execute(statement)
    _canonical_servers(db, "starts_v2")
    _canonical_servers(db, "payees")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


_SERVER_QUERIES = {
    "starts_v2": (
        "SELECT DISTINCT server FROM starts_v2",
        "UPDATE OR IGNORE starts_v2 SET server = ? WHERE server = ?",
    ),
    "payees": (
        "SELECT DISTINCT server FROM payees",
        "UPDATE OR IGNORE payees SET server = ? WHERE server = ?",
    ),
}


def _canonical_servers(db: sqlite3.Connection, table: str) -> None:
    # A row whose canonical form is already taken stays as it is (UPDATE OR IGNORE): the
    # journal's cross-origin lookups compare canonical forms, so it is still found.
    select, update = _SERVER_QUERIES[table]
    for server in [str(row[0]) for row in db.execute(select)]:
        canonical = canonical_origin(server)
        if canonical != server:
            db.execute(update, (canonical, server))
