"""Tiers from the server: a client at its defaults pays the server's default tier exactly once,
in both tier tables the emulator publishes, and a tier the server lacks is refused unpaid."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from prefect_giga import GigaClient, QuoteRefusedError, SyncGigaClient
from prefect_giga.client.tiers import QUOTE_SOURCE, ServerTiers
from prefect_giga.core.exceptions import GigaConfigError, GigaProtocolError, TierNotOfferedError
from prefect_giga.testing import EmulatorConfig, GigaEmulator, tier_table

from .conftest import TEST_KEY

pytestmark = pytest.mark.integration

TABLES = {
    "today": ({"$1.00": "1.00", "$2.00": "2.00", "$5.00": "5.00"}, "$1.00", "$0.50"),
    "seed": ({"$0.50": "0.50", "$1.00": "1.00", "$2.00": "2.00"}, "$0.50", "$5.00"),
}
"""Per table: the tiers it publishes, its default, and a tier it does not offer."""


@pytest.fixture(scope="module", params=sorted(TABLES))
def table(request: pytest.FixtureRequest) -> Iterator[tuple[str, GigaEmulator]]:
    config = EmulatorConfig(manual_clock=True, **tier_table(request.param))
    with GigaEmulator(config).run() as server:
        yield request.param, server.emulator


def serve(**overrides: Any) -> GigaEmulator:
    emulator = GigaEmulator(EmulatorConfig(manual_clock=True, **overrides))
    emulator.start()
    return emulator


def paid_starts(emulator: GigaEmulator) -> int:
    return sum(emulator.paid_requests.values())


async def test_client_at_its_defaults_pays_the_servers_default_tier_exactly_once(
    table: tuple[str, GigaEmulator],
) -> None:
    name, emulator = table
    tiers, default, _ = TABLES[name]
    emulator.reset()
    async with GigaClient(private_key=TEST_KEY, base_url=emulator.url) as giga:
        started = await giga.start(f"Summarise the {name} table")
    assert [entry.amount for entry in emulator.ledger] == [int(Decimal(tiers[default]) * 10**6)]
    assert paid_starts(emulator) == 1
    assert started.receipt is not None and started.receipt.tier == default
    assert emulator.run_by_id(started.run_id).tier == default  # sent explicitly


async def test_tiers_come_from_the_servers_own_documents(table: tuple[str, GigaEmulator]) -> None:
    name, emulator = table
    tiers, default, _ = TABLES[name]
    async with GigaClient(private_key=TEST_KEY, base_url=emulator.url) as giga:
        found = await giga.tiers()
        again = await giga.tiers()
    assert found == ServerTiers(
        {k: Decimal(v) for k, v in tiers.items()}, default, ("/openapi.json", "/llms.txt")
    )
    assert list(found.tiers) == list(tiers)  # the server's order
    assert again is found  # read once per client


async def test_tier_the_server_lacks_is_refused_unpaid_naming_its_tiers(
    table: tuple[str, GigaEmulator],
) -> None:
    name, emulator = table
    tiers, default, lacking = TABLES[name]
    emulator.reset()
    async with GigaClient(private_key=TEST_KEY, base_url=emulator.url) as giga:
        with pytest.raises(TierNotOfferedError) as caught:
            await giga.start("Use a tier that is not there", tier=lacking)
    assert caught.value.offered == tuple(tiers)
    assert caught.value.tier == lacking
    for key in tiers:
        assert key in str(caught.value)
    assert f"{default} (default)" in str(caught.value)
    assert "default_tier" not in str(caught.value)  # the call named it, not a setting
    assert emulator.ledger == [] and paid_starts(emulator) == 0
    assert emulator.request_count("start") == 0  # refused before even asking for a quote


async def test_saved_default_tier_the_server_lacks_says_how_to_change_the_block(
    table: tuple[str, GigaEmulator],
) -> None:
    name, emulator = table
    _, _, lacking = TABLES[name]
    emulator.reset()
    async with GigaClient(
        private_key=TEST_KEY, base_url=emulator.url, default_tier=lacking, max_price_per_run=None
    ) as giga:
        with pytest.raises(TierNotOfferedError) as caught:
            await giga.start("An old block's default tier")
    message = str(caught.value)
    assert "default_tier" in message and "GigaCredentials" in message
    assert "block.default_tier = None" in message
    assert emulator.ledger == []


async def test_a_named_tier_above_max_price_per_run_is_refused_before_quoting(
    table: tuple[str, GigaEmulator],
) -> None:
    name, emulator = table
    tiers, _, _ = TABLES[name]
    emulator.reset()
    dearest = max(tiers, key=lambda k: Decimal(tiers[k]))
    async with GigaClient(private_key=TEST_KEY, base_url=emulator.url) as giga:
        with pytest.raises(QuoteRefusedError) as caught:
            await giga.start("Too dear for the default limit", tier=dearest)
    assert caught.value.reason == "tier_above_max_price"
    assert caught.value.limit == Decimal("1.00")
    assert emulator.ledger == [] and emulator.request_count("start") == 0


@pytest.mark.parametrize(
    "documents",
    [("/api/openapi.json",), ("/llms.txt",), ("/.well-known/x402",)],
    ids=["api-openapi", "llms", "well-known"],
)
def test_each_discovery_document_alone_gives_the_table(documents: tuple[str, ...]) -> None:
    emulator = serve(discovery=documents)
    try:
        with SyncGigaClient(private_key=TEST_KEY, base_url=emulator.url) as giga:
            found = giga.tiers()
        assert found.sources == documents
        assert found.default == "$1.00"
        assert found.tiers == {"$1.00": 1, "$2.00": 2, "$5.00": 5}
    finally:
        emulator.close()


async def test_unnamed_default_is_learned_from_a_quote_without_a_tier_then_paid_once() -> None:
    emulator = serve(discovery_names_default=False, **tier_table("seed"))
    try:
        async with GigaClient(private_key=TEST_KEY, base_url=emulator.url) as giga:
            found = await giga.tiers()
            started = await giga.start("Which tier is the default?")
        assert found.default == "$0.50" and found.sources[-1] == QUOTE_SOURCE
        assert [entry.amount for entry in emulator.ledger] == [500_000]
        assert emulator.run_by_id(started.run_id).tier == "$0.50"
    finally:
        emulator.close()


async def test_server_publishing_nothing_needs_a_named_tier_and_still_checks_its_price() -> None:
    emulator = serve(discovery=())
    try:
        async with GigaClient(private_key=TEST_KEY, base_url=emulator.url) as giga:
            with pytest.raises(GigaProtocolError, match="publishes no tier table"):
                await giga.tiers()
            with pytest.raises(GigaConfigError, match="name a tier"):
                await giga.start("No tier named, nothing published")
            assert emulator.ledger == []
            with pytest.raises(QuoteRefusedError) as caught:  # quoted $1.00 for "$0.50"
                await giga.start("A tier the server charges at its default", tier="$0.50")
            assert caught.value.reason == "price_mismatch"
            started = await giga.start("A tier it has", tier="$1.00")
        assert [entry.amount for entry in emulator.ledger] == [1_000_000]
        assert started.receipt is not None and started.receipt.tier == "$1.00"
    finally:
        emulator.close()
