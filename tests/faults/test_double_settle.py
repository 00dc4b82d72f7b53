"""A server that keeps refused authorizations and later tries to settle them all: the EIP-3009
nonce derived from the idempotency key lets the chain settle at most one per logical start."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_giga.core.exceptions import OutcomeUnknownError
from prefect_giga.testing import GigaEmulator

from .conftest import SigningCounter
from .items import prompt_for, wallet_key
from .report import REPORT, Defence
from .support import audit_ledger, fetch_output, make_client, nonce_of, start_until_known

KEYS = [wallet_key(400), wallet_key(401)]


def _count(emulator: GigaEmulator) -> None:
    REPORT.double_settle_attempts += emulator.hostile.settle_attempts
    REPORT.double_settles_rejected += emulator.hostile.double_settles_rejected
    REPORT.stashed_settled += emulator.hostile.settled_stashed


@pytest.mark.parametrize("refusals", [1, 2])
async def test_server_that_stashes_refused_payments_cannot_settle_a_start_twice(
    emulator: GigaEmulator, signed: SigningCounter, tmp_path: Path, refusals: int
) -> None:
    items = [(key, f"stash{refusals}-{w}-{i}") for w, key in enumerate(KEYS) for i in range(5)]
    clients = {key: make_client(emulator, key) for key in KEYS}
    try:
        for key, ikey in items:
            emulator.hostile.stash_and_refuse(refusals)
            outcome = await start_until_known(clients[key], ikey, prompt_for(ikey))
            assert outcome.started is not None, outcome.errors
            assert await fetch_output(clients[key], outcome.started.run_id, ikey, tmp_path)
            REPORT.outputs_checked += 1
    finally:
        for client in clients.values():
            await client.aclose()
    REPORT.starts += len(items)
    REPORT.faults["stash and refuse, settle later"] += len(items) * refusals
    _count(emulator)
    audit = audit_ledger(emulator, items)
    assert audit.entries == len(items) and audit.duplicates == 0 and audit.unattributed == 0
    assert set(audit.per_key) == {ikey for _, ikey in items}
    assert emulator.hostile.settle_attempts == len(items) * refusals
    assert emulator.hostile.double_settles_rejected == len(items) * refusals
    assert emulator.hostile.settled_stashed == 0
    assert {(p.lower(), n) for p, n in emulator.hostile.stashed} <= {
        (e.payer.lower(), e.nonce) for e in emulator.ledger
    }  # every stashed authorization carried the nonce that settled for its start
    assert audit.chain_consistent
    assert signed.count == len(items) * (refusals + 1)
    REPORT.defences.append(
        Defence(
            f"server keeps {refusals} refused authorization(s) per start and settles them later",
            "chain rejects the second settlement (nonce used)",
            signed=signed.count,
        )
    )


async def test_stashed_payment_of_a_refused_start_is_charged_once_and_its_retry_reports_it(
    emulator: GigaEmulator, signed: SigningCounter
) -> None:
    """The server refuses start A but keeps its authorization, settles it when B pays, and A's
    retry learns it was paid (nonce used) with no run to claim: `OutcomeUnknownError` names
    the nonce to look up, and A is never paid again."""
    key = KEYS[0]
    async with make_client(emulator, key) as giga:
        emulator.hostile.stash_and_refuse(1)
        first = await start_until_known(giga, "theft-a", prompt_for("theft-a"), attempts=1)
        assert first.started is None and first.errors == ["PaymentRejectedError"]
        b = await giga.start(prompt_for("theft-b"), idempotency_key="theft-b")
        assert emulator.hostile.settled_stashed == 1
        for _ in range(2):
            with pytest.raises(OutcomeUnknownError) as caught:
                await giga.start(prompt_for("theft-a"), idempotency_key="theft-a")
            assert caught.value.payment_nonce.lower() == nonce_of(key, "theft-a")
            assert b.run_id not in caught.value.candidate_run_ids
    REPORT.starts += 2
    REPORT.unknown += 1
    REPORT.left_unknown += 1
    _count(emulator)
    audit = audit_ledger(emulator, [(key, "theft-a"), (key, "theft-b")])
    assert audit.per_key == {"theft-a": 1, "theft-b": 1}
    [stolen] = [e for e in emulator.ledger if e.nonce == nonce_of(key, "theft-a")]
    assert stolen.run_id == ""
    REPORT.defences.append(
        Defence(
            "server settles a refused start's authorization for no run",
            "paid once; retry raises OutcomeUnknownError with the nonce",
            signed=signed.count,
        )
    )
