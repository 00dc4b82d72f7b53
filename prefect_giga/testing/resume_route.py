"""``POST /api/resume`` (paid): resume a completed or failed run with a new prompt.

Giga lists this route but does not publish its body; the emulator takes the shape the
client guesses, ``{runId, prompt, tier?, files?}``, and treats it like a start: quoted at the
body's tier (a body that fails the schema at the highest tier), verified, handled, then
settled. The resumed run keeps its id, as Giga's may: it goes back to work on the new prompt.
A run that is not this payer's (404) or still working (409) is refused before settlement,
so that payment is not charged; when the settlement fails, the run is put back as it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from prefect_giga.testing.bodies import ResumeRequest, StartRequest, parse_resume_body
from prefect_giga.testing.payments import VerifiedPayment
from prefect_giga.testing.responses import json_error
from prefect_giga.testing.runs import TERMINAL_STATUSES, Run
from prefect_giga.testing.start_route import create_run, paid_endpoint

if TYPE_CHECKING:
    from prefect_giga.testing.state import EmulatorState

__all__ = ["resume_endpoint"]


def resume_endpoint(emulator: EmulatorState) -> Callable[[Request], Awaitable[Response]]:
    """Build the ``POST /api/resume`` handler for ``emulator`` (see `paid_endpoint`)."""

    async def resume(
        payment: VerifiedPayment, tier: str, price: Decimal, body: StartRequest
    ) -> tuple[Run, Run | None] | Response:
        assert isinstance(body, ResumeRequest)
        previous = emulator.run_store.get(body.run_id, owner=payment.payer)
        if previous is None:
            return json_error(404, "not_found", "Run not found")
        if previous.status(emulator.clock.now()) not in TERMINAL_STATUSES:
            return json_error(409, "run_in_progress", "Only a completed or failed run resumes")
        run = await create_run(emulator, payment, tier, price, body, run_id=previous.id)
        return run, previous

    def parse(raw: bytes) -> ResumeRequest:
        return parse_resume_body(raw, emulator.config.resume_run_field)

    return paid_endpoint(emulator, parse, resume)
