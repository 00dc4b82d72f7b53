"""Claiming the run of a paid start whose reply was lost, only when it can be no other's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ..core.exceptions import GigaError, OutcomeUnknownError
from ..core.models import RunStatus, StartedRun
from .host import PaymentHost
from .lane import PaidLane
from .signing import SignedPayment

__all__ = ["claim_run", "outcome_unknown"]


async def claim_run(
    client: PaymentHost,
    lane: PaidLane,
    payment: SignedPayment,
    *,
    sent_at: float,
    why: str,
    none_found: GigaError | None = None,
) -> StartedRun:
    """Claim the single run that can only be this start's, or say the outcome is unknown.

    The rule: the wallet's other paid requests to the server are waited for until they land
    (the gate stays closed meanwhile), then a run is claimed only when every other start of
    the wallet there has a recorded run or was provably not charged, whatever its send time,
    and exactly one unassigned run appeared since this start's payment left. With
    ``none_found``, no candidate at all means the server's refusal stands: that error is
    raised. A claim that cannot list the runs says the outcome is unknown, never "not
    charged". With `ReconcilePolicy.list_claims` off, nothing is listed or claimed: the
    outcome is unknown.

    Example:
        ```python
        started = await claim_run(client, lane, payment, sent_at=sent_at, why="reply lost")
        ```
    """
    journal = client.journal
    ref = lane.ref
    if not client.reconcile.list_claims:
        raise outcome_unknown(
            client,
            ref.key,
            payment,
            f"{why}; claims from /api/list are switched off (ReconcilePolicy.list_claims), so "
            "its run is not looked for",
            (),
        )
    await lane.others_landed()
    since = datetime.fromtimestamp(sent_at, timezone.utc) - timedelta(
        seconds=client.reconcile.claim_window
    )
    listed: list[str] = []
    try:
        async for run in client.iter_runs():
            if run.created_at < since:
                if run.updated_at < since:
                    break
                continue
            listed.append(run.id)
    except GigaError as exc:
        raise outcome_unknown(
            client, ref.key, payment, f"{why}; the runs could not be listed to check ({exc})", ()
        ) from exc
    # Read the journal after listing: a run another start recorded meanwhile is known.
    known = journal.known_run_ids(client.address)
    candidates = [run_id for run_id in listed if run_id not in known]
    others = journal.unresolved(client.address, client.base_url, exclude=ref)
    if len(candidates) == 1 and not others:
        # Checked again and written in one journal transaction: a process sharing the
        # journal may have recorded the run, or sent another start, since the reads above.
        refused = journal.assign_sent_run(ref, candidates[0], alone=True)
        if refused is None:
            return StartedRun(
                run_id=candidates[0],
                status=RunStatus.RUNNING,
                idempotency_key=ref.key,
                reconciled=True,
                receipt=payment.receipt(""),
            )
        raise outcome_unknown(
            client,
            ref.key,
            payment,
            f"{why}; the one candidate run was not claimed ({refused})",
            tuple(candidates),
        )
    if none_found is not None and not candidates and not others:
        journal.mark_not_charged(ref)
        raise none_found
    raise outcome_unknown(
        client,
        ref.key,
        payment,
        f"{why}; its run cannot be identified for certain ({len(candidates)} candidate "
        f"run(s), {len(others)} other start(s) of this wallet without a known run)",
        tuple(candidates),
    )


def outcome_unknown(
    client: PaymentHost,
    key: str,
    payment: SignedPayment,
    why: str,
    candidates: tuple[str, ...],
) -> OutcomeUnknownError:
    """The `OutcomeUnknownError` of a start: why, the nonce to look up, and the candidates.

    Example:
        ```python
        raise outcome_unknown(client, "job-1", payment, "the reply was lost", ())
        ```
    """
    network = client.network
    return OutcomeUnknownError(
        f"The paid start's outcome is unknown ({why}). Look up EIP-3009 nonce "
        f"{payment.nonce} of {payment.payer} on {network.name}: a transferWithAuthorization "
        "with it means it was paid. Retrying with the same idempotency key can never pay twice.",
        idempotency_key=key,
        payment_nonce=payment.nonce,
        payer=payment.payer,
        network=network.caip2,
        candidate_run_ids=candidates,
    )
