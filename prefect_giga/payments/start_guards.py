"""Checks a paid start makes against the journal: one server per key, the payee it pays.

Each raises (or warns) before anything is signed, or before a run is claimed.
"""

from __future__ import annotations

import logging
import weakref

from ..core.exceptions import IdempotencyKeyConflictError, OutcomeUnknownError, QuoteRefusedError
from ..core.models import Quote
from .host import PaymentHost
from .journal import Journal, StartRef

__all__ = [
    "check_key_use",
    "check_payee",
    "refuse_claim_if_used_elsewhere",
    "refuse_key_used_elsewhere",
]

logger = logging.getLogger("prefect_giga.payments")

_WARNED: weakref.WeakKeyDictionary[object, set[tuple[str, str, str]]] = weakref.WeakKeyDictionary()
"""The unpinned payees each client has warned about (concurrent first starts warn once)."""


def check_key_use(journal: Journal, ref: StartRef, fingerprint: str | None) -> None:
    """Before any request: the key names this request, and no other server's start.

    Raises:
        IdempotencyKeyConflictError: The key was recorded for another request, or (when it
            has no run here yet) at another server.

    Example:
        ```python
        check_key_use(journal, StartRef(address, base_url, "job-1"), fingerprint)
        ```
    """
    if fingerprint is not None:
        journal.bind_request(ref, fingerprint)
    recorded = journal.get(ref)
    if recorded is None or recorded.run_id is None:
        refuse_key_used_elsewhere(journal, ref)


def refuse_key_used_elsewhere(journal: Journal, ref: StartRef) -> None:
    """Refuse a key the journal records at another server: its nonce would be the same there.

    Raises:
        IdempotencyKeyConflictError: ``ref.key`` of ``ref.payer`` is recorded at another
            server; the error names it and its run.

    Example:
        ```python
        refuse_key_used_elsewhere(journal, StartRef(address, "https://giga.dev", "job-1"))
        ```
    """
    for origin, entry in journal.origins_of(ref.payer, ref.key).items():
        if origin != ref.server:
            run = f"run {entry.run_id}" if entry.run_id else f"no run yet ({entry.state.value})"
            raise IdempotencyKeyConflictError(
                f"Idempotency key {ref.key!r} of wallet {ref.payer} was already used at "
                f"{origin} ({run}); a key belongs to one server, since its payment nonce "
                "would be the same at both. Nothing was signed or sent: use a new key here.",
                idempotency_key=ref.key,
                origin=origin,
                run_id=entry.run_id,
            )


def refuse_claim_if_used_elsewhere(client: PaymentHost, ref: StartRef, nonce: str) -> None:
    """After "nonce already used": refuse to claim a run when the key is recorded elsewhere.

    The nonce may have settled at the other server, so the reply proves nothing about this
    server's runs.

    Raises:
        OutcomeUnknownError: The key is recorded at another server too.

    Example:
        ```python
        refuse_claim_if_used_elsewhere(giga_client, start.ref, payment.nonce)
        ```
    """
    elsewhere = sorted(o for o in client.journal.origins_of(ref.payer, ref.key) if o != ref.server)
    if not elsewhere:
        return
    raise OutcomeUnknownError(
        f"{ref.server} says payment nonce {nonce} was already used, but idempotency key "
        f"{ref.key!r} is also recorded at {', '.join(elsewhere)}: the nonce may have settled "
        "there, so no run here is claimed. Nothing more can be paid for this key (one nonce "
        "per key).",
        idempotency_key=ref.key,
        payment_nonce=nonce,
        payer=ref.payer,
        network=client.network.caip2,
    )


def check_payee(client: PaymentHost, quote: Quote) -> None:
    """Refuse a payee other than the one pinned for the server; warn on a first payee.

    With ``allowed_payees`` set, the policy already chose an allowed payee. Without it, the
    first payment to a payee from this machine logs a warning naming it and how to pin it
    (once per client, however many first starts run at once), and (with ``pin_payee``) a
    later change of payee is refused.

    Raises:
        QuoteRefusedError: The server asks to be paid at another address than before.

    Example:
        ```python
        check_payee(giga_client, quote)  # before signing
        ```
    """
    if client.policy.allowed_payees is not None:
        return
    pinned = client.journal.pinned_payee(client.base_url, quote.network)
    if pinned == quote.pay_to.lower():
        return
    if pinned is None or not client.pin_payee:
        warned = _WARNED.setdefault(client, set())
        seen = (client.base_url, quote.network, quote.pay_to.lower())
        if seen in warned:
            return
        warned.add(seen)
        logger.warning(
            "Paying %s at %s for the first time from this machine: this payee is not in "
            "allowed_payees (any payee the server names is accepted). To accept only it, pin "
            "it: GigaClient(allowed_payees=[%r]) or 'Allowed payees' on the GigaCredentials "
            "block.",
            client.base_url,
            quote.pay_to,
            quote.pay_to,
        )
        return
    raise QuoteRefusedError(
        f"Refusing to pay: {client.base_url} asks to be paid at {quote.pay_to}, but it was paid "
        f"at {pinned} before (payee pinning); nothing was signed. If the change is genuine, "
        "list the new address in allowed_payees.",
        reason="payee_changed",
        quote=quote.amount,
    )
