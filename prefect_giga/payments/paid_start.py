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
import contextlib
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from ..core.exceptions import (
    GigaError,
    GigaProtocolError,
    GigaTransportError,
    InsufficientFundsError,
    OutcomeUnknownError,
    PaymentRejectedError,
    QuoteRefusedError,
    SettlementFailedError,
)
from ..core.http import parse_json
from ..core.models import PaymentReceipt, Quote, RunStatus, StartedRun
from ..core.money import format_usd
from .host import PaymentHost, ReconcilePolicy
from .journal import JournalEntry, StartRef
from .lane import paid_lane
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

__all__ = ["PaidStart", "ReconcilePolicy"]


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

    def __init__(self, client: PaymentHost, key: str, body: dict[str, Any], tier: str) -> None:
        self.client = client
        self.key = key
        self.body = body
        self.tier = tier
        self.journal = client.journal
        self.ref = StartRef(client.address, client.base_url, key)
        self.quote_key = tier  # which remembered quotes this call may reuse

    async def run(self) -> StartedRun:
        """Start (or re-attach to) the run for this key."""
        recorded = self.journal.get(self.ref)
        if recorded is not None and recorded.run_id is not None:
            return self._reattached(recorded)
        client = self.client
        probed = await client.quotes.offer(self.quote_key, lambda: client.retry.call(self.probe))
        if isinstance(probed, StartedRun):
            return probed
        offer = probed
        payment = await self._authorize(offer)
        async with paid_lane(client.address, client.base_url):
            sent_at = self.journal.mark_sent(self.ref, valid_before=payment.valid_before)
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
                self.journal.mark_sent(self.ref, valid_before=payment.valid_before)
                reply = await self._send(payment)
            return await self._settle(reply, payment, sent_at)

    async def _authorize(self, offer: Offer) -> SignedPayment:
        """Check the payee and the budgets, record the start, and sign (same nonce always)."""
        client = self.client
        quote = offer.quote
        self._check_payee(quote)
        if client.before_payment is not None:
            await client.before_payment(quote)
        nonce = client.wallet.payment_nonce(self.key)
        self.journal.reserve(
            self.ref,
            network=quote.network,
            nonce=nonce,
            tier=quote.tier,
            amount=quote.amount,
            pay_to=quote.pay_to,
            daily_limit=client.max_spend_per_day,
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

    def _check_payee(self, quote: Quote) -> None:
        client = self.client
        if not client.pin_payee or client.policy.allowed_payees is not None:
            return
        pinned = self.journal.pinned_payee(client.base_url, quote.network)
        if pinned is not None and pinned != quote.pay_to.lower():
            raise QuoteRefusedError(
                f"Refusing to pay: {client.base_url} asks to be paid at {quote.pay_to}, but it "
                f"was paid at {pinned} before (payee pinning); nothing was signed. If the change "
                "is genuine, list the new address in allowed_payees.",
                reason="payee_changed",
                quote=quote.amount,
            )

    # --- the paid request ------------------------------------------------------------------

    async def _send(self, payment: SignedPayment) -> Reply:
        try:
            response = await self.client.exchange.send(
                "POST",
                self.PATH,
                f"{self.ACTION} (paid)",
                json=self.body,
                headers={PAYMENT_SIGNATURE: payment.header},
            )
        except (GigaTransportError, GigaProtocolError) as exc:
            return Reply(ReplyKind.UNKNOWN, why=str(exc))
        return classify(response)

    async def _settle(self, reply: Reply, payment: SignedPayment, sent_at: float) -> StartedRun:
        if reply.kind is ReplyKind.UNKNOWN:
            return await self._reconcile(reply, payment, sent_at)
        response = reply.response
        if reply.kind is ReplyKind.STARTED and response is not None:
            return await self._accept(response, payment, sent_at)
        if reply.kind is ReplyKind.NONCE_USED:
            return await self._claim(payment, sent_at, "an earlier attempt was paid")
        if reply.kind is ReplyKind.REDIRECTED:
            raise GigaProtocolError(
                f"{self.ACTION} (paid): the server answered with a redirect ({reply.why}); it "
                "was not followed, so the payment went nowhere else. Its outcome at this server is "
                "unknown, so the journal keeps counting it as spent."
            )
        self.journal.mark_not_charged(self.ref)  # counted until the authorization expires
        raise self._refusal(reply, payment)

    async def _reconcile(self, reply: Reply, payment: SignedPayment, sent_at: float) -> StartedRun:
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
            return await self._accept(reply.response, payment, sent_at)
        if reply.kind is ReplyKind.NONCE_USED:
            return await self._claim(payment, sent_at, "an earlier attempt was paid")
        conclusive = reply.kind in (
            ReplyKind.NOT_SETTLED,
            ReplyKind.REJECTED,
            ReplyKind.BAD_REQUEST,
        )
        fallback = self._refusal(reply, payment) if conclusive else None
        return await self._claim(payment, sent_at, reply.why or "the reply was lost", fallback)

    async def _accept(
        self, response: httpx.Response, payment: SignedPayment, sent_at: float
    ) -> StartedRun:
        try:
            started = self._started(response, payment, f"{self.ACTION} (paid)")
        except GigaProtocolError as exc:
            return await self._claim(payment, sent_at, f"paid, but {exc}")
        self._record(started)
        return started

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
        self,
        payment: SignedPayment,
        sent_at: float,
        why: str,
        none_found: GigaError | None = None,
    ) -> StartedRun:
        """Claim the single run that can only be this start's, or say the outcome is unknown.

        With ``none_found``, no candidate at all means the server's refusal stands: that
        error is raised (the start stays counted until its authorization expires).
        """
        client = self.client
        since = datetime.fromtimestamp(sent_at, timezone.utc) - timedelta(
            seconds=client.reconcile.claim_window
        )
        known = self.journal.known_run_ids(client.address)
        candidates: list[str] = []
        with contextlib.suppress(GigaError):
            async for run in client.iter_runs():
                if run.created_at < since:
                    if run.updated_at < since:
                        break
                    continue
                if run.id not in known:
                    candidates.append(run.id)
        others = [
            e
            for e in self.journal.in_flight(client.address, exclude=self.ref)
            if e.server == client.base_url and (e.sent_at or 0) >= since.timestamp()
        ]
        if len(candidates) == 1 and not others:
            started = StartedRun(
                run_id=candidates[0],
                status=RunStatus.RUNNING,
                idempotency_key=self.key,
                reconciled=True,
                receipt=payment.receipt(""),
            )
            self.journal.mark_started(self.ref, started.run_id, transaction=None)
            return started
        if none_found is not None and not candidates and not others:
            self.journal.mark_not_charged(self.ref)
            raise none_found
        raise OutcomeUnknownError(
            f"The paid start's outcome is unknown ({why}) and its run cannot be identified "
            f"for certain ({len(candidates)} candidate run(s), {len(others)} other start(s) of "
            f"this wallet in flight). Look up EIP-3009 nonce {payment.nonce} of "
            f"{payment.payer} on {client.network.name}: a transferWithAuthorization with it "
            "means it was paid. Retrying with the same idempotency key can never pay twice.",
            idempotency_key=self.key,
            payment_nonce=payment.nonce,
            payer=payment.payer,
            network=client.network.caip2,
            candidate_run_ids=tuple(candidates),
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
