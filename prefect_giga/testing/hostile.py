"""Hostile server tricks: tampered quotes, stash-and-refuse with double settling, and more.

`Faults` models a *broken* server; `Hostile` models a *malicious* one that tries to get paid
more than once, paid elsewhere, or to write outside the client's download folder. The two
older hostile knobs (``Faults.quote_multiplier``, ``Faults.payee_override``) stay in `Faults`.

The stash-and-refuse trick: the server verifies a paid request, keeps the signed
authorization and answers 402 ``requirements_mismatch`` with a fresh challenge, as if
nothing had been paid. When that payer's next paid start settles, the server also tries to
settle every authorization it kept, through the real facilitator and in-memory chain. Only
authorizations with an unused EIP-3009 nonce can settle; the counters say what happened.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from prefect_giga.testing.payments import VerifiedPayment

__all__ = ["Hostile", "StashOutcome"]


@dataclass(frozen=True)
class StashOutcome:
    """One attempt to settle a stashed authorization.

    Attributes:
        payer: The checksummed payer.
        nonce: The authorization's EIP-3009 nonce.
        settled: Whether the chain accepted it (a second charge, if its nonce paid before).
        reason: The facilitator's reason when it did not settle.
    """

    payer: str
    nonce: str
    settled: bool
    reason: str


class Hostile:
    """A malicious server's knobs and what its tricks achieved. Thread-safe.

    Attributes:
        quote_overrides: Fields replacing those of every quote's ``accepts`` entry (and of
            the requirement payments are verified against): ``network``, ``asset``,
            ``extra``, ``maxTimeoutSeconds``, ``scheme``...
        stash_refusals: Verified paid requests left to stash and refuse with 402.
        proof_redirects: Endpoint to URL: answer 307 there, but only to requests carrying a
            payment or a SIWX proof (the unpaid probe and the challenge are answered normally),
            to lure credentials to another host.
        listed_files: Path to bytes: every finished run also lists these files (typically
            paths escaping the workspace: ``../x``, ``/etc/x``) and serves them.
        reply_run_id: Every ``/api/read`` reply and every run of ``/api/list`` carries this
            id instead of the real one (``../../x``, another run's id...).
        files_reply_run_id: Like ``reply_run_id``, but only for ``/api/read`` replies asked
            with ``includeFiles`` (the read a harvest makes; status reads stay honest).
        challenge_overrides: Fields replacing those of every SIWX challenge's ``info``
            (``statement`` with a line break, a short ``nonce``, an old ``issuedAt``...).
        file_link: Every ``/api/file-url`` reply carries this URL instead of the server's
            own link (another origin, plain http, a private address...).
        stashed: Authorizations kept so far (payer, nonce), oldest first.
        settle_attempts: Settlements of stashed authorizations tried.
        settled_stashed: Those the chain accepted.
        double_settles_rejected: Those the chain refused (nonce used, expired...).
        outcomes: Every attempt, oldest first.

    Example:
        >>> hostile = Hostile()
        >>> hostile.stash_and_refuse(1)
        >>> hostile.take_stash(), hostile.take_stash()
        (True, False)
        >>> hostile.quoted({"amount": "500000", "network": "eip155:8453"})["network"]
        'eip155:8453'
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Turn every trick off and forget the stash and the counters."""
        with self._lock:
            self.quote_overrides: dict[str, Any] = {}
            self.stash_refusals = 0
            self.proof_redirects: dict[str, str] = {}
            self.listed_files: dict[str, bytes] = {}
            self.reply_run_id: str | None = None
            self.file_link: str | None = None
            self.challenge_overrides: dict[str, Any] = {}
            self.files_reply_run_id: str | None = None
            self._stash: list[VerifiedPayment] = []
            self.stashed: list[tuple[str, str]] = []
            self.settle_attempts = 0
            self.settled_stashed = 0
            self.double_settles_rejected = 0
            self.outcomes: list[StashOutcome] = []

    # -- shorthands -------------------------------------------------------------------

    def stash_and_refuse(self, count: int = 1) -> None:
        """Keep the next ``count`` verified payments, refuse them, settle them later."""
        with self._lock:
            self.stash_refusals = count

    def redirect_proofs(self, endpoint: str, url: str) -> None:
        """Redirect ``endpoint``'s requests that carry a payment or a proof to ``url``."""
        self.proof_redirects[endpoint] = url

    # -- used by the app --------------------------------------------------------------

    def quoted(self, requirement: dict[str, Any]) -> dict[str, Any]:
        """The ``accepts`` entry to quote and verify against, with the overrides applied."""
        return {**requirement, **self.quote_overrides} if self.quote_overrides else requirement

    def redirect_for(self, endpoint: str, *, credentialed: bool) -> str | None:
        """Where to redirect a request to ``endpoint``, if anywhere."""
        if not credentialed:
            return None
        return self.proof_redirects.get(endpoint, self.proof_redirects.get("*"))

    def take_stash(self) -> bool:
        """Decide whether this verified payment is stashed and refused (consumes a count)."""
        with self._lock:
            if self.stash_refusals <= 0:
                return False
            self.stash_refusals -= 1
            return True

    def stash(self, payment: VerifiedPayment) -> None:
        """Keep a verified payment to settle later."""
        with self._lock:
            self._stash.append(payment)
            self.stashed.append((payment.payer, payment.nonce))

    def take_stashed(self, payer: str | None = None) -> list[VerifiedPayment]:
        """Remove and return the stashed payments of ``payer`` (of everyone when ``None``)."""
        with self._lock:
            mine: list[VerifiedPayment] = []
            kept: list[VerifiedPayment] = []
            for payment in self._stash:
                ours = payer is None or payment.payer.lower() == payer.lower()
                (mine if ours else kept).append(payment)
            self._stash = kept
            return mine

    def count(self, outcome: StashOutcome) -> None:
        """Count one settlement attempt of a stashed payment."""
        with self._lock:
            self.settle_attempts += 1
            if outcome.settled:
                self.settled_stashed += 1
            else:
                self.double_settles_rejected += 1
            self.outcomes.append(outcome)

    @property
    def pending(self) -> int:
        """Stashed payments not yet tried."""
        with self._lock:
            return len(self._stash)
