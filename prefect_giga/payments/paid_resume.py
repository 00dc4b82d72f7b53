"""One logical paid resume (experimental): `PaidStart`'s money safety on ``POST /api/resume``.

Giga lists a paid ``/api/resume`` ("resume a completed or failed run") but does not publish its
body, so the client sends the shape its start body and the router's conventions suggest:
``{runId, prompt, tier?, files?}``. Two things differ from a start:

- The router quotes a body that fails its schema at the highest tier, so a quote at the
  highest tier for a cheaper tier means "this server's resume takes another body": the
  client refuses before signing. When the tier asked for *is* the highest, the body is first
  probed (unpaid) at the cheapest tier, for the same answer.
- A resumed run may keep its id, so a run that appears in ``/api/list`` proves nothing about
  which call it came from: a resume whose reply is lost is never claimed from the list and
  stays an unknown outcome (`OutcomeUnknownError`). Retrying with the same idempotency key
  signs with the same EIP-3009 nonce, so it can never pay twice.

Its idempotency keys live in their own namespace (see `keys`), apart from starts'.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..core.exceptions import GigaError, OutcomeUnknownError, QuoteRefusedError
from ..core.models import StartedRun
from ..core.money import format_usd
from .host import PaymentHost
from .keys import resume_key
from .paid_start import PaidStart
from .quotes import Offer
from .signing import SignedPayment

__all__ = ["PaidResume", "ResumeBodyRefusedError"]


class ResumeBodyRefusedError(QuoteRefusedError):
    """The server's resume quote shows it did not accept the body; nothing was signed.

    Example:
        >>> ResumeBodyRefusedError("refused", reason="resume_body_refused").reason
        'resume_body_refused'
    """


class PaidResume(PaidStart):
    """Drives one logical resume for `GigaClient.resume` (see the module docstring).

    Args:
        client: The client it works for.
        key: The resume's idempotency key (stored under the resume namespace).
        body: ``{runId, prompt, tier, files?}``.
        tier: The tier sent.
        prices: The server's published tier prices (empty when it publishes none).

    Example:
        ```python
        body = {"runId": run_id, "prompt": "Fix the failing test", "tier": "$1.00"}
        resumed = await PaidResume(giga_client, "fix-1", body, "$1.00", tiers.tiers).run()
        ```
    """

    PATH = "/api/resume"
    ACTION = "resume"

    def __init__(
        self,
        client: PaymentHost,
        key: str,
        body: dict[str, Any],
        tier: str,
        prices: dict[str, Decimal],
    ) -> None:
        super().__init__(client, resume_key(key), body, tier)
        self.user_key = key
        self.prices = prices
        self.quote_key = f"{self.ACTION} {tier}"

    async def run(self) -> StartedRun:
        """Resume (or re-attach to) the run for this key; the result carries the caller's key."""
        resumed = await super().run()
        return resumed.model_copy(update={"idempotency_key": self.user_key})

    async def probe(self) -> StartedRun | Offer:
        """The unpaid 402 quote, refused when it shows the body was not accepted."""
        await self._check_body_at_highest_tier()
        try:
            return await super().probe()
        except QuoteRefusedError as exc:
            if exc.reason == "price_mismatch" and exc.quote == self._highest():
                raise self._body_refused(exc.quote) from None
            raise

    def _highest(self) -> Decimal | None:
        return max(self.prices.values()) if self.prices else None

    async def _check_body_at_highest_tier(self) -> None:
        """At the highest tier a refused body looks like an accepted one: ask at the cheapest."""
        highest = self._highest()
        if highest is None or self.prices.get(self.tier) != highest:
            return
        cheapest = min(self.prices, key=lambda key: self.prices[key])
        if self.prices[cheapest] == highest:
            return
        body = {**self.body, "tier": cheapest}
        check = PaidResume(self.client, self.user_key, body, cheapest, {})
        check.quote_key = f"{self.ACTION} body check"
        try:
            await PaidStart.probe(check)
        except QuoteRefusedError as exc:
            if exc.reason == "price_mismatch" and exc.quote == highest:
                raise self._body_refused(highest) from None
            raise
        finally:
            self.client.quotes.forget(check.quote_key)

    def _body_refused(self, quoted: Decimal | None) -> ResumeBodyRefusedError:
        shown = format_usd(quoted) if quoted is not None else "its highest price"
        return ResumeBodyRefusedError(
            f"Refusing to pay: {self.client.base_url} quoted the resume at {shown}, its highest "
            "tier, which is what a router quotes for a body it does not accept. This server's "
            "resume takes another body than {runId, prompt, tier, files} (resume is "
            "experimental and unverified against the live service). Nothing was signed.",
            reason="resume_body_refused",
            quote=quoted,
        )

    async def _claim(
        self, payment: SignedPayment, why: str, none_found: GigaError | None = None
    ) -> StartedRun:
        """Never claim a resume from ``/api/list``: a resumed run may keep its id."""
        raise OutcomeUnknownError(
            f"The paid resume of run {self.body.get('runId')}'s outcome is unknown ({why}). A "
            "resumed run may keep its id, so the run list cannot tell whether this payment "
            f"resumed it. Look up EIP-3009 nonce {payment.nonce} of {payment.payer} on "
            f"{self.client.network.name}: a transferWithAuthorization with it means it was "
            "paid. Retrying with the same idempotency key can never pay twice.",
            idempotency_key=self.user_key,
            payment_nonce=payment.nonce,
            payer=payment.payer,
            network=self.client.network.caip2,
            candidate_run_ids=(str(self.body.get("runId")),),
        )
