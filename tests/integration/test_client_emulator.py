"""GigaClient against the emulator over a real socket, in both SIWX domain modes."""

from __future__ import annotations

import asyncio
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

from prefect_giga import (
    GigaClient,
    InsufficientFundsError,
    QuoteRefusedError,
    RunNotFoundError,
    RunStatus,
    SyncGigaClient,
)
from prefect_giga.testing import EmulatorConfig, GigaEmulator, tier_table

from ..vectors import TEST_KEY
from .conftest import OTHER_KEY, read_until_terminal

pytestmark = pytest.mark.integration

TIERS = ["$0.50", "$1.00", "$2.00"]


@pytest.fixture(scope="module", params=["host:port", "hostname"])
def emulator(request: pytest.FixtureRequest):
    # The seed text's tiers, which these tests pay (both tables: test_server_tiers.py).
    config = EmulatorConfig(siwx_domain=request.param, manual_clock=True, **tier_table("seed"))
    emulator = GigaEmulator(config)
    emulator.start()
    yield emulator
    emulator.close()


def client_for(emulator: GigaEmulator, key: str = TEST_KEY, **kwargs) -> GigaClient:
    return GigaClient(private_key=key, base_url=emulator.url, **kwargs)


@pytest.mark.parametrize("tier", TIERS)
async def test_start_pays_each_tier_its_price_once(emulator: GigaEmulator, tier: str) -> None:
    before = len(emulator.ledger)
    async with client_for(emulator, max_price_per_run="2.00") as giga:
        started = await giga.start(f"Summarise the tier {tier}", tier=tier)
    entries = emulator.ledger[before:]
    assert len(entries) == 1
    entry = entries[0]
    assert started.receipt is not None
    assert started.receipt.amount == Decimal(tier.removeprefix("$"))
    assert entry.amount == started.receipt.amount_atomic
    assert entry.payer.lower() == giga.address.lower()
    assert entry.transaction == started.receipt.transaction
    assert entry.run_id == started.run_id
    assert started.receipt.pay_to.lower() == emulator.payee.lower()


async def test_read_until_completed_then_download_every_file_byte_identical(
    emulator: GigaEmulator,
    tmp_path: Path,
) -> None:
    async with client_for(emulator) as giga:
        started = await giga.start("Write a report [files=3] [size=300KB] [duration=90]")
        first = await giga.read(started.run_id)
        assert first.status in (RunStatus.PENDING, RunStatus.RUNNING)
        emulator.clock.advance(600)
        run = await read_until_terminal(giga, started.run_id)
        assert run.status is RunStatus.COMPLETED
        assert run.logs is not None and run.logs.records
        listed = await giga.read(started.run_id, include_files=True)
        files = [f for f in listed.files or [] if f.is_file]
        assert len(files) >= 4
        assert any("/" in f.path for f in files)
        workspace = emulator.run_by_id(started.run_id).workspace
        for entry in files:
            local = await giga.download(started.run_id, entry.path, tmp_path)
            original = workspace / entry.path
            assert local == tmp_path / entry.path
            assert local.stat().st_size == entry.size == original.stat().st_size
            assert _sha(local) == _sha(original)
        assert not list(tmp_path.rglob("*.part"))


async def test_list_shows_this_wallets_runs_newest_first_and_pages(
    emulator: GigaEmulator,
) -> None:
    async with client_for(emulator) as giga:
        ids = [(await giga.start(f"List me {i}")).run_id for i in range(3)]
        page = await giga.list_runs(limit=2)
        assert len(page) == 2
        assert [r.updated_at for r in page] == sorted((r.updated_at for r in page), reverse=True)
        everything = [run.id async for run in giga.iter_runs(page_size=2)]
        assert set(ids) <= set(everything)
        assert len(everything) == len(set(everything))
    async with client_for(emulator, key=OTHER_KEY) as other:
        theirs = [run.id async for run in other.iter_runs()]
        assert not set(ids) & set(theirs)
        with pytest.raises(RunNotFoundError):
            await other.read(ids[0])


