"""Operator views of the payment journal: spending by day, starts whose outcome is unknown,
and resolving one of those by the same rules a live start uses to claim its run.

It works through `Journal`'s public interface only. The runs a server lists come in as
`RunSummary` values: reading them is the client's job (the command line does it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from ..core.exceptions import GigaError
from ..core.models import RunSummary
from ..core.money import format_usd, to_usd
from .journal import Journal, JournalEntry, StartState
from .paid_start import ReconcilePolicy

__all__ = [
    "DEFAULT_CLAIM_WINDOW",
    "Evidence",
    "ResolutionRefusedError",
    "SpendLine",
    "assign_run",
    "gather_evidence",
    "mark_not_charged",
    "spend_by_day",
    "unresolved",
    "utc",
    "window_start",
]

DEFAULT_CLAIM_WINDOW = ReconcilePolicy().claim_window
"""Seconds before a payment left within which a run may still be its (clock differences)."""


class ResolutionRefusedError(GigaError):
    """A start with an unknown outcome cannot be resolved that way; the journal is unchanged.

    Example:
        >>> raise ResolutionRefusedError("run r1 is already start job-1's")
        Traceback (most recent call last):
        ...
        prefect_giga.payments.ledger.ResolutionRefusedError: run r1 is already start job-1's
    """


@dataclass(frozen=True)
class SpendLine:
    """What one wallet paid one server on one UTC day, as the journal records it.

    Attributes:
        day: The UTC day the payments left, ``YYYY-MM-DD``.
        payer: The paying wallet (lowercase).
        server: The server's base URL.
        paid_runs: Starts that became a run.
        paid: What those cost, in USD.
        unknown_runs: Starts whose outcome is unknown (the paid request lost its reply).
        unknown: What those may have cost, in USD.
        not_charged_runs: Starts the server provably did not charge.

    Example:
        >>> line = SpendLine("2026-03-02", "0xabc", "http://127.0.0.1:8402", 2,
        ...     Decimal("1.00"), 1, Decimal("0.50"), 0)
        >>> line.at_most
        Decimal('1.50')
    """

    day: str
    payer: str
    server: str
    paid_runs: int
    paid: Decimal
    unknown_runs: int
    unknown: Decimal
    not_charged_runs: int

    @property
    def at_most(self) -> Decimal:
        """Paid plus possibly paid, in USD."""
        return self.paid + self.unknown


def utc(timestamp: float) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM:SS UTC``.

    Example:
        >>> utc(0)
        '1970-01-01 00:00:00 UTC'
    """
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _day(entry: JournalEntry) -> str:
    moment = entry.sent_at if entry.sent_at is not None else entry.created_at
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%d")


def spend_by_day(journal: Journal, *, since: float, payer: str | None = None) -> list[SpendLine]:
    """Payments recorded since ``since`` (seconds since the epoch), by day, wallet and server.

    A start only reserved (never sent) is left out: it cannot have been paid.

    Example:
        >>> import tempfile, pathlib
        >>> journal = Journal(pathlib.Path(tempfile.mkdtemp()) / "j.sqlite3")
        >>> spend_by_day(journal, since=0)
        []
    """
    totals: dict[tuple[str, str, str], dict[StartState, list[int]]] = {}
    for entry in journal.entries(since=since):
        if entry.state is StartState.RESERVED:
            continue
        if payer is not None and entry.payer != payer.lower():
            continue
        group = totals.setdefault((_day(entry), entry.payer, entry.server), {})
        count_and_atomic = group.setdefault(entry.state, [0, 0])
        count_and_atomic[0] += 1
        count_and_atomic[1] += entry.amount_atomic
    lines = []
    for (day, wallet, server), group in sorted(totals.items()):
        paid = group.get(StartState.STARTED, [0, 0])
        unknown = group.get(StartState.SENT, [0, 0])
        lines.append(
            SpendLine(
                day=day,
                payer=wallet,
                server=server,
                paid_runs=paid[0],
                paid=to_usd(paid[1]),
                unknown_runs=unknown[0],
                unknown=to_usd(unknown[1]),
                not_charged_runs=group.get(StartState.NOT_CHARGED, [0, 0])[0],
            )
        )
    return lines


