"""The payment journal's reads: starts by key, by payer and server, spending, payees.

`Journal` adds the writes; the queries here are the same SQL on SQLite and PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal

from ..core.exchange import canonical_origin
from ..core.money import to_usd
from .journal_db import JournalDB
from .journal_guards import JournalGuards
from .journal_records import JournalEntry, StartRef, StartState, entry_from_row
from .journal_schema import SELECT_STARTS

__all__ = ["DAY_SECONDS", "JournalReads"]

DAY_SECONDS = 24 * 3600
"""The daily limit's window: a rolling 24 hours."""
_SELECT_ONE = SELECT_STARTS + " WHERE payer = ? AND server = ? AND key = ?"
_COUNTED_SPEND = (
    "SELECT COALESCE(SUM(amount_atomic), 0) FROM starts_v2 WHERE payer = ? AND {where} "
    "AND (state != ? OR COALESCE(valid_before, 0) > ?)"
)
_SPENT_SINCE = _COUNTED_SPEND.format(where="created_at >= ?")
_SPENT_IN_SCOPE = _COUNTED_SPEND.format(where="scope = ? AND NOT (server = ? AND key = ?)")


class JournalReads(JournalGuards):
    """What the journal answers without writing (see `Journal`, which adds the writes).

    Example:
        >>> import tempfile, pathlib
        >>> reads = JournalReads(pathlib.Path(tempfile.mkdtemp()) / "j.sqlite3")
        >>> reads.known_run_ids("0xabc")
        set()
    """

    # --- reads ---------------------------------------------------------------------------

    def get(self, ref: StartRef) -> JournalEntry | None:
        """The entry for one logical start, if any."""
        with self._connect() as db:
            row = db.execute(_SELECT_ONE, ref.params()).fetchone()
        return None if row is None else entry_from_row(row)

    def find(self, key: str) -> list[JournalEntry]:
        """Every start recorded under idempotency key ``key`` (any wallet, any server)."""
        with self._connect() as db:
            rows = db.execute(SELECT_STARTS + " WHERE key = ?", (key,)).fetchall()
        return [entry_from_row(row) for row in rows]

    def origins_of(self, payer: str, key: str) -> dict[str, JournalEntry]:
        """Where ``payer`` used idempotency key ``key``: each server (canonical form) and its
        start.

        A key's EIP-3009 nonce does not depend on the server, so a key used at one server
        must not be signed for at another, and a "nonce already used" reply from a server
        the key is recorded elsewhere proves nothing about that server's runs.

        Example:
            >>> import tempfile, pathlib
            >>> j = JournalReads(pathlib.Path(tempfile.mkdtemp()) / "j.sqlite3")
            >>> j.origins_of("0xabc", "job-1")
            {}
        """
        with self._connect() as db:
            rows = db.execute(
                SELECT_STARTS + " WHERE payer = ? AND key = ?", (payer.lower(), key)
            ).fetchall()
        # Sorted here, not by ORDER BY: that makes SQLite walk the payer's whole
        # (payer, created_at) index instead of looking the key up.
        entries = sorted((entry_from_row(row) for row in rows), key=lambda e: e.created_at)
        return {canonical_origin(e.server): e for e in reversed(entries)}

    def entries(self, *, since: float | None = None) -> list[JournalEntry]:
        """Every start recorded at or after ``since`` (seconds since the epoch), oldest first."""
        with self._connect() as db:
            rows = db.execute(
                SELECT_STARTS + " WHERE created_at >= ? ORDER BY created_at",
                (0.0 if since is None else since,),
            ).fetchall()
        return [entry_from_row(row) for row in rows]

    def spent_today(self, payer: str) -> Decimal:
        """What ``payer`` has spent (or may have) over the last 24 hours, in USD."""
        now = self._now()
        with self._connect() as db:
            return to_usd(self._spent_since(db, payer, now - DAY_SECONDS, now))

    @staticmethod
    def _spent_since(db: JournalDB, payer: str, since: float, now: float) -> int:
        return _counted_spend(db, _SPENT_SINCE, (payer.lower(), since), now)

    @staticmethod
    def _spent_in_scope(db: JournalDB, ref: StartRef, scope: str, now: float) -> int:
        # Every other start of the payer in the scope.
        return _counted_spend(db, _SPENT_IN_SCOPE, (ref.payer, scope, ref.server, ref.key), now)

    def unresolved(self, payer: str, server: str, *, exclude: StartRef) -> list[JournalEntry]:
        """Starts of ``payer`` on ``server`` that may own a run the journal cannot name.

        Those whose paid request left and got no run yet (``SENT``, whatever their send
        time) and those paid with an unusable run id (``UNUSABLE``); all but ``exclude``.
        """
        with self._connect() as db:
            rows = db.execute(
                SELECT_STARTS + " WHERE payer = ? AND server = ? AND state IN (?, ?)",
                (payer.lower(), server, StartState.SENT.value, StartState.UNUSABLE.value),
            ).fetchall()
        entries = [entry_from_row(row) for row in rows]
        return [e for e in entries if e.ref != exclude]

    def known_run_ids(self, payer: str) -> set[str]:
        """Run ids the journal already assigned to a start of ``payer``."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT run_id FROM starts_v2 WHERE payer = ? AND run_id IS NOT NULL",
                (payer.lower(),),
            ).fetchall()
        return {str(row[0]) for row in rows}

    def pinned_payee(self, server: str, network: str) -> str | None:
        """The payee last paid on ``server`` and ``network``."""
        with self._connect() as db:
            row = db.execute(
                "SELECT pay_to FROM payees WHERE server = ? AND network = ?",
                (canonical_origin(server), network),
            ).fetchone()
        return None if row is None else str(row[0])


def _counted_spend(db: JournalDB, query: str, params: tuple[object, ...], now: float) -> int:
    """What the starts ``query`` selects count as spent, in atomic USDC. A start that was
    not charged keeps counting until its authorization expires: a server holding the signed
    authorization could still settle it until then."""
    row = db.execute(query, (*params, StartState.NOT_CHARGED.value, now)).fetchone()
    return int(row[0])
