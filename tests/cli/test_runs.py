"""``prefect-giga runs list|show|wait`` and ``download``: free, signed-in reads of this
wallet's runs, in tables and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefect_giga.testing import GigaEmulator

from .conftest import Cli


@pytest.fixture
def run_id(cli: Cli) -> str:
    """A run this test's wallet paid for (finished within milliseconds)."""
    started = cli.json("start", "Draft a memo", "--yes", "--wait", "--poll-interval", "0.05")
    return str(started["run_id"])


def test_runs_list_shows_this_wallets_runs(cli: Cli, run_id: str) -> None:
    listed = cli.json("runs", "list", "--limit", "5")
    table = cli("runs", "list")
    assert [r["id"] for r in listed["runs"]] == [run_id]
    assert listed["runs"][0]["status"] == "completed"
    assert table.exit_code == 0 and run_id in table.stdout and cli.address in table.stdout


def test_runs_show_gives_status_logs_and_files(cli: Cli, run_id: str) -> None:
    shown = cli.json("runs", "show", run_id)
    table = cli("runs", "show", run_id)
    assert shown["id"] == run_id and shown["status"] == "completed"
    assert "output.md" in [f["path"] for f in shown["files"]]
    assert shown["log_records"] > 0
    assert table.exit_code == 0 and "output.md" in table.stdout and table.stderr == ""


def test_runs_show_of_another_wallets_run_is_a_clear_error(
    cli: Cli, run_id: str, emulator: GigaEmulator
) -> None:
    other = Cli("0x" + "11" * 32, emulator.url, cli.journal)
    result = other("runs", "show", run_id)
    assert result.exit_code == 1 and "was not found for wallet" in result.stderr


def test_runs_wait_returns_the_finished_run(cli: Cli, run_id: str) -> None:
    waited = cli.json("runs", "wait", run_id, "--poll-interval", "0.05", "--timeout", "60")
    table = cli("runs", "wait", run_id, "--poll-interval", "0.05")
    assert waited["status"] == "completed" and waited["id"] == run_id
    assert table.exit_code == 0 and "completed" in table.stdout


def test_download_one_file_or_all_of_them(cli: Cli, run_id: str, tmp_path: Path) -> None:
    one = cli.json("download", run_id, "output.md", str(tmp_path / "one"))
    everything = cli("download", run_id, str(tmp_path / "all"))
    [file] = one["files"]
    assert Path(file["local_path"]) == tmp_path / "one" / "output.md"
    assert Path(file["local_path"]).stat().st_size == file["size"]
    assert everything.exit_code == 0 and "output.md" in everything.stdout
    assert (tmp_path / "all" / "output.md").read_bytes() == Path(file["local_path"]).read_bytes()


def test_download_refuses_a_path_outside_the_folder(cli: Cli, run_id: str, tmp_path: Path) -> None:
    result = cli("download", run_id, "../escape.md", str(tmp_path / "dest"))
    too_many = cli("download", run_id, "output.md", str(tmp_path), "extra")
    assert result.exit_code == 1 and result.stderr.startswith("Error: ")
    assert too_many.exit_code == 1 and "then the folder" in too_many.stderr
    assert not (tmp_path / "escape.md").exists()


def test_entry_point_lists_runs_in_its_own_process(cli: Cli, run_id: str) -> None:
    done = cli.subprocess("runs", "list", "--json")
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in json.loads(done.stdout)["runs"]] == [run_id]


def test_key_from_a_hidden_prompt_is_never_echoed(cli: Cli, run_id: str) -> None:
    result = cli("runs", "list", input=cli.key + "\n", GIGA_PRIVATE_KEY="")
    assert result.exit_code == 0, result.stderr
    assert run_id in result.stdout and "input hidden" in result.stderr
    assert cli.key.removeprefix("0x") not in result.stdout + result.stderr


def test_malformed_key_is_refused_without_echoing_it(cli: Cli) -> None:
    result = cli("runs", "list", "--json", GIGA_PRIVATE_KEY="0xdeadbeef-not-a-key")
    assert result.exit_code == 1 and json.loads(result.stdout)["error"]["type"]
    assert "deadbeef" not in result.stdout + result.stderr


def test_entry_point_downloads_in_its_own_process(cli: Cli, run_id: str, tmp_path: Path) -> None:
    done = cli.subprocess("download", run_id, "output.md", str(tmp_path / "own"), "--json")
    assert done.returncode == 0, done.stderr
    [file] = json.loads(done.stdout)["files"]
    assert Path(file["local_path"]).stat().st_size == file["size"] > 0