def unresolved(
    journal: Journal, *, payer: str | None = None, server: str | None = None
) -> list[JournalEntry]:
    """Starts whose paid request left but whose run is not known: their outcome is unknown.

    Example:
        >>> import tempfile, pathlib
        >>> unresolved(Journal(pathlib.Path(tempfile.mkdtemp()) / "j.sqlite3"))
        []
    """
    return [
        entry
        for entry in journal.entries()
        if entry.state is StartState.SENT
        and (payer is None or entry.payer == payer.lower())
        and (server is None or entry.server == server)
    ]


def window_start(entry: JournalEntry, claim_window: float = DEFAULT_CLAIM_WINDOW) -> datetime:
    """The earliest creation time a run of ``entry``'s payment can have (clock window included).

    Example:
        >>> import tempfile, pathlib
        >>> from prefect_giga.payments.journal import StartRef
        >>> journal = Journal(pathlib.Path(tempfile.mkdtemp()) / "j.sqlite3", clock=lambda: 100.0)
        >>> ref = StartRef("0xabc", "http://127.0.0.1:8402", "job-1")
        >>> entry = journal.reserve(ref, network="eip155:8453", nonce="0x01", tier="$0.50",
        ...     amount=Decimal("0.50"), pay_to="0x02", daily_limit=None)
        >>> window_start(entry, 60).timestamp()
        40.0
    """
    sent = entry.sent_at if entry.sent_at is not None else entry.created_at
    return datetime.fromtimestamp(sent - claim_window, timezone.utc)


@dataclass(frozen=True)
class Evidence:
    """What the server's run list says about one start whose outcome is unknown.

    Attributes:
        entry: The start.
        since: Runs created before this cannot be its (the send, less the clock window).
        candidates: This wallet's runs created since then that no start was assigned.
        assigned: Runs created since then that other starts already own.
        rivals: Other unresolved starts of the wallet on the server that could own a
            candidate too.

    Example:
        ```python
        evidence = gather_evidence(journal, entry, runs)
        if evidence.claimable is not None:
            assign_run(journal, entry, evidence.claimable, reader=entry.payer)
        ```
    """

    entry: JournalEntry
    since: datetime
    candidates: tuple[RunSummary, ...]
    assigned: tuple[str, ...]
    rivals: tuple[JournalEntry, ...]

    @property
    def claimable(self) -> RunSummary | None:
        """The run that can only be this start's, if there is exactly one."""
        if len(self.candidates) == 1 and not self.rivals:
            return self.candidates[0]
        return None

    @property
    def verdict(self) -> str:
        """One sentence saying what the evidence shows."""
        key = self.entry.key
        if self.claimable is not None:
            return f"run {self.claimable.id} can only be start {key}'s"
        if not self.candidates:
            return (
                f"no unassigned run of this wallet appeared since {utc(self.since.timestamp())}; "
                f"start {key} may not have been charged, or its run was discarded"
            )
        return (
            f"{len(self.candidates)} candidate run(s) and {len(self.rivals)} other unresolved "
            f"start(s) of this wallet: which run is start {key}'s is ambiguous"
        )


def gather_evidence(
    journal: Journal,
    entry: JournalEntry,
    runs: Iterable[RunSummary],
    *,
    claim_window: float = DEFAULT_CLAIM_WINDOW,
) -> Evidence:
    """Sort this wallet's listed ``runs`` into candidates for ``entry`` (nothing is written).

    The rule is the live claim's: a run created since the payment left (less the clock
    window) and not assigned to any start. It is claimable only when it is the one
    candidate and no other unresolved start of the wallet on the server could own it.

    Example:
        ```python
        evidence = gather_evidence(journal, entry, await giga.list_runs(limit=100))
        print(evidence.verdict)
        ```
    """
    since = window_start(entry, claim_window)
    known = journal.known_run_ids(entry.payer)
    recent = [run for run in runs if run.created_at >= since]
    candidates = tuple(run for run in recent if run.id not in known)
    rivals = tuple(
        other
        for other in unresolved(journal, payer=entry.payer, server=entry.server)
        if other.ref != entry.ref
        and any(run.created_at >= window_start(other, claim_window) for run in candidates)
    )
    return Evidence(
        entry=entry,
        since=since,
        candidates=candidates,
        assigned=tuple(run.id for run in recent if run.id in known),
        rivals=rivals,
    )


