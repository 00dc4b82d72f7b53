"""The payment journal: one SQLite file recording every logical start before it is paid.

It lets a new process re-attach to a run a crashed one paid for, reconcile a start whose
outcome is unknown, count each payer's spending over a rolling day across every process on
the machine, and pin the payee a server was last seen using. It holds no private key and no
signature: only keys, public EIP-3009 nonces, amounts, addresses and run ids.

The file lives at ``$GIGA_JOURNAL_PATH``, else ``~/.prefect-giga/journal.sqlite3``; the folder
is created 0700 and the file 0600. Concurrent processes share it safely (WAL mode, writes in
``BEGIN IMMEDIATE`` transactions).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from ..core.exceptions import BudgetExceededError, GigaConfigError
from ..core.money import format_usd, to_atomic, to_usd
from .journal_records import JournalEntry, StartRef, StartState, counts_as_spent, entry_from_row

__all__ = [
    "DEFAULT_JOURNAL_PATH",
    "Journal",
    "JournalEntry",
    "StartRef",
    "StartState",
    "default_journal_path",
]

ENV_JOURNAL_PATH = "GIGA_JOURNAL_PATH"
DEFAULT_JOURNAL_PATH = Path("~/.prefect-giga/journal.sqlite3")
DAY_SECONDS = 24 * 3600
_SELECT_ONE = "SELECT * FROM starts_v2 WHERE payer = ? AND server = ? AND key = ?"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS starts_v2 (
    key TEXT NOT NULL,
    payer TEXT NOT NULL,
    network TEXT NOT NULL,
    server TEXT NOT NULL,
    nonce TEXT NOT NULL,
    tier TEXT NOT NULL,
    amount_atomic INTEGER NOT NULL,
    pay_to TEXT NOT NULL,
    state TEXT NOT NULL,
    run_id TEXT,
    run_status TEXT,
    transaction_hash TEXT,
    created_at REAL NOT NULL,
    sent_at REAL,
    updated_at REAL NOT NULL,
    valid_before REAL,
    PRIMARY KEY (payer, server, key)
);
CREATE INDEX IF NOT EXISTS starts_v2_by_payer ON starts_v2 (payer, created_at);
CREATE TABLE IF NOT EXISTS payees (
    server TEXT NOT NULL,
    network TEXT NOT NULL,
    pay_to TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (server, network)
);
"""


def default_journal_path() -> Path:
    """``$GIGA_JOURNAL_PATH`` or ``~/.prefect-giga/journal.sqlite3``.

    Example:
        >>> default_journal_path().name
        'journal.sqlite3'
    """
    configured = os.environ.get(ENV_JOURNAL_PATH)
    return Path(configured).expanduser() if configured else DEFAULT_JOURNAL_PATH.expanduser()


