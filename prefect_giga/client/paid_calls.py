"""What `GigaClient`'s paid calls share (the body, the tier), and `resume` (experimental).

A paid call's inputs are checked before anything is sent; then its tier is resolved against
what the server publishes (see `tiers`). ``resume`` pays to resume a completed or failed run:
Giga lists a paid ``POST /api/resume`` but does not publish its body; this sends
``{runId, prompt, tier, files?}`` and relies on the router's habit of quoting a body it does
not accept at its highest tier to refuse a wrong guess before anything is signed. It is
unverified against the live service. See `prefect_giga.payments.paid_resume`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from ..core.exceptions import GigaConfigError
from ..core.models import StartedRun
from ..payments.host import PaymentHost
from ..payments.paid_resume import PaidResume
from ..payments.signing import PaymentPolicy
from .files import AttachmentInput, encode_attachments
from .tiers import TierBook

__all__ = ["PaidCalls"]


class PaidCalls:
    """`GigaClient`'s paid-call helpers and its experimental ``resume``.

    Example:
        ```python
        resumed = await giga.resume(run_id, "Now add tests for it")
        ```
    """

    tier_book: TierBook
    policy: PaymentPolicy
    default_tier: str | None
    max_request_bytes: int

    def _paid_body(
        self, prompt: str, files: Sequence[AttachmentInput] | None, **fields: str
    ) -> dict[str, Any]:
        """A paid call's body without its tier; bad input is refused before any request."""
        for name, value in {**fields, "prompt": prompt}.items():
            if not isinstance(value, str) or not value.strip():
                shown = "The prompt" if name == "prompt" else name
                raise GigaConfigError(f"{shown} must be a non-empty string")
        body: dict[str, Any] = {**fields, "prompt": prompt}
        encoded = encode_attachments(files, prompt=prompt, max_request_bytes=self.max_request_bytes)
        if encoded:
            body["files"] = encoded
        return body

    async def _resolve_tier(self, tier: str | None) -> str:
        """The tier to send (asked for, else ``default_tier``, else the server's default),
        checked against the server's tiers and ``max_price_per_run``."""
        chosen, server = await self.tier_book.resolve(tier, self.default_tier)
        if server is not None:
            self.policy = self.policy.with_published(server.tiers)
        self.policy.expected_price(chosen)
        return chosen

    async def resume(
        self,
        run_id: str,
        prompt: str,
        *,
        tier: str | None = None,
        files: Sequence[AttachmentInput] | None = None,
        idempotency_key: str | None = None,
    ) -> StartedRun:
        """Pay for and resume a completed or failed run with a new prompt (experimental).

        Paid and money-safe like `GigaClient.start`: the tier is resolved and checked the
        same way, the quote must equal the tier's price and stay within
        ``max_price_per_run``, the journal records it, and the EIP-3009 nonce derives from
        ``idempotency_key`` (kept apart from start keys), so one key pays at most once. A
        resume whose reply is lost stays an unknown outcome: a resumed run may keep its id,
        so the run list cannot identify it.

        Args:
            run_id: The run to resume.
            prompt: What the agent should do next.
            tier: The tier key; default ``default_tier``, or the server's default tier.
            files: Attachments, as for `GigaClient.start`.
            idempotency_key: Identifies the logical resume across retries and processes.

        Returns:
            The run id the server answered (possibly the same run), and the receipt.

        Raises:
            ResumeBodyRefusedError: The quote shows the server takes another resume body.
            TierNotOfferedError: The server does not offer the tier; nothing signed.
            QuoteRefusedError: The quote breaks a limit; nothing signed.
            OutcomeUnknownError: The paid request lost its reply.

        Example:
            ```python
            resumed = await giga.resume(run_id, "Also write a README", idempotency_key="r-1")
            ```
        """
        body = self._paid_body(prompt, files, runId=run_id)
        body["tier"] = await self._resolve_tier(tier)
        known = self.tier_book.known
        prices = dict(known.tiers) if known is not None else {}
        key = idempotency_key or uuid.uuid4().hex
        host = cast(PaymentHost, self)
        return await PaidResume(host, key, body, body["tier"], prices).run()
