"""The journal's records: which start (`StartRef`), where it stands (`StartState`), and a row
(`JournalEntry`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from ..core.exchange import canonical_origin
from ..core.money import to_usd

__all__ = [
    "JournalEntry",
    "ScopeLimit",
    "StartRef",
    "StartState",
    "counts_as_spent",
    "entry_from_row",
]


@dataclass(frozen=True)
class StartRef:
    """Which logical start: the paying wallet, the server, and the idempotency key.

    The same key with another wallet is another start; the same key on another server is
    refused before signing (its nonce would be the same). The server is kept in canonical
    form (`canonical_origin`).

    Example:
        >>> StartRef("0xABC", "https://GIGA.dev:443/", "job-1")
        StartRef(payer='0xabc', server='https://giga.dev', key='job-1')
    """

    payer: str
    server: str
    key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "payer", self.payer.lower())
        object.__setattr__(self, "server", canonical_origin(self.server))

    def params(self) -> tuple[str, str, str]:
        """The SQL parameters that select this start: payer, server, key."""
        return (self.payer, self.server, self.key)


@dataclass(frozen=True)
class ScopeLimit:
    """A spend limit on every start one wallet records under ``scope`` (a batch's key scope),
    checked in the journal transaction that records each start: every run of the batch and
    every process sharing the journal counts against the one limit.

    Example:
        >>> ScopeLimit("orders-2026-12-03", Decimal("5.00")).limit
        Decimal('5.00')
    """

    scope: str
    limit: Decimal


class StartState(str, Enum):
    """Where a logical start stands.

    ``RESERVED``: checked and counted, about to be signed. ``SENT``: the paid request left
    (its outcome is unknown until a reply). ``STARTED``: the run exists (``run_id`` set).
    ``NOT_CHARGED``: the server provably did not charge it (rejected, settlement failed).
    ``UNUSABLE``: the server took the payment but its reply named the run with an id that is
    not a valid run id; the start is spent and never paid again.
    """

    RESERVED = "reserved"
    SENT = "sent"
    STARTED = "started"
    NOT_CHARGED = "not_charged"
    UNUSABLE = "unusable"

    @property
    def counts_as_spent(self) -> bool:
        """Whether the start counts toward spending (anything not provably uncharged)."""
        return self is not StartState.NOT_CHARGED


@dataclass(frozen=True)
class JournalEntry:
    """One logical start as the journal records it."""

    key: str
    payer: str
    network: str
    server: str
    nonce: str
    tier: str
    amount_atomic: int
    pay_to: str
    state: StartState
    run_id: str | None
    run_status: str | None
    transaction: str | None
    created_at: float
    sent_at: float | None
    valid_before: float | None = None
    fingerprint: str | None = None

    @property
    def ref(self) -> StartRef:
        """The start this entry records."""
        return StartRef(self.payer, self.server, self.key)

    @property
    def amount(self) -> Decimal:
        """The amount in USD."""
        return to_usd(self.amount_atomic)


def counts_as_spent(entry: JournalEntry, now: float) -> bool:
    """Whether ``entry`` counts against the daily limit at ``now``: spent, or an authorization
    that can still settle (its ``valid_before`` is still ahead).
    """
    return entry.state.counts_as_spent or (entry.valid_before or 0) > now


def entry_from_row(row: tuple[object, ...]) -> JournalEntry:
    """A `JournalEntry` from one ``starts_v2`` row, in ``journal_schema.SELECT_STARTS`` order."""
    (
        key,
        payer,
        network,
        server,
        nonce,
        tier,
        amount,
        pay_to,
        state,
        run_id,
        run_status,
        transaction,
        created_at,
        sent_at,
        _updated,
        valid_before,
        fingerprint,
    ) = row
    return JournalEntry(
        key=str(key),
        payer=str(payer),
        network=str(network),
        server=str(server),
        nonce=str(nonce),
        tier=str(tier),
        amount_atomic=int(str(amount)),
        pay_to=str(pay_to),
        state=StartState(str(state)),
        run_id=None if run_id is None else str(run_id),
        run_status=None if run_status is None else str(run_status),
        transaction=None if transaction is None else str(transaction),
        created_at=float(str(created_at)),
        sent_at=None if sent_at is None else float(str(sent_at)),
        valid_before=None if valid_before is None else float(str(valid_before)),
        fingerprint=None if fingerprint is None else str(fingerprint),
    )
