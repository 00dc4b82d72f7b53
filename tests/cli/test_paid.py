"""``prefect-giga quote`` and ``start``: the quote is shown, consent is asked, the key is
printed, and one logical start is paid once however often it is re-run."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from prefect_giga.core.money import format_usd
from prefect_giga.testing import GigaEmulator

from .conftest import Cli, paid_by


def default_price(emulator: GigaEmulator) -> Decimal:
    """What the emulator charges a start that names no tier."""
    return emulator.config.tiers[emulator.config.default_tier]


def test_quote_shows_the_price_and_pays_nothing(cli: Cli, emulator: GigaEmulator) -> None:
    quoted = cli.json("quote", "--tier", "$1.00")
    table = cli("quote")
    assert Decimal(quoted["amount"]) == emulator.config.tiers["$1.00"]
    assert quoted["tier"] == "$1.00" and quoted["pay_to"] == emulator.payee
    assert quoted["wallet"] == cli.address
    assert (
        table.exit_code == 0
        and format_usd(default_price(emulator)) in table.stdout
        and emulator.payee in table.stdout
    )
    assert paid_by(emulator, cli.address) == []


def test_quote_of_an_unknown_tier_is_a_clear_error(cli: Cli) -> None:
    result = cli("quote", "--tier", "gold")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "gold" in result.stderr


def test_start_asks_first_and_a_no_pays_nothing(cli: Cli, emulator: GigaEmulator) -> None:
    result = cli("start", "Write a haiku", input="n\n")
    assert result.exit_code == 1
    assert (
        f"Quote: {format_usd(default_price(emulator))}" in result.stderr
        and "Nothing was paid." in result.stderr
    )
    assert paid_by(emulator, cli.address) == []


def test_start_with_consent_pays_once_and_a_rerun_with_its_key_reattaches(
    cli: Cli, emulator: GigaEmulator
) -> None:
    first = cli("start", "Write a haiku", input="y\n")
    assert first.exit_code == 0, first.stderr
    key = first.stderr.split("Idempotency key: ", 1)[1].split()[0]
    [payment] = paid_by(emulator, cli.address)
    assert payment.run_id in first.stdout and key in first.stdout
    again = cli.json("start", "Write a haiku", "--idempotency-key", key)
    assert again["reattached"] is True and again["run_id"] == payment.run_id
    assert again["idempotency_key"] == key
    assert len(paid_by(emulator, cli.address)) == 1


def test_start_yes_json_prints_the_key_receipt_and_nothing_else_on_stdout(
    cli: Cli, emulator: GigaEmulator
) -> None:
    result = cli("start", "Summarise", "--yes", "--json", "--idempotency-key", "nightly-1")
    assert result.exit_code == 0, result.stderr
    started = json.loads(result.stdout)
    [payment] = paid_by(emulator, cli.address)
    assert started["run_id"] == payment.run_id and started["idempotency_key"] == "nightly-1"
    assert Decimal(started["receipt"]["amount"]) == default_price(emulator)
    assert started["receipt"]["transaction"] == payment.tx_hash
    assert "--idempotency-key nightly-1" in result.stderr
    assert cli.key.removeprefix("0x") not in result.stdout + result.stderr


def test_start_waits_and_downloads_the_files_with_an_attachment(
    cli: Cli, emulator: GigaEmulator, tmp_path: Path
) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    out = tmp_path / "out"
    started = cli.json(
        "start",
        "Sum the columns",
        "--file",
        str(data),
        "--yes",
        "--download",
        str(out),
        "--poll-interval",
        "0.05",
    )
    table = cli(
        "start",
        "Sum again",
        "--yes",
        "--wait",
        "--poll-interval",
        "0.05",
    )
    assert started["run"]["status"] == "completed"
    [downloaded] = [f for f in started["files"] if f["path"] == "output.md"]
    local = Path(downloaded["local_path"])
    assert local == out / "output.md" and local.stat().st_size == downloaded["size"]
    assert table.exit_code == 0 and "completed" in table.stdout
    assert len(paid_by(emulator, cli.address)) == 2


def test_start_with_a_missing_file_fails_clearly_and_pays_nothing(
    cli: Cli, emulator: GigaEmulator, tmp_path: Path
) -> None:
    result = cli("start", "Read it", "--file", str(tmp_path / "absent.csv"), "--yes")
    assert result.exit_code == 1 and "absent.csv" in result.stderr
    assert paid_by(emulator, cli.address) == []


def test_entry_point_quotes_in_its_own_process(cli: Cli, emulator: GigaEmulator) -> None:
    done = cli.subprocess("quote", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pay_to"] == emulator.payee
