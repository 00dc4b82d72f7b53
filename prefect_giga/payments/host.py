"""What a paid start needs from the client that drives it, and how it reconciles.

`PaymentHost` is a protocol, so the payments layer names what it uses without importing
the client (which sits above it): the exchange with the server, the wallet and its limits,
the journal, remembered quotes, and a way to list the wallet's runs for claims.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from ..core.exchange import Exchange
from ..core.http import RetryPolicy
from ..core.models import Quote, RunSummary
from ..core.networks import Network
from ..core.wallet import Wallet
from .journal import Journal
from .quotes import QuoteCache
from .signing import PaymentPolicy

__all__ = ["PaymentHost", "ReconcilePolicy"]


@dataclass(frozen=True)
class ReconcilePolicy:
    """How hard a start tries to learn the outcome of a paid request that lost its reply.

    Attributes:
        resends: Times the same signed payment is sent again.
        backoff: Seconds before the first resend; doubles each time. A resend never
            overlaps the request it follows up on, which the client has given up on.
        claim_window: Seconds before the payment left within which a listed run may be it
            (allows for clock differences with the server).
        paid_in_flight: Paid requests of one wallet to one server in flight at once in this
            process (``None``: no limit). Replies lost together cannot be told apart, so
            they end as `OutcomeUnknownError`; ``1`` keeps every lost reply claimable at the
            cost of starting one run at a time.
        list_claims: Whether a lost reply that re-sending could not resolve may be claimed
            from ``/api/list`` (the single new run of the wallet no other start in the journal
            can own). A claim is only as sound as the journal is wide: switch it off
            (``False``) when workers paying from one wallet do not share one journal; such
            a start then ends as `OutcomeUnknownError` with its nonce, never a guess.

    Example:
        >>> ReconcilePolicy(resends=2).resends
        2
        >>> ReconcilePolicy(list_claims=False).list_claims
        False
    """

    resends: int = 3
    backoff: float = 1.0
    claim_window: float = 60.0
    paid_in_flight: int | None = None
    list_claims: bool = True


class PaymentHost(Protocol):
    """The client a `PaidStart` works for (`GigaClient` is one).

    Example:
        ```python
        started = await PaidStart(giga_client, key, body, tier).run()
        ```
    """

    @property
    def address(self) -> str:
        """The paying wallet's address."""
        ...

    base_url: str
    network: Network
    wallet: Wallet
    policy: PaymentPolicy
    journal: Journal
    quotes: QuoteCache
    retry: RetryPolicy
    reconcile: ReconcilePolicy
    before_payment: Callable[[Quote], Awaitable[None]] | None
    pin_payee: bool
    max_spend_per_day: Decimal | None
    exchange: Exchange

    def iter_runs(self) -> AsyncIterator[RunSummary]:
        """This wallet's runs, most recently updated first."""
        ...
