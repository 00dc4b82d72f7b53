"""One idempotency key, one request, one server, one nonce: checked end to end on the emulator.

A key reused for another request is refused before any request; a re-sign uses the nonce the
journal recorded whatever the wallet derives today; "nonce already used" never leads to a
claim when the key is recorded at another server; a signer with random ``k`` pays through a
nonce secret; the first payment to an unpinned payee is logged.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_giga import (
    GigaClient,
    GigaConfigError,
    IdempotencyKeyConflictError,
    OutcomeUnknownError,
    SettlementFailedError,
)
from prefect_giga.core.models import Quote
from prefect_giga.core.wallet import Wallet
from prefect_giga.payments.journal import Journal, StartRef
from prefect_giga.testing import GigaEmulator
from tests.random_k_signer import RandomKSigner

from .conftest import SigningCounter
from .items import FAST_RECONCILE, FAST_RETRY, prompt_for, wallet_key
from .report import REPORT
from .support import make_client

SECRET = "correct horse battery staple 42"


def _paid(emulator: GigaEmulator) -> int:
    return sum(emulator.paid_requests.values())


@pytest.mark.parametrize("change", ["prompt", "tier", "attachment"])
async def test_key_reused_for_another_request_is_refused_before_any_request(
    emulator: GigaEmulator, signed: SigningCounter, change: str
) -> None:
    key = f"reused-{change}"
    request = {"tier": "$1.00", "files": [("a.csv", b"1,2\n")]}
    async with make_client(emulator, wallet_key(900)) as giga:
        first = await giga.start(prompt_for(key), idempotency_key=key, **request)  # type: ignore[arg-type]
        before = (sum(emulator.requests.values()), signed.count)
        other = dict(request)
        prompt = prompt_for(key, " and more") if change == "prompt" else prompt_for(key)
        if change == "tier":
            other["tier"] = "$2.00"
        if change == "attachment":
            other["files"] = [("a.csv", b"1,3\n")]
        with pytest.raises(IdempotencyKeyConflictError) as refused:
            await giga.start(prompt, idempotency_key=key, **other)  # type: ignore[arg-type]
        assert (sum(emulator.requests.values()), signed.count) == before
        same = await giga.start(prompt_for(key), idempotency_key=key, **request)  # type: ignore[arg-type]
    REPORT.starts += 1
    assert refused.value.run_id == first.run_id and first.run_id in str(refused.value)
    assert same.reattached and same.run_id == first.run_id and len(emulator.ledger) == 1


async def test_start_recorded_without_fingerprint_accepts_one_request_once(
    emulator: GigaEmulator, journal_path: Path
) -> None:
    async with make_client(emulator, wallet_key(901)) as giga:
        first = await giga.start(prompt_for("legacy"), idempotency_key="legacy")
        with sqlite3.connect(journal_path) as db:  # as a journal from before fingerprints
            db.execute("UPDATE starts_v2 SET fingerprint = NULL")
        adopted = await giga.start(prompt_for("legacy", " v2"), idempotency_key="legacy")
        with pytest.raises(IdempotencyKeyConflictError):
            await giga.start(prompt_for("legacy"), idempotency_key="legacy")
    REPORT.starts += 1
    assert adopted.reattached and adopted.run_id == first.run_id and len(emulator.ledger) == 1


async def test_resign_uses_the_recorded_nonce_whatever_the_wallet_derives_now(
    emulator: GigaEmulator, journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payer = wallet_key(902)
    emulator.faults.fail_settlements(1)
    async with make_client(emulator, payer) as giga:
        with pytest.raises(SettlementFailedError):
            await giga.start(prompt_for("renonce"), idempotency_key="renonce")
        recorded = Journal(journal_path).get(StartRef(giga.address, giga.base_url, "renonce"))
        assert recorded is not None and recorded.run_id is None
        # A later version derives nonces differently: the recorded nonce must still win.
        monkeypatch.setattr(Wallet, "payment_nonce", lambda self, key: "0x" + "77" * 32)
        started = await giga.start(prompt_for("renonce"), idempotency_key="renonce")
    REPORT.starts += 1
    assert [e.nonce.lower() for e in emulator.ledger] == [recorded.nonce.lower()]
    assert emulator.ledger[0].run_id == started.run_id


async def test_nonce_used_while_the_key_is_recorded_at_another_server_is_never_claimed(
    make_emulator: Callable[..., GigaEmulator], journal_path: Path
) -> None:
    here = make_emulator()
    payer = wallet_key(903)
    address = Wallet.from_private_key(payer).address
    other_origin = "https://other-giga.example"

    async def meanwhile_used_elsewhere(quote: Quote) -> None:
        # Another process records the same key at another server after this one checked.
        Journal(journal_path).reserve(
            StartRef(address, other_origin, "split"),
            network=quote.network,
            nonce=Wallet.from_private_key(payer).payment_nonce("split"),
            tier=quote.tier,
            amount=quote.amount,
            pay_to=quote.pay_to,
            daily_limit=None,
        )

    here.faults.drop_replies_after_settlement(1)  # the resend then hears "nonce already used"
    async with make_client(here, payer, before_payment=meanwhile_used_elsewhere) as giga:
        with pytest.raises(OutcomeUnknownError) as unknown:
            await giga.start(prompt_for("split"), idempotency_key="split")
        entry = Journal(journal_path).get(StartRef(address, giga.base_url, "split"))
    REPORT.starts += 1
    assert other_origin in str(unknown.value) and unknown.value.candidate_run_ids == ()
    assert entry is not None and entry.run_id is None  # no run was claimed
    assert len(here.ledger) == 1  # the one payment, settled once


async def test_signer_with_random_k_pays_end_to_end_through_a_nonce_secret(
    emulator: GigaEmulator, journal_path: Path
) -> None:
    key = wallet_key(904)
    signer = RandomKSigner(key)

    def client(**kwargs: object) -> GigaClient:
        return GigaClient(
            signer=signer,
            base_url=emulator.url,
            retry=FAST_RETRY,
            reconcile=FAST_RECONCILE,
            **kwargs,  # type: ignore[arg-type]
        )

    async with client() as refused_client:
        with pytest.raises(GigaConfigError, match="not deterministic"):
            await refused_client.start(prompt_for("kms-0"), idempotency_key="kms-0")
    assert emulator.ledger == [] and _paid(emulator) == 0
    async with client(nonce_secret=SECRET) as giga:
        started = [
            await giga.start(prompt_for(f"kms-{i}"), idempotency_key=f"kms-{i}") for i in (1, 2)
        ]
        again = await giga.start(prompt_for("kms-1"), idempotency_key="kms-1")
        run = await giga.read(started[0].run_id)  # SIWX sign-in with random k verifies too
    async with client(nonce_secret=SECRET + " but another") as other:
        with pytest.raises(GigaConfigError, match="same secret"):
            await other.start(prompt_for("kms-3"), idempotency_key="kms-3")
    REPORT.starts += 3
    expected = {Wallet(signer, nonce_secret=SECRET).payment_nonce(f"kms-{i}") for i in (1, 2)}
    assert {e.nonce.lower() for e in emulator.ledger} == expected
    assert [e.run_id for e in emulator.ledger] == [s.run_id for s in started]
    assert again.reattached and run.id == started[0].run_id
    assert Journal(journal_path).get(StartRef(signer.address, emulator.url, "kms-3")) is None


async def test_first_payment_to_an_unpinned_payee_logs_how_to_pin_it(
    emulator: GigaEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="prefect_giga.payments")
    async with make_client(emulator, wallet_key(905)) as giga:
        await giga.start(prompt_for("payee-1"), idempotency_key="payee-1")
        first = [r.getMessage() for r in caplog.records if r.name == "prefect_giga.payments"]
        caplog.clear()
        await giga.start(prompt_for("payee-2"), idempotency_key="payee-2")
    async with make_client(emulator, wallet_key(906), allowed_payees=[emulator.payee]) as pinned:
        await pinned.start(prompt_for("payee-3"), idempotency_key="payee-3")
    REPORT.starts += 3
    assert len(first) == 1 and emulator.payee in first[0] and "allowed_payees" in first[0]
    assert not [r for r in caplog.records if r.name == "prefect_giga.payments"]
