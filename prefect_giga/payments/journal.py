"""The payment journal: every logical start recorded before it is paid.

It lets a new process re-attach to a run a crashed one paid for, reconcile a start whose
outcome is unknown, count each payer's spending over a rolling day across every process
sharing the journal, and pin the payee a server was last seen using. It holds no private
key and no signature: only keys, public EIP-3009 nonces, amounts, addresses and run ids.

By default it is one SQLite file per machine, ``$GIGA_JOURNAL_PATH`` or
``~/.prefect-giga/journal.sqlite3`` (the folder created 0700, the file 0600; WAL mode,
writes in ``BEGIN IMMEDIATE`` transactions). With ``$GIGA_JOURNAL_URL``
(``postgresql://...``) it is a PostgreSQL database that workers on many machines share
(writes serialised by one advisory lock). The queries below serve both.
"""

from __future__ import annotations

from decimal import Decimal

from ..core.exceptions import (
    BudgetExceededError,
    IdempotencyKeyConflictError,
    PaymentError,
)
from ..core.exchange import canonical_origin
from ..core.money import format_usd, to_atomic, to_usd
from .journal_db import JournalDB
from .journal_reads import DAY_SECONDS, JournalReads
from .journal_records import (
    JournalEntry,
    ScopeLimit,
    StartRef,
    StartState,
    counts_as_spent,
    entry_from_row,
)
from .journal_schema import SELECT_STARTS
from .journal_store import (
    DEFAULT_JOURNAL_PATH,
    ENV_JOURNAL_PATH,
    ENV_JOURNAL_URL,
    default_journal_path,
)

__all__ = [
    "DAY_SECONDS",
    "DEFAULT_JOURNAL_PATH",
    "ENV_JOURNAL_PATH",
    "ENV_JOURNAL_URL",
    "Journal",
    "JournalEntry",
    "ScopeLimit",
    "StartRef",
    "StartState",
    "default_journal_path",
]

_SELECT_ONE = SELECT_STARTS + " WHERE payer = ? AND server = ? AND key = ?"
_PIN_PAYEE = (
    "INSERT INTO payees (server, network, pay_to, seen_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (server, network) DO UPDATE SET pay_to = excluded.pay_to, "
    "seen_at = excluded.seen_at"
)