def _current(journal: Journal, entry: JournalEntry) -> JournalEntry:
    current = journal.get(entry.ref)
    if current is None:
        raise ResolutionRefusedError(f"The journal has no start {entry.key} of {entry.payer}")
    if current.state is not StartState.SENT:
        became = f" (run {current.run_id})" if current.run_id else ""
        raise ResolutionRefusedError(
            f"Start {entry.key} is not unresolved: it is {current.state.value}{became}; "
            "nothing changed"
        )
    return current


def assign_run(
    journal: Journal,
    entry: JournalEntry,
    run: RunSummary,
    *,
    reader: str,
    claim_window: float = DEFAULT_CLAIM_WINDOW,
) -> JournalEntry:
    """Record that the unresolved start ``entry`` became ``run``, after the claim rule's checks.

    Args:
        journal: The journal holding ``entry``.
        entry: A start whose outcome is unknown.
        run: The run, as the server returned it to ``reader``'s signed-in read.
        reader: The wallet whose sign-in read ``run`` (runs belong to the wallet that paid).
        claim_window: Seconds allowed for clock differences with the server.

    Returns:
        The start as now recorded (``started``, with the run id).

    Raises:
        ResolutionRefusedError: The start is not unresolved, or the run is another wallet's,
            already another start's, or created before the payment left. Nothing changed.

    Example:
        ```python
        run = await giga.read(run_id)  # only this wallet's runs can be read
        assign_run(journal, entry, run, reader=giga.address)
        ```
    """
    current = _current(journal, entry)
    if reader.lower() != current.payer:
        raise ResolutionRefusedError(
            f"Run {run.id} was read by wallet {reader}, but start {current.key} was paid by "
            f"{current.payer}: a run belongs to the wallet that paid for it; nothing changed"
        )
    owners = [e.key for e in journal.entries() if e.payer == current.payer and e.run_id == run.id]
    if owners or run.id in journal.known_run_ids(current.payer):
        raise ResolutionRefusedError(
            f"Run {run.id} is already assigned to start {', '.join(owners) or '(another)'} of "
            "this wallet: one run cannot be two payments'; nothing changed"
        )
    since = window_start(current, claim_window)
    if run.created_at < since:
        sent = utc(current.sent_at or current.created_at)
        raise ResolutionRefusedError(
            f"Run {run.id} was created at {utc(run.created_at.timestamp())}, before start "
            f"{current.key}'s payment left at {sent} (allowing "
            f"{claim_window:g} s for clock differences): it cannot be that payment's run; "
            "nothing changed"
        )
    refused = journal.assign_sent_run(current.ref, run.id, run_status=run.status.value, alone=False)
    if refused is not None:  # changed since the checks above (another process)
        raise ResolutionRefusedError(f"Run {run.id} was not recorded: {refused}; nothing changed")
    resolved = journal.get(current.ref)
    assert resolved is not None
    return resolved


def mark_not_charged(
    journal: Journal, entry: JournalEntry, *, now: float | None = None
) -> JournalEntry:
    """Record by hand that the unresolved start ``entry`` was not charged.

    Only once its payment authorization has expired: until then a server holding it could
    still settle it. Check the chain for the start's EIP-3009 nonce before saying so.

    Raises:
        ResolutionRefusedError: The start is not unresolved, or its authorization has not
            expired yet. Nothing changed.

    Example:
        ```python
        entry = unresolved(journal, payer=address)[0]
        mark_not_charged(journal, entry)  # refused while entry.valid_before is in the future
        ```
    """
    current = _current(journal, entry)
    moment = time.time() if now is None else now
    if current.valid_before is None or current.valid_before > moment:
        until = "an unknown time" if current.valid_before is None else utc(current.valid_before)
        raise ResolutionRefusedError(
            f"Start {current.key}'s payment authorization ({format_usd(current.amount)}, "
            f"nonce {current.nonce}) is valid until {until}: a server holding it could still "
            "settle it, so it cannot be marked not charged before then; nothing changed"
        )
    journal.mark_not_charged(current.ref)
    resolved = journal.get(current.ref)
    assert resolved is not None
    return resolved
