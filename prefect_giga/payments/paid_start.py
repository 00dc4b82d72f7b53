"""One logical paid start, exactly once: journal, check, sign, send, and reconcile.

Every payment signed for a start uses the EIP-3009 nonce derived from its idempotency key,
so the USDC contract settles at most one of them whatever the server does. What is left to
get right is *finding the run* when a reply is lost; this module does that:

1. A start the journal already tied to a run is returned without any request.
2. When the paid request's reply is lost (connection dropped, timeout, 5xx), the *same*
   signed payment is sent again: ``200`` gives the run; ``nonce already used`` proves an
   earlier attempt was paid; ``500 Settlement failed`` means that attempt was not charged.
3. A paid-but-unseen run is claimed from ``/api/list`` only when the claim is unambiguous:
   exactly one run of this wallet appeared since the payment left, no other start of the
   wallet is in flight in the journal, and the run is not already another start's.
   Otherwise `OutcomeUnknownError` says so, with the nonce and the candidates.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from ..core.exceptions import (
    GigaError,
    GigaProtocolError,
    GigaTransportError,
    InsufficientFundsError,
    PaymentRejectedError,
    RequestNotSentError,
    SettlementFailedError,
)
from ..core.http import parse_json
from ..core.ids import is_valid_run_id
from ..core.models import PaymentReceipt, RunStatus, StartedRun
from ..core.money import format_usd
from .claim import claim_run
from .host import PaymentHost, ReconcilePolicy
from .journal import JournalEntry, ScopeLimit, StartRef, StartState
from .lane import PaidLane, in_flight_slot
from .lease import start_lease
from .quotes import Offer
from .replies import (
    PAYMENT_REQUIRED,
    PAYMENT_RESPONSE,
    PAYMENT_SIGNATURE,
    Reply,
    ReplyKind,
    classify,
    is_funds,
    rejection_data,
)
from .signing import SignedPayment, decode_b64_json, decode_receipt, sign_payment
from .start_guards import (
    check_key_use,
    check_payee,
    refuse_claim_if_used_elsewhere,
    refuse_key_used_elsewhere,
)

__all__ = ["PaidStart", "ReconcilePolicy"]


class _UnusableRunIdError(GigaProtocolError):
    """A reply names its run with an id that fails `check_run_id`."""


class PaidStart:
    """Drives one logical start for `GigaClient.start` (see the module docstring).

    ``PATH`` and ``ACTION`` name the paid endpoint; `PaidResume` drives ``/api/resume``.

    Example:
        ```python
        body = {"prompt": "Summarise the CSV", "tier": "$1.00"}
        started = await PaidStart(giga_client, "job-1", body, "$1.00").run()
        ```
    """

    PATH = "/api/start"
    ACTION = "start"

    def __init__(
        self,
        client: PaymentHost,
        key: str,
        body: dict[str, Any],
        tier: str,
        *,
        fingerprint: str | None = None,
        scope_limit: ScopeLimit | None = None,
    ) -> None:
        self.client = client
        self.scope_limit = scope_limit
        self.key = key
        self.body = body
        self.tier = tier
        self.fingerprint = fingerprint
        self.journal = client.journal
        self.ref = StartRef(client.address, client.base_url, key)
        self.quote_key = tier  # which remembered quotes this call may reuse
        self.sent_at = 0.0  # when the first paid request that was written left
        timeout = client.exchange.timeout
        self.lane = PaidLane(self.journal, self.ref, lease=max(60.0, 3 * timeout))

    async def run(self) -> StartedRun:
        """Start (or re-attach to) the run for this key.

        The key must name the request it was first used for, at this server only; while
        another process drives the same start, this one waits for its lease, then
        re-attaches to the run it started.
        """
        check_key_use(self.journal, self.ref, self.fingerprint)
        recorded = self.journal.get(self.ref)
        if recorded is not None and recorded.run_id is not None:
            return self._reattached(recorded)
        # Quote, sign and send in one turn: a payment signed long before its request can
        # leave (thousands of starts queued for the pool) could expire while it waits. The
        # turn comes before the lease, so queued starts hold no lease (nor renew one).
        async with (
            self.client.exchange.paid_turns,
            start_lease(self.journal, self.client.address, self.key),
        ):
            recorded = self.journal.get(self.ref)
            if recorded is not None and recorded.run_id is not None:
                return self._reattached(recorded)
            refuse_key_used_elsewhere(self.journal, self.ref)  # the lease spans every server
            if recorded is not None and recorded.state is StartState.UNUSABLE:
                raise self._unusable(recorded.nonce, recorded.payer)
            return await self._run_leased()

    async def _run_leased(self) -> StartedRun:
        client = self.client
        probed = await client.quotes.offer(self.quote_key, lambda: client.retry.call(self.probe))
        if isinstance(probed, StartedRun):
            return probed
        offer = probed
        payment = await self._authorize(offer)
        async with in_flight_slot(client.address, client.base_url, client.reconcile.paid_in_flight):
            return await self._pay(offer, payment)

    async def _pay(self, offer: Offer, payment: SignedPayment) -> StartedRun:
        client = self.client
        try:
            reply = await self._send(payment)
            if reply.kind is ReplyKind.REJECTED and offer.from_cache and not is_funds(reply):
                # The remembered quote went stale: ask again and pay what is quoted now,
                # signed with the same nonce, so at most one of the two can ever settle.
                client.quotes.forget(self.quote_key)
                self.journal.mark_not_charged(self.ref)
                probed = await client.retry.call(self.probe)
                if isinstance(probed, StartedRun):
                    return probed
                payment = await self._authorize(probed)
                reply = await self._send(payment)
            return await self._settle(reply, payment)
        finally:
            self.lane.ended()  # in flight no more, reconciled or not: the gate opens

    async def _authorize(self, offer: Offer) -> SignedPayment:
        """Check the payee and the budgets, record the start, and sign (same nonce always).

        A start the journal already recorded is signed with its recorded nonce, whatever the
        wallet would derive today.
        """
        client = self.client
        quote = offer.quote
        check_payee(client, quote)
        if client.before_payment is not None:
            await client.before_payment(quote)
        recorded = self.journal.get(self.ref)
        nonce = recorded.nonce if recorded is not None else client.wallet.payment_nonce(self.key)
        secret = client.wallet.nonce_secret_fingerprint
        if recorded is None and secret is not None:
            self.journal.check_nonce_secret(client.address, secret)
        self.journal.reserve(
            self.ref,
            network=quote.network,
            nonce=nonce,
            tier=quote.tier,
            amount=quote.amount,
            pay_to=quote.pay_to,
            daily_limit=client.max_spend_per_day,
            fingerprint=self.fingerprint,
            scope_limit=self.scope_limit,
        )
        return await sign_payment(
            client.wallet,
            offer.challenge,
            offer.accepted,
            quote,
            nonce=nonce,
            idempotency_key=self.key,
        )

    # --- the 402 probe ---------------------------------------------------------------------

    async def probe(self) -> StartedRun | Offer:
        """Send the request unpaid: the 402 quote, checked by the policy (nothing signed)."""
        what = f"{self.ACTION} (quote)"
        client = self.client
        response = await client.exchange.send("POST", self.PATH, what, json=self.body)
        if response.status_code == 402:
            header = response.headers.get(PAYMENT_REQUIRED)
            if not header:
                raise GigaProtocolError(
                    f"{what}: the 402 reply has no PAYMENT-REQUIRED header; nothing was signed"
                )
            challenge = decode_b64_json(header, PAYMENT_REQUIRED)
            quote, accepted = client.policy.choose(challenge, self.tier)
            offer = Offer(quote=quote, challenge=challenge, accepted=accepted)
            client.quotes.remember(self.quote_key, offer)
            return offer
        client.exchange.check(response, what)
        return self._started(response, None, what)

    # --- the paid request ------------------------------------------------------------------

    async def _send(self, payment: SignedPayment) -> Reply:
        """Send the paid request; one that failed before any byte was written is sent again
        (the same signed payment) as the retry policy allows, and is ``NOT_SENT`` at the end.
        """

        async def attempt() -> Reply:
            self.sent_at, written_before = await self.lane.admit(payment.valid_before)
            try:
                response = await self.client.exchange.send(
                    "POST",
                    self.PATH,
                    f"{self.ACTION} (paid)",
                    json=self.body,
                    headers={PAYMENT_SIGNATURE: payment.header},
                )
            except RequestNotSentError:
                if not written_before:  # the server never saw this start at all
                    self.journal.mark_unsent(self.ref)
                self.lane.landed()
                raise
            except (GigaTransportError, GigaProtocolError) as exc:
                self.lane.lost()
                return Reply(ReplyKind.UNKNOWN, why=str(exc))
            reply = classify(response)
            if reply.kind is ReplyKind.UNKNOWN:
                self.lane.lost()
            else:
                self.lane.landed()
            return reply

        try:
            return await self.client.retry.call(attempt)
        except RequestNotSentError as exc:
            return Reply(ReplyKind.NOT_SENT, why=str(exc))

    async def _settle(self, reply: Reply, payment: SignedPayment) -> StartedRun:
        if reply.kind is ReplyKind.NOT_SENT:
            recorded = self.journal.get(self.ref)
            if recorded is not None and recorded.state is StartState.RESERVED:
                raise RequestNotSentError(
                    f"{reply.why}. The paid start was never sent, so nothing was charged; "
                    "retrying with the same idempotency key is safe (the same signed payment "
                    "is used)."
                )
            reply = Reply(ReplyKind.UNKNOWN, why=reply.why)  # an earlier attempt was sent
        if reply.kind is ReplyKind.UNKNOWN:
            return await self._reconcile(reply, payment)
        response = reply.response
        if reply.kind is ReplyKind.STARTED and response is not None:
            return await self._accept(response, payment)
        if reply.kind is ReplyKind.NONCE_USED:
            refuse_claim_if_used_elsewhere(self.client, self.ref, payment.nonce)
            return await self._claim(payment, "an earlier attempt was paid")
        if reply.kind is ReplyKind.REDIRECTED:
            raise GigaProtocolError(
                f"{self.ACTION} (paid): the server answered with a redirect ({reply.why}); it "
                "was not followed, so the payment went nowhere else. Its outcome at this server is "
                "unknown, so the journal keeps counting it as spent."
            )
        self.journal.mark_not_charged(self.ref)  # counted until the authorization expires
        raise self._refusal(reply, payment)

    async def _reconcile(self, reply: Reply, payment: SignedPayment) -> StartedRun:
        """The reply was lost: re-send the same payment, then claim the run if need be.

        After a lost reply, a refused or unsettled re-send proves nothing about the first
        attempt (the server may still have been running it and settled it first), so the
        run is looked for in ``/api/list`` before the re-send's answer is believed.
        """
        policy = self.client.reconcile
        delay = policy.backoff
        for _ in range(policy.resends):
            if payment.valid_before - time.time() < 15:
                break
            await asyncio.sleep(delay)
            delay *= 2
            reply = await self._send(payment)
            if reply.kind in (ReplyKind.STARTED, ReplyKind.NONCE_USED):
                break
        if reply.kind is ReplyKind.STARTED and reply.response is not None:
            return await self._accept(reply.response, payment)
        if reply.kind is ReplyKind.NONCE_USED:
            refuse_claim_if_used_elsewhere(self.client, self.ref, payment.nonce)
            return await self._claim(payment, "an earlier attempt was paid")
        conclusive = reply.kind in (
            ReplyKind.NOT_SETTLED,
            ReplyKind.REJECTED,
            ReplyKind.BAD_REQUEST,
        )
        fallback = self._refusal(reply, payment) if conclusive else None
        return await self._claim(payment, reply.why or "the reply was lost", fallback)

    async def _accept(self, response: httpx.Response, payment: SignedPayment) -> StartedRun:
        try:
            started = self._started(response, payment, f"{self.ACTION} (paid)")
        except _UnusableRunIdError:
            self.journal.mark_unusable(self.ref)
            raise self._unusable(payment.nonce, payment.payer) from None
        except GigaProtocolError as exc:
            return await self._claim(payment, f"paid, but {exc}")
        self._record(started)
        return started

    def _unusable(self, nonce: str, payer: str) -> GigaProtocolError:
        return GigaProtocolError(
            f"{self.ACTION} (paid): the server took the payment for idempotency key {self.key!r} "
            f"(EIP-3009 nonce {nonce} of {payer}) but named its run with an id that is not a "
            "valid run id. The start is recorded as paid with an unusable run and will never be "
            "paid again; ask the server's operator about the run, or start again with a new "
            "idempotency key (which pays again)."
        )

    def _refusal(self, reply: Reply, payment: SignedPayment) -> GigaError:
        response = reply.response
        if reply.kind is ReplyKind.NOT_SETTLED or response is None:
            return SettlementFailedError(
                f"The server could not settle the {format_usd(payment.quote.amount)} payment "
                "(HTTP 500 'Settlement failed'); it was not charged"
            )
        if reply.kind is ReplyKind.BAD_REQUEST:
            try:
                self.client.exchange.check(response, f"{self.ACTION} (paid)")
            except GigaError as exc:
                return exc
        return self._rejection(response, payment)

    async def _claim(
        self, payment: SignedPayment, why: str, none_found: GigaError | None = None
    ) -> StartedRun:
        return await claim_run(
            self.client, self.lane, payment, sent_at=self.sent_at, why=why, none_found=none_found
        )

    # --- results ---------------------------------------------------------------------------

    def _record(self, started: StartedRun) -> None:
        receipt = started.receipt
        self.journal.mark_started(
            self.ref,
            started.run_id,
            transaction=receipt.transaction if receipt else None,
            run_status=started.status.value,
            paid_to=(receipt.network, receipt.pay_to) if receipt else None,
        )

    def _started(
        self,
        response: httpx.Response,
        payment: SignedPayment | None,
        what: str,
    ) -> StartedRun:
        data = parse_json(response, what)
        run_id = data.get("runId")
        if not isinstance(run_id, str) or not run_id:
            raise GigaProtocolError(f"{what}: the reply has no runId")
        if not is_valid_run_id(run_id):
            raise _UnusableRunIdError(f"{what}: the reply's run id is not a valid run id")
        try:
            status = RunStatus(data.get("status", "running"))
        except ValueError:
            raise GigaProtocolError(f"{what}: unknown run status {data.get('status')!r}") from None
        receipt = None
        if payment is not None:
            try:
                receipt = decode_receipt(response.headers.get(PAYMENT_RESPONSE), payment)
            except GigaProtocolError:  # the run is ours and paid; only the receipt is garbled
                receipt = payment.receipt("")
        return StartedRun(run_id=run_id, status=status, receipt=receipt, idempotency_key=self.key)

    def _reattached(self, entry: JournalEntry) -> StartedRun:
        assert entry.run_id is not None
        receipt = PaymentReceipt(
            tier=entry.tier,
            amount=entry.amount,
            amount_atomic=entry.amount_atomic,
            asset=self.client.network.usdc_address,
            network=entry.network,
            payer=entry.payer,
            pay_to=entry.pay_to,
            transaction=entry.transaction or "",
            payment_nonce=entry.nonce,
        )
        status = RunStatus(entry.run_status) if entry.run_status else RunStatus.RUNNING
        return StartedRun(
            run_id=entry.run_id,
            status=status,
            receipt=receipt,
            idempotency_key=self.key,
            reattached=True,
        )

    def _rejection(self, response: httpx.Response, payment: SignedPayment) -> GigaError:
        data = rejection_data(response)
        reason = str(data.get("reason") or data.get("error") or "payment_rejected")
        network = self.client.network
        if "insufficient" in reason.lower():
            return InsufficientFundsError(
                f"The wallet {payment.payer} holds too little USDC on {network.name} "
                f"({network.caip2}) to pay {format_usd(payment.quote.amount)}: fund that "
                "address with USDC on that network and try again",
                reason=reason,
            )
        return PaymentRejectedError(
            f"The server rejected the {format_usd(payment.quote.amount)} payment ({reason}); "
            "it was not charged",
            reason=reason,
        )