class Journal(JournalReads):
    """The payment journal (see the module docstring).

    Args:
        path: The SQLite file (default `default_journal_path()`).
        url: A ``postgresql://`` URL instead (default ``$GIGA_JOURNAL_URL`` when neither
            is given; needs the ``postgres`` extra). Its password is never shown.
        clock: Seconds since the epoch; replaceable in tests.

    Example:
        >>> import tempfile, pathlib
        >>> j = Journal(pathlib.Path(tempfile.mkdtemp()) / "j.sqlite3")
        >>> j.spent_today("0xabc")
        Decimal('0')
    """

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
        fingerprint: str | None = None,
        scope_limit: ScopeLimit | None = None,
    ) -> JournalEntry:
        """Record a start before it is signed, checking the payer's rolling-day limit and its
        scope's limit (a batch's, shared by every process on the journal).

        A start already recorded (and not released) is returned as it is: a retry of the same
        logical start never counts twice. A start recorded once keeps its nonce for ever.

        Raises:
            BudgetExceededError: The payment would take the payer over ``daily_limit``, or
                the starts of ``scope_limit.scope`` over ``scope_limit.limit``.
            PaymentError: ``nonce`` differs from the one recorded for this start.
        """
        now = self._now()
        atomic = to_atomic(amount)
        with self._write() as db:
            row = db.execute(_SELECT_ONE, ref.params()).fetchone()
            if row is not None and entry_from_row(row).nonce != nonce:
                raise PaymentError(
                    f"Refusing to sign: start {ref.key!r} is recorded with EIP-3009 nonce "
                    f"{entry_from_row(row).nonce}, and a payment for it must reuse that nonce, "
                    f"not {nonce}; nothing was signed"
                )
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
            if scope_limit is not None:
                _check_scope(
                    self._spent_in_scope(db, ref, scope_limit.scope, now), amount, scope_limit
                )
            if row is not None:
                fingerprint = entry_from_row(row).fingerprint or fingerprint
            db.execute(
                "INSERT INTO starts_v2 (key, payer, network, server, nonce, tier, "
                "amount_atomic, pay_to, state, created_at, updated_at, fingerprint, scope) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                # A start reserved again replaces its row whole (what it recorded before was
                # not charged): no run, no send time, no authorization expiry carried over.
                "ON CONFLICT (payer, server, key) DO UPDATE SET network = excluded.network, "
                "nonce = excluded.nonce, tier = excluded.tier, "
                "amount_atomic = excluded.amount_atomic, pay_to = excluded.pay_to, "
                "state = excluded.state, run_id = NULL, run_status = NULL, "
                "transaction_hash = NULL, created_at = excluded.created_at, sent_at = NULL, "
                "updated_at = excluded.updated_at, valid_before = NULL, "
                "fingerprint = excluded.fingerprint, scope = excluded.scope",
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
                    fingerprint,
                    None if scope_limit is None else scope_limit.scope,
                ),
            )
            entry = db.execute(_SELECT_ONE, ref.params()).fetchone()
        return entry_from_row(entry)

    def mark_sent(self, ref: StartRef, *, valid_before: int) -> tuple[float, bool]:
        """The paid request is about to leave: from now on its outcome may be unknown.

        Returns:
            When the start's first written paid request left (seconds since the epoch), and
            whether one had left before this one.
        """
        with self._write() as db:
            return self.mark_sent_in(db, ref, valid_before=valid_before)

    def mark_sent_in(
        self, db: JournalDB, ref: StartRef, *, valid_before: int
    ) -> tuple[float, bool]:
        """`mark_sent` inside a `transaction` the caller holds (the paid lane's check)."""
        now = self._now()
        before = db.execute(
            "SELECT sent_at FROM starts_v2 WHERE payer = ? AND server = ? AND key = ?",
            ref.params(),
        ).fetchone()
        db.execute(
            "UPDATE starts_v2 SET state = ?, sent_at = COALESCE(sent_at, ?), updated_at = ?, "
            "valid_before = CASE WHEN COALESCE(valid_before, 0) > ? THEN valid_before "
            "ELSE ? END "
            "WHERE payer = ? AND server = ? AND key = ? AND state != ?",
            (
                StartState.SENT.value,
                now,
                now,
                float(valid_before),
                float(valid_before),
                *ref.params(),
                StartState.STARTED.value,
            ),
        )
        sent_before = before is not None and before[0] is not None
        return (float(before[0]) if sent_before else now), sent_before

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
                db.execute(_PIN_PAYEE, (ref.server, network, pay_to.lower(), now))
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

    def assign_sent_run(
        self, ref: StartRef, run_id: str, *, run_status: str | None = None, alone: bool
    ) -> str | None:
        """Record that the sent start ``ref`` became ``run_id``, checked in one transaction.

        The checks and the write share one write transaction, so two processes (or a claim
        and a hand resolution) sharing the journal can never give one run to two starts.

        Args:
            ref: A start whose paid request left with no run recorded (``SENT``).
            run_id: The run it became.
            run_status: The run's status, when known.
            alone: Also require that no other start of the wallet at the server is still
                without a known run (the live claim's rule).

        Returns:
            ``None`` once recorded; else why nothing was recorded.

        Example:
            >>> import tempfile, pathlib
            >>> j = Journal(pathlib.Path(tempfile.mkdtemp()) / "j.sqlite3")
            >>> j.assign_sent_run(StartRef("0xabc", "https://giga.dev", "k"), "run1", alone=True)
            'the journal has no such start'
        """
        payer, server, key = ref.params()
        with self._write() as db:
            row = db.execute(
                "SELECT state FROM starts_v2 WHERE payer = ? AND server = ? AND key = ?",
                (payer, server, key),
            ).fetchone()
            if row is None:
                return "the journal has no such start"
            if str(row[0]) != StartState.SENT.value:
                return f"the start is {row[0]} now, no longer unresolved"
            owner = db.execute(
                "SELECT key FROM starts_v2 WHERE payer = ? AND run_id = ?", (payer, run_id)
            ).fetchone()
            if owner is not None:
                return f"run {run_id} is already start {owner[0]}'s"
            if alone:
                rival = db.execute(
                    "SELECT key FROM starts_v2 WHERE payer = ? AND server = ? AND key != ? "
                    "AND state IN (?, ?)",
                    (payer, server, key, StartState.SENT.value, StartState.UNUSABLE.value),
                ).fetchone()
                if rival is not None:
                    return f"start {rival[0]} of this wallet has no known run either"
            db.execute(
                "UPDATE starts_v2 SET state = ?, run_id = ?, run_status = ?, updated_at = ? "
                "WHERE payer = ? AND server = ? AND key = ?",
                (StartState.STARTED.value, run_id, run_status, self._now(), payer, server, key),
            )
        return None

    def mark_unsent(self, ref: StartRef) -> None:
        """The start's only paid request failed before any byte of it was written.

        It goes back to ``RESERVED`` (never sent): the server never saw it, so the same
        signed payment may be sent again.
        """
        with self._write() as db:
            db.execute(
                "UPDATE starts_v2 SET state = ?, sent_at = NULL, updated_at = ? "
                "WHERE payer = ? AND server = ? AND key = ? AND state = ?",
                (
                    StartState.RESERVED.value,
                    self._now(),
                    *ref.params(),
                    StartState.SENT.value,
                ),
            )

    def mark_unusable(self, ref: StartRef) -> None:
        """The server took the payment but named the run with an unusable id.

        The start stays spent and is never paid again (`StartState.UNUSABLE`).
        """
        with self._write() as db:
            db.execute(
                "UPDATE starts_v2 SET state = ?, updated_at = ? "
                "WHERE payer = ? AND server = ? AND key = ? AND state != ?",
                (
                    StartState.UNUSABLE.value,
                    self._now(),
                    *ref.params(),
                    StartState.STARTED.value,
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
            db.execute(_PIN_PAYEE, (canonical_origin(server), network, pay_to.lower(), self._now()))

    # --- guards: one request per key, one nonce secret per wallet, one process per key ----

    def bind_request(self, ref: StartRef, fingerprint: str) -> None:
        """Check that ``ref`` is started for the request it was first recorded with.

        A start recorded before fingerprints existed takes this one (once).

        Raises:
            IdempotencyKeyConflictError: The key was recorded for a different request.
        """
        recorded = self.get(ref)  # most starts are new: no write transaction for them
        if recorded is None or recorded.fingerprint == fingerprint:
            return
        with self._write() as db:
            row = db.execute(_SELECT_ONE, ref.params()).fetchone()
            if row is None:
                return
            entry = entry_from_row(row)
            if entry.fingerprint is None:
                db.execute(
                    "UPDATE starts_v2 SET fingerprint = ? WHERE payer = ? AND server = ? "
                    "AND key = ?",
                    (fingerprint, *ref.params()),
                )
            elif entry.fingerprint != fingerprint:
                run = f"run {entry.run_id}" if entry.run_id else "no run yet"
                raise IdempotencyKeyConflictError(
                    f"Idempotency key {ref.key!r} was used at {entry.server} ({run}) for a "
                    "different request (prompt, tier or attachments); a key names one request. "
                    "Nothing was signed or sent: use a new key for the new request.",
                    idempotency_key=ref.key,
                    origin=entry.server,
                    run_id=entry.run_id,
                )


def _check_scope(spent: int, amount: Decimal, scope_limit: ScopeLimit) -> None:
    """Refuse ``amount`` when the scope's other starts already hold ``spent`` (atomic)."""
    if spent + to_atomic(amount) > to_atomic(scope_limit.limit):
        raise BudgetExceededError(
            f"Refusing to pay {format_usd(amount)}: batch {scope_limit.scope!r} has committed "
            f"{format_usd(to_usd(spent))} of its {format_usd(scope_limit.limit)} spend limit "
            "(every run of the batch on this journal counts); nothing was signed",
            reason="batch_budget_exceeded",
            quote=amount,
            limit=scope_limit.limit,
        )