async def test_reads_after_the_first_take_one_round_trip(emulator: GigaEmulator) -> None:
    async with client_for(emulator) as giga:
        started = await giga.start("Count my round trips")
        await giga.read(started.run_id)
        challenges = emulator.request_count("read", 402)
        for _ in range(5):
            await giga.read(started.run_id)
        assert emulator.request_count("read", 402) == challenges


async def test_quote_above_the_tier_price_is_refused_before_paying(emulator: GigaEmulator) -> None:
    """On a server that publishes no tiers, only the quote check stands between an unknown
    tier and a payment (with tiers published it is refused earlier: test_server_tiers.py)."""
    before = len(emulator.ledger)
    emulator.config.discovery = ()
    try:
        async with client_for(emulator, max_price_per_run=None) as giga:
            with pytest.raises(QuoteRefusedError) as caught:
                await giga.start("An unknown tier", tier="$3.00")  # quoted at the default price
    finally:
        emulator.config.discovery = ("/openapi.json", "/llms.txt")
    assert caught.value.reason == "price_mismatch"
    assert len(emulator.ledger) == before


async def test_quote_is_free(emulator: GigaEmulator) -> None:
    before = len(emulator.ledger)
    runs_before = len(emulator.runs)
    async with client_for(emulator) as giga:
        quote = await giga.quote("What would this cost?", tier="$1.00")
    assert quote.amount == Decimal("1.00")
    assert quote.pay_to.lower() == emulator.payee.lower()
    assert len(emulator.ledger) == before
    assert len(emulator.runs) == runs_before


def test_unfunded_wallet_gets_a_clear_error() -> None:
    from eth_account import Account

    poor = Account.create()
    config = EmulatorConfig(unfunded=frozenset({poor.address}), manual_clock=True)
    with (
        GigaEmulator(config).run() as server,
        SyncGigaClient(private_key=poor.key.hex(), base_url=server.url) as giga,
    ):
        with pytest.raises(InsufficientFundsError) as caught:
            giga.start("I cannot pay")
        assert poor.address in str(caught.value)
        assert "Base" in str(caught.value)
        assert server.emulator.ledger == []


def test_sync_client_round_trip(emulator: GigaEmulator, tmp_path: Path) -> None:
    with SyncGigaClient(private_key=TEST_KEY, base_url=emulator.url) as giga:
        started = giga.start("A sync run")
        emulator.clock.advance(600)
        for _ in range(500):
            run = giga.read(started.run_id, include_files=True)
            if run.status.is_terminal:
                break
        assert run.status is RunStatus.COMPLETED
        local = giga.download(started.run_id, "output.md", tmp_path)
        assert "A sync run" in local.read_text()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_many_concurrent_starts_are_signed_only_as_slots_come_near(
    emulator: GigaEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With more starts than slots, a payment signed first and sent minutes later could be
    # past its validBefore: a start signs only in its turn, at most max_connections at once.
    from prefect_giga.payments import paid_start

    signed_not_answered, most = 0, 0
    sign, settle = paid_start.sign_payment, paid_start.PaidStart._settle

    async def counting_sign(*args, **kwargs):
        nonlocal signed_not_answered, most
        signed_not_answered += 1
        most = max(most, signed_not_answered)
        return await sign(*args, **kwargs)

    async def counting_settle(self, reply, payment):
        nonlocal signed_not_answered
        signed_not_answered -= 1
        return await settle(self, reply, payment)

    monkeypatch.setattr(paid_start, "sign_payment", counting_sign)
    monkeypatch.setattr(paid_start.PaidStart, "_settle", counting_settle)
    async with client_for(emulator, OTHER_KEY, max_connections=2) as giga:
        started = await asyncio.gather(*(giga.start(f"Turns {i}") for i in range(8)))
    assert len({s.run_id for s in started}) == 8
    assert most <= 2
