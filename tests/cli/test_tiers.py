"""``prefect-giga tiers``: what the server offers and charges, from its own documents, in
both tier tables the emulator can publish."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from prefect_giga.core.money import format_usd
from prefect_giga.testing import GigaEmulator
from prefect_giga.testing.config import tier_table
from prefect_giga.testing.pytest_plugin import EmulatorFactory

from .conftest import Cli, paid_by


@pytest.mark.parametrize("table", ["today", "seed"])
def test_tiers_lists_the_servers_tiers_prices_and_default(
    cli: Cli, giga_emulator_factory: EmulatorFactory, table: str
) -> None:
    emulator = giga_emulator_factory(time_scale=1000.0, **tier_table(table))
    published = cli.json("tiers", GIGA_BASE_URL=emulator.url)
    shown = cli("tiers", GIGA_BASE_URL=emulator.url)
    tiers = {t["tier"]: Decimal(t["price"]) for t in published["tiers"]}
    assert tiers == emulator.config.tiers
    assert [t["tier"] for t in published["tiers"]] == list(emulator.config.tiers)
    assert published["default"] == emulator.config.default_tier and published["sources"]
    assert [t["tier"] for t in published["tiers"] if t["default"]] == [published["default"]]
    assert shown.exit_code == 0
    assert all(format_usd(price) in shown.stdout for price in emulator.config.tiers.values())


def test_a_tier_the_server_lacks_is_refused_unpaid_naming_its_tiers(
    cli: Cli, emulator: GigaEmulator
) -> None:
    missing = next(t for t in ("$0.50", "$7.00") if t not in emulator.config.tiers)
    result = cli("start", "Too cheap", "--tier", missing, "--yes")
    assert result.exit_code == 1
    assert all(tier in result.stderr for tier in emulator.config.tiers)
    assert paid_by(emulator, cli.address) == []


def test_entry_point_lists_tiers_in_its_own_process(cli: Cli, emulator: GigaEmulator) -> None:
    done = cli.subprocess("tiers", "--json")
    assert done.returncode == 0, done.stderr
    published = json.loads(done.stdout)
    assert {t["tier"]: Decimal(t["price"]) for t in published["tiers"]} == emulator.config.tiers