class Journal:
    """The SQLite payment journal (see the module docstring).

    Args:
        path: The file (default `default_journal_path()`).
        clock: Seconds since the epoch; replaceable in tests.

    Example:
        >>> import tempfile, pathlib
        >>> j = Journal(pathlib.Path(tempfile.mkdtemp()) / "j.sqlite3")
        >>> j.spent_today("0xabc")
        Decimal('0')
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_journal_path()
        self._clock = clock or time.time
        self._local = threading.local()
        self._prepare()

    def _prepare(self) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            os.chmod(self.path, 0o600)
        except OSError as exc:
            raise GigaConfigError(
                f"Cannot open the payment journal at {self.path} ({exc.strerror}); set "
                f"{ENV_JOURNAL_PATH} to a writable file"
            ) from None
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _now(self) -> float:
        return float(self._clock())

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL: a committed write survives a crash of the process
            # (what the journal guards against) without an fsync on every commit.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        yield db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # --- reads ---------------------------------------------------------------------------

    def get(self, ref: StartRef) -> JournalEntry | None:
        """The entry for one logical start, if any."""
        with self._connect() as db:
            row = db.execute(_SELECT_ONE, ref.params()).fetchone()
        return None if row is None else entry_from_row(row)

    def find(self, key: str) -> list[JournalEntry]:
        """Every start recorded under idempotency key ``key`` (any wallet, any server)."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM starts_v2 WHERE key = ?", (key,)).fetchall()
        return [entry_from_row(row) for row in rows]

    def entries(self, *, since: float | None = None) -> list[JournalEntry]:
        """Every start recorded at or after ``since`` (seconds since the epoch), oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM starts_v2 WHERE created_at >= ? ORDER BY created_at",
                (0.0 if since is None else since,),
            ).fetchall()
        return [entry_from_row(row) for row in rows]

    def spent_today(self, payer: str) -> Decimal:
        """What ``payer`` has spent (or may have) over the last 24 hours, in USD."""
        now = self._now()
        with self._connect() as db:
            return to_usd(self._spent_since(db, payer, now - DAY_SECONDS, now))

    @staticmethod
    def _spent_since(db: sqlite3.Connection, payer: str, since: float, now: float) -> int:
        # A start that was not charged keeps counting until its authorization expires: a
        # server holding the signed authorization could still settle it until then.
        row = db.execute(
            "SELECT COALESCE(SUM(amount_atomic), 0) FROM starts_v2 "
            "WHERE payer = ? AND created_at >= ? "
            "AND (state != ? OR COALESCE(valid_before, 0) > ?)",
            (payer.lower(), since, StartState.NOT_CHARGED.value, now),
        ).fetchone()
        return int(row[0])

    def in_flight(self, payer: str, *, exclude: StartRef | None = None) -> list[JournalEntry]:
        """Starts of ``payer`` whose paid request left but got no run yet (but ``exclude``).

        A start only ``RESERVED`` never left (``mark_sent`` comes before the send), so it
        cannot own a run.
        """
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM starts_v2 WHERE payer = ? AND state = ?",
                (payer.lower(), StartState.SENT.value),
            ).fetchall()
        entries = [entry_from_row(row) for row in rows]
        return [e for e in entries if exclude is None or e.ref != exclude]

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
                "SELECT pay_to FROM payees WHERE server = ? AND network = ?", (server, network)
            ).fetchone()
        return None if row is None else str(row[0])

    # --- writes --------------------------------------------------------------------------

    def reserve(
        self,
        ref: StartRef,
        *,
        network: str,
        nonce: str,
        tier: str,
        amount: Decimal,
        pay_to: str,
        daily_limit: Decimal | None,
    ) -> JournalEntry:
        """Record a start before it is signed, checking the payer's rolling-day limit.

        A start already recorded (and not released) is returned as it is: a retry of the same
        logical start never counts twice.

        Raises:
            BudgetExceededError: The payment would take the payer over ``daily_limit``.
        """
        now = self._now()
        atomic = to_atomic(amount)
        with self._write() as db:
            row = db.execute(_SELECT_ONE, ref.params()).fetchone()
            if row is not None and entry_from_row(row).state is not StartState.NOT_CHARGED:
                return entry_from_row(row)
            if daily_limit is not None:
                spent = self._spent_since(db, ref.payer, now - DAY_SECONDS, now)
                if row is not None:  # the same nonce: its earlier authorization counts once
                    spent -= (
                        entry_from_row(row).amount_atomic
                        if counts_as_spent(entry_from_row(row), now)
                        else 0
                    )
                if spent + atomic > to_atomic(daily_limit):
                    raise BudgetExceededError(
                        f"Refusing to pay {format_usd(amount)}: wallet {ref.payer} has spent "
                        f"{format_usd(to_usd(spent))} in the last 24 hours of its "
                        f"{format_usd(daily_limit)} daily limit; nothing was signed",
                        reason="daily_limit_exceeded",
                        quote=amount,
                        limit=daily_limit,
                    )
            db.execute(
                "INSERT OR REPLACE INTO starts_v2 (key, payer, network, server, nonce, tier, "
                "amount_atomic, pay_to, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ref.key,
                    ref.payer,
                    network,
                    ref.server,
                    nonce,
                    tier,
                    atomic,
                    pay_to.lower(),
                    StartState.RESERVED.value,
                    now,
                    now,
                ),
            )
            entry = db.execute(_SELECT_ONE, ref.params()).fetchone()
        return entry_from_row(entry)

    def mark_sent(self, ref: StartRef, *, valid_before: int) -> float:
        """The paid request is about to leave: from now on its outcome may be unknown.

        Returns:
            When the start's first paid request left (seconds since the epoch).
        """
        now = self._now()
        with self._write() as db:
            db.execute(
                "UPDATE starts_v2 SET state = ?, sent_at = COALESCE(sent_at, ?), updated_at = ?, "
                "valid_before = MAX(COALESCE(valid_before, 0), ?) "
                "WHERE payer = ? AND server = ? AND key = ? AND state != ?",
                (
                    StartState.SENT.value,
                    now,
                    now,
                    valid_before,
                    *ref.params(),
                    StartState.STARTED.value,
                ),
            )
            row = db.execute(
                "SELECT sent_at FROM starts_v2 WHERE payer = ? AND server = ? AND key = ?",
                ref.params(),
            ).fetchone()
        return float(row[0]) if row is not None and row[0] is not None else now

    def mark_started(
        self,
        ref: StartRef,
        run_id: str,
        *,
        transaction: str | None,
        run_status: str | None = None,
        paid_to: tuple[str, str] | None = None,
    ) -> None:
        """The run exists: record its id (and the settlement transaction).

        With ``paid_to`` (network, payee), also pin that payee for the start's server, in the
        same transaction.
        """
        now = self._now()
        with self._write() as db:
            if paid_to is not None:
                network, pay_to = paid_to
                db.execute(
                    "INSERT OR REPLACE INTO payees (server, network, pay_to, seen_at) "
                    "VALUES (?, ?, ?, ?)",
                    (ref.server, network, pay_to.lower(), now),
                )
            db.execute(
                "UPDATE starts_v2 SET state = ?, run_id = ?, transaction_hash = "
                "COALESCE(?, transaction_hash), run_status = ?, updated_at = ? "
                "WHERE payer = ? AND server = ? AND key = ?",
                (
                    StartState.STARTED.value,
                    run_id,
                    transaction or None,
                    run_status,
                    now,
                    *ref.params(),
                ),
            )

    def mark_not_charged(self, ref: StartRef) -> None:
        """The server did not charge this attempt.

        It stops counting toward the daily limit once its authorization has expired
        (``valid_before``), since until then a server keeping it could still settle it.
        """
        with self._write() as db:
            db.execute(
                "UPDATE starts_v2 SET state = ?, updated_at = ? "
                "WHERE payer = ? AND server = ? AND key = ? AND state != ?",
                (
                    StartState.NOT_CHARGED.value,
                    self._now(),
                    *ref.params(),
                    StartState.STARTED.value,
                ),
            )

    def pin_payee(self, server: str, network: str, pay_to: str) -> None:
        """Remember the payee paid on ``server`` and ``network``."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO payees (server, network, pay_to, seen_at) "
                "VALUES (?, ?, ?, ?)",
                (server, network, pay_to.lower(), self._now()),
            )

    def close(self) -> None:
        """Close this thread's connection."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def __repr__(self) -> str:
        return f"Journal(path={str(self.path)!r})"
