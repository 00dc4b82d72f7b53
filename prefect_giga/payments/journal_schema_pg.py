"""The payment journal's tables in PostgreSQL, and their migration (version in
``journal_meta``).

The tables, columns and indexes are those of the SQLite journal (`journal_schema`, one
list for both), in PostgreSQL's types: times as ``DOUBLE PRECISION`` seconds since the epoch,
amounts and process ids as ``BIGINT``.
"""

from __future__ import annotations

from .journal_db import JournalDB
from .journal_schema import POSTGRES_TYPES, SCHEMA_VERSION, index_statements, table_statements

__all__ = ["migrate_postgres"]


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
    for statement in table_statements(POSTGRES_TYPES):
        db.execute(statement)
    # A journal made before version 6 has no spend scopes.
    db.execute("ALTER TABLE starts_v2 ADD COLUMN IF NOT EXISTS scope TEXT")
    for statement in index_statements():
        db.execute(statement)
    db.execute(
        "INSERT INTO journal_meta (name, value) VALUES ('schema_version', ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (str(SCHEMA_VERSION),),
    )
