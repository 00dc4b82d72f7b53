"""``POST /api/start``: quote, verify, run, then settle (the router's order)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from decimal import ROUND_UP, Decimal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from prefect_giga.core.money import to_atomic
from prefect_giga.testing.agent import AgentContext, AgentResult
from prefect_giga.testing.bodies import BodyError, StartRequest, parse_start_body
from prefect_giga.testing.payments import (
    REQUIREMENTS_MISMATCH,
    PaymentRejected,
    VerifiedPayment,
    b64_json,
)
from prefect_giga.testing.responses import BodyTooLarge, json_error, read_limited
from prefect_giga.testing.runs import Run
from prefect_giga.testing.stash import settle_stashed

if TYPE_CHECKING:
    from prefect_giga.testing.state import EmulatorState

__all__ = ["create_run", "paid_endpoint", "start_endpoint"]

_MICRO = Decimal("0.000001")
_NO_STORE = {"Cache-Control": "no-store"}


def _quote(emulator: EmulatorState, body: StartRequest | None) -> tuple[str, Decimal] | Response:
    config = emulator.config
    if body is None:
        tier = config.highest_tier
    else:
        tier = body.tier or config.default_tier
        if tier not in config.tiers:
            if config.unknown_tier == "reject":
                return json_error(400, "unknown_tier", f"Unknown tier {tier!r}")
            tier = config.default_tier
    price = config.tiers[tier]
    multiplier = emulator.faults.quote_multiplier
    if multiplier != 1:  # hostile quote inflation
        price = (price * multiplier).quantize(_MICRO, ROUND_UP)
    return tier, price


async def create_run(
    emulator: EmulatorState,
    payment: VerifiedPayment,
    tier: str,
    price: Decimal,
    body: StartRequest,
    run_id: str | None = None,
) -> Run:
    """Run the agent and store the run (under ``run_id`` when resuming one)."""
    run_id = run_id or emulator.run_store.new_id()
    workspace = emulator.run_store.workspace_for(run_id)
    created = emulator.clock.now()
    ctx = AgentContext(run_id, body.prompt, tier, price, body.files, workspace)
    try:
        result = await emulator.agent(ctx)
    except Exception:
        result = AgentResult(duration=0.0, success=False, error_code="agent_crashed")
    digest = hashlib.sha256(run_id.encode()).hexdigest()
    run = Run(
        id=run_id,
        owner=payment.payer,
        tier=tier,
        price=price,
        created_at=created,
        pending_seconds=emulator.config.pending_seconds,
        logs_delay=emulator.config.logs_delay_seconds,
        model=emulator.config.model,
        session_id=f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}",
        workspace=workspace,
        result=result,
        records=tuple(ctx.records),
        arrival=tuple(emulator.faults.shuffled(len(ctx.records))),
    )
    emulator.run_store.add(run)
    return run


def _rejection(
    emulator: EmulatorState, url: str, expected: dict[str, Any], rejected: PaymentRejected
) -> Response:
    response = json_error(402, rejected.reason, rejected.message, reason=rejected.reason)
    challenge = emulator.payments.challenge(url, expected, rejected.reason)
    response.headers["PAYMENT-REQUIRED"] = b64_json(challenge)
    return response


def _settle(
    emulator: EmulatorState,
    request: Request,
    payment: VerifiedPayment,
    run: Run,
    previous: Run | None = None,
) -> Response:
    """Settle after the handler ran; on failure drop the run (or put ``previous`` back)."""
    settled = emulator.payments.settle(payment, fail=emulator.faults.take_settle_failure())
    if not settled.success:
        if previous is not None:
            emulator.run_store.add(previous)
        elif not emulator.config.keep_unpaid_runs:
            emulator.run_store.discard(run.id)
        return JSONResponse({"success": False, "error": "Settlement failed"}, status_code=500)
    run.transaction = settled.transaction
    emulator.record_paid(payment, settled.transaction, run_id=run.id)
    if emulator.config.proxy and emulator.faults.take_drop():  # only the proxy can drop
        emulator.dropper.mark(request.scope.get("client"))
    receipt = {
        "success": True,
        "payer": payment.payer,
        "transaction": settled.transaction,
        "network": str(settled.network),
        "amount": payment.requirements.amount,
    }
    return JSONResponse(
        {"runId": run.id, "status": run.status(emulator.clock.now())},
        headers={"PAYMENT-RESPONSE": b64_json(receipt), **_NO_STORE},
    )


Handler = Callable[
    [VerifiedPayment, str, Decimal, StartRequest], Awaitable["tuple[Run, Run | None] | Response"]
]
"""What a paid route does once paid for: the run (and the run it replaced), or an error."""


def paid_endpoint(
    emulator: EmulatorState,
    parse: Callable[[bytes], StartRequest],
    handler: Handler,
) -> Callable[[Request], Awaitable[Response]]:
    """A paid route in the router's order: parse and quote, verify, run the handler, settle.

    A valid body is quoted at its tier, an invalid one at the highest tier (and its paid
    retry gets 400, uncharged). The handler runs before the settlement, so one payment sent
    twice at once runs it twice and the second settlement fails (see `ResendRace`).
    """

    async def endpoint(request: Request) -> Response:
        try:
            raw = await read_limited(request, emulator.config.max_request_bytes)
        except BodyTooLarge:
            return json_error(413, "payload_too_large", "Request body is too large")
        try:
            body: StartRequest | None = parse(raw)
            problem = ""
        except BodyError as exc:
            body, problem = None, str(exc)
        quote = _quote(emulator, body)
        if isinstance(quote, Response):
            return quote
        tier, price = quote
        payee = emulator.faults.payee_override or emulator.config.payee
        expected = emulator.hostile.quoted(emulator.payments.requirement(to_atomic(price), payee))
        url = str(request.url)
        header = request.headers.get("payment-signature")
        if not header:
            challenge = emulator.payments.challenge(url, expected, "Payment required")
            headers = {"PAYMENT-REQUIRED": b64_json(challenge), **_NO_STORE}
            return Response(status_code=402, headers=headers)
        if body is None:
            return json_error(400, "invalid_request", problem)
        try:
            payment = emulator.payments.verify(header, expected)
        except PaymentRejected as rejected:
            return _rejection(emulator, url, expected, rejected)
        if emulator.hostile.take_stash():  # hostile: keep the authorization, deny the payment
            emulator.hostile.stash(payment)
            mismatch = PaymentRejected(REQUIREMENTS_MISMATCH, "Please sign the new requirements")
            return _rejection(emulator, url, expected, mismatch)
        role = await emulator.resend_race.hold(payment.payer, payment.nonce)
        response: Response = json_error(500, "internal_error", "The handler failed")
        try:
            outcome = await handler(payment, tier, price, body)
            if isinstance(outcome, Response):  # the handler refused: nothing is settled
                response = outcome
                return outcome
            run, previous = outcome
            if emulator.config.settlement_seconds > 0:  # the chain takes its time to settle
                await emulator.wait(emulator.config.settlement_seconds)
            response = _settle(emulator, request, payment, run, previous)
        finally:
            await emulator.resend_race.settled(
                payment.payer, payment.nonce, role, success=response.status_code == 200
            )
        if response.status_code == 200:  # hostile: try every authorization it kept, too
            settle_stashed(emulator, payment.payer)
        return response

    return endpoint


def start_endpoint(emulator: EmulatorState) -> Callable[[Request], Awaitable[Response]]:
    """Build the ``POST /api/start`` handler for ``emulator`` (see `paid_endpoint`)."""

    async def start(
        payment: VerifiedPayment, tier: str, price: Decimal, body: StartRequest
    ) -> tuple[Run, Run | None]:
        return await create_run(emulator, payment, tier, price, body), None

    return paid_endpoint(emulator, parse_start_body, start)
