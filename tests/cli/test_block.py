"""``prefect-giga block create`` saves a `GigaCredentials` block (key from the environment or
a hidden prompt, never shown), and ``--block NAME`` then pays and signs in with it."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator

import pytest
from eth_account import Account
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness

from prefect_giga import GigaCredentials
from prefect_giga.payments.journal import Journal
from prefect_giga.testing import GigaEmulator

from .conftest import Cli, paid_by, run_entry_point
from .test_journal import run_elsewhere, sent_entry


@pytest.fixture(scope="module", autouse=True)
def prefect_api() -> Iterator[str]:
    """A real Prefect API (temporary database) for this module; yields its URL."""
    with prefect_test_harness(server_startup_timeout=180):
        yield str(PREFECT_API_URL.value())


def test_block_create_from_the_environment_never_shows_the_key(
    cli: Cli, emulator: GigaEmulator
) -> None:
    saved = cli.json("block", "create", "cli-env", "--max-spend-per-day", "5")
    block = GigaCredentials.load("cli-env")
    assert saved["address"] == cli.address and saved["base_url"] == cli.url
    assert block.private_key.get_secret_value() == cli.key
    assert block.max_spend_per_day == 5
    runs = cli("runs", "list", "--block", "cli-env", GIGA_PRIVATE_KEY="", GIGA_BASE_URL="")
    assert runs.exit_code == 0, runs.stderr
    started = cli.json("start", "Via the block", "--yes", "--block", "cli-env", GIGA_PRIVATE_KEY="")
    assert [p.run_id for p in paid_by(emulator, cli.address)] == [started["run_id"]]


def test_block_create_reads_a_hidden_prompt_and_refuses_to_overwrite(cli: Cli) -> None:
    key = "0x" + bytes(Account.create().key).hex()
    made = cli("block", "create", "cli-prompt", input=key + "\n", GIGA_PRIVATE_KEY="")
    again = cli("block", "create", "cli-prompt", input=key + "\n", GIGA_PRIVATE_KEY="")
    assert made.exit_code == 0, made.stderr
    assert Account.from_key(key).address in made.stdout
    assert key.removeprefix("0x") not in made.stdout + made.stderr
    assert again.exit_code == 1 and "pass --overwrite" in again.stderr


def test_block_create_with_a_malformed_key_fails_without_echoing_it(cli: Cli) -> None:
    result = cli("block", "create", "cli-bad", GIGA_PRIVATE_KEY="0xnot-a-key-1234")
    assert result.exit_code == 1 and result.stderr.startswith("Error: ")
    assert "not-a-key-1234" not in result.stdout + result.stderr


def test_missing_block_is_a_clear_error(cli: Cli) -> None:
    result = cli("runs", "list", "--block", "no-such-block")
    assert result.exit_code == 1 and "prefect-giga block create" in result.stderr


def test_entry_point_creates_a_block_in_its_own_process(cli: Cli, prefect_api: str) -> None:
    done = run_entry_point(
        ["block", "create", "cli-subprocess", "--json"],
        {**os.environ, **cli.env(), "PREFECT_API_URL": prefect_api},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["address"] == cli.address
    assert GigaCredentials.load("cli-subprocess").address == cli.address


def test_resolve_with_a_block_whose_list_claims_are_off_assigns_nothing(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A run another journal paid for is the one candidate a re-check sees: with the
    block's list claims off it is shown, never assigned, and the start stays unresolved."""
    elsewhere = Journal(tmp_path_factory.mktemp("elsewhere") / "j.sqlite3")
    theirs = asyncio.run(run_elsewhere(cli, elsewhere))
    GigaCredentials(private_key=cli.key, base_url=cli.url, list_claims=False).save(
        "cli-no-claims", overwrite=True
    )
    sent_entry(cli, "apart-1", valid_before=time.time() + 600)
    [kept] = cli.json("journal", "resolve", "apart-1", "--block", "cli-no-claims", code=3)[
        "resolved"
    ]
    assert kept["state"] == "sent" and kept["run_id"] is None
    assert [c["id"] for c in kept["evidence"]["candidates"]] == [theirs]
