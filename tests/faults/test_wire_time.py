"""Only time on the wire counts; a paid request that never left is "not sent"; a claim that
cannot check, or a paid reply naming an unusable run, never ends as "not charged"."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from prefect_giga import GigaClient
from prefect_giga.client.downloads import stream_to_file
from prefect_giga.core.exceptions import (
    GigaError,
    GigaProtocolError,
    OutcomeUnknownError,
    RequestNotSentError,
)
from prefect_giga.payments.journal import StartState
from prefect_giga.payments.paid_start import ReconcilePolicy
from prefect_giga.testing import GigaEmulator
from prefect_giga.testing.proxy import ConnectionDropper, TcpProxy

from .conftest import ALIASES, SigningCounter
from .items import FAST_RECONCILE, FAST_RETRY, prompt_for, wallet_key
from .report import REPORT
from .support import audit_ledger, make_client, nonce_of

KEY = wallet_key(700)
SECTION = "Time on the wire and honest outcomes"


async def test_paid_start_queued_behind_slow_downloads_is_sent_not_unknown(
    emulator: GigaEmulator, tmp_path: Path
) -> None:
    """Two connections, both held by downloads trickling an endless body: the paid start
    waits for one (not counted against its 1 s timeout) and gets its run on the first try."""
    reconcile = ReconcilePolicy(resends=1, backoff=0.01)
    async with make_client(
        emulator, KEY, timeout=1.0, max_connections=2, reconcile=reconcile
    ) as giga:
        warm = [
            await giga.start(prompt_for(f"wire-{i}"), idempotency_key=f"wire-{i}") for i in (0, 1)
        ]
        links = [await giga.file_url(run.run_id, "output.md") for run in warm * 3]
        emulator.faults.never_end("file", chunk=b" ", interval=0.05)
        downloads = [
            asyncio.ensure_future(
                stream_to_file(
                    giga.exchange, giga.links, link, tmp_path / f"d{n}", max_bytes=None, path="f"
                )
            )
            for n, link in enumerate(links)
        ]
        await asyncio.sleep(0)  # the downloads take the two connections and queue for them
        result: object
        try:
            result = await giga.start(prompt_for("wire-2"), idempotency_key="wire-2")
        except GigaError as exc:
            result = exc
        slow = await asyncio.gather(*downloads, return_exceptions=True)
    saturated = sum(isinstance(r, GigaError) for r in slow)
    REPORT.count(
        SECTION,
        "paid starts queued behind slow downloads",
        ok=not isinstance(result, OutcomeUnknownError),
    )
    REPORT.count(SECTION, "slow downloads holding the pool", saturated)
    assert saturated == len(downloads), slow  # every connection was busy with a slow download
    assert not isinstance(result, GigaError), result  # above all, no false OutcomeUnknownError
    audit = audit_ledger(emulator, [(KEY, f"wire-{i}") for i in range(3)])
    assert audit.per_key == {"wire-0": 1, "wire-1": 1, "wire-2": 1}


async def test_paid_request_refused_at_connect_is_not_sent_and_resends_the_same_payment(
    emulator: GigaEmulator, signed: SigningCounter
) -> None:
    """The listener goes away between the quote and the paid request: connecting fails, so
    the start is "not sent" (journal back to reserved), not "outcome unknown"; the retry sends
    the same signed payment and pays once."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    host, port = listener.getsockname()
    upstream = int(emulator.url.rsplit(":", 1)[1])
    proxy = TcpProxy("127.0.0.1", upstream, ConnectionDropper())
    await proxy.start(listener)
    url = f"http://{host}:{port}"
    ALIASES.setdefault(emulator.url, set()).add(url)
    async with GigaClient(
        private_key=KEY, base_url=url, retry=FAST_RETRY, reconcile=FAST_RECONCILE
    ) as giga:
        await giga.start(prompt_for("conn-0"), idempotency_key="conn-0")  # remembers the quote
        await proxy.close()  # nothing listens now: connecting is refused
        with pytest.raises(RequestNotSentError) as caught:
            await giga.start(prompt_for("conn-1"), idempotency_key="conn-1")
        [entry] = giga.journal.find("conn-1")
        signatures = signed.count
        again = socket.socket()
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind((host, port))
        proxy = TcpProxy("127.0.0.1", upstream, ConnectionDropper())
        await proxy.start(again)
        try:
            started = await giga.start(prompt_for("conn-1"), idempotency_key="conn-1")
        finally:
            await proxy.close()
    REPORT.count(
        SECTION,
        "paid requests refused at connect, reported not sent",
        ok=entry.state is StartState.RESERVED,
    )
    assert "nothing was charged" in str(caught.value)
    assert entry.state is StartState.RESERVED and entry.sent_at is None
    assert signed.count == signatures + 1  # the retry signs the same nonce again
    [paid] = [e for e in emulator.ledger if e.nonce.lower() == nonce_of(KEY, "conn-1")]
    assert paid.run_id == started.run_id and not started.reconciled


async def test_claim_that_cannot_list_runs_says_unknown_never_not_charged(
    emulator: GigaEmulator,
) -> None:
    """The paid reply is lost (503), the re-send is answered 'Settlement failed', and
    /api/list fails: the refusal cannot be checked, so the outcome is unknown, with why."""
    async with make_client(emulator, KEY) as giga:
        await giga.start(prompt_for("list-0"), idempotency_key="list-0")  # remembers the quote
        emulator.faults.fail("start", 503, count=1)
        emulator.faults.fail_settlements(count=10)
        emulator.faults.fail("list", 503)
        with pytest.raises(OutcomeUnknownError) as caught:
            await giga.start(prompt_for("list-1"), idempotency_key="list-1")
        [entry] = giga.journal.find("list-1")
    REPORT.count(
        SECTION, "claims whose run list failed, reported unknown", ok=entry.state is StartState.SENT
    )
    assert "could not be listed" in str(caught.value)
    assert caught.value.payment_nonce.lower() == nonce_of(KEY, "list-1")
    assert entry.state is StartState.SENT  # still counted, never "not charged"


async def test_paid_reply_with_an_unusable_run_id_is_recorded_and_never_paid_again(
    emulator: GigaEmulator, signed: SigningCounter
) -> None:
    async with make_client(emulator, KEY) as giga:
        emulator.faults.garble("start", b'{"runId": "../../escape", "status": "running"}', count=1)
        with pytest.raises(GigaProtocolError) as first:
            await giga.start(prompt_for("bad-id"), idempotency_key="bad-id")
        signatures = signed.count
        with pytest.raises(GigaProtocolError) as retried:
            await giga.start(prompt_for("bad-id"), idempotency_key="bad-id")
        [entry] = giga.journal.find("bad-id")
    nonce = nonce_of(KEY, "bad-id")
    paid = [e for e in emulator.ledger if e.nonce.lower() == nonce]
    REPORT.count(
        SECTION,
        "paid replies with an unusable run id, never paid again",
        ok=len(paid) == 1 and signed.count == signatures,
    )
    assert entry.state is StartState.UNUSABLE and entry.run_id is None
    assert nonce in str(first.value).lower() and nonce in str(retried.value).lower()
    assert signed.count == signatures  # the retry signed nothing and sent nothing
    assert len(paid) == 1
