"""``prefect-giga doctor``: every check passes against the emulator, and a dead server or a
journal others can read fails clearly."""

from __future__ import annotations

import json
import socket

from prefect_giga.cli.doctor import check_clock

from .conftest import Cli


def test_doctor_passes_against_the_emulator(cli: Cli) -> None:
    report = cli.json("doctor")
    table = cli("doctor")
    checks = {c["name"]: c["status"] for c in report["checks"]}
    assert report["ok"] is True
    assert checks == {
        "server": "ok",
        "tiers": "ok",
        "quote": "ok",
        "sign-in": "ok",
        "clock": "ok",
        "journal": "ok",
    }
    assert table.exit_code == 0 and cli.address in table.stdout


def test_doctor_fails_on_an_unreachable_server(cli: Cli) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening
        report = cli.json("doctor", "--base-url", dead, code=1)
    assert report["ok"] is False
    assert [c["status"] for c in report["checks"] if c["name"] == "server"] == ["fail"]


def test_doctor_fails_on_a_journal_folder_others_can_write(cli: Cli) -> None:
    cli.journal.parent.chmod(0o777)  # the journal re-secures its file (0600), not its folder
    try:
        report = cli.json("doctor", code=1)
    finally:
        cli.journal.parent.chmod(0o700)
    [journal] = [c for c in report["checks"] if c["name"] == "journal"]
    assert journal["status"] == "fail" and "writable by others (mode 777)" in journal["detail"]


def test_clock_check_fails_beyond_the_sign_in_tolerance() -> None:
    assert check_clock("Thu, 01 Jan 1970 00:00:00 GMT", now=3.0).status == "ok"
    assert check_clock("Thu, 01 Jan 1970 00:00:10 GMT", now=0.0).status == "warn"
    assert check_clock("Thu, 01 Jan 1970 00:01:00 GMT", now=0.0).status == "fail"
    assert check_clock(None).status == "warn"


def test_entry_point_runs_the_doctor_in_its_own_process(cli: Cli) -> None:
    done = cli.subprocess("doctor", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and {c["status"] for c in report["checks"]} == {"ok"}
