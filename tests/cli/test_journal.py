"""``prefect-giga journal unresolved|resolve``: a start left unknown by a dropped reply is
listed, re-checked against the server and claimed; by-hand resolutions obey the claim rule."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from prefect_giga import GigaClient, RetryPolicy
from prefect_giga.core.exceptions import OutcomeUnknownError
from prefect_giga.payments.journal import Journal, StartRef
from prefect_giga.payments.paid_start import ReconcilePolicy
from prefect_giga.testing import GigaEmulator

from ..journal_backends import JournalSpec
from ..pg_server import PostgresServer
from .conftest import Cli, paid_by

FAST_RETRY = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.05)
FAST_RECONCILE = ReconcilePolicy(resends=2, backoff=0.01)


@pytest.fixture
def lost_replies(emulator: GigaEmulator) -> Iterator[None]:
    """The next paid reply is dropped after settlement and listing runs fails, so the
    client cannot identify its run: the start's outcome stays unknown."""
    emulator.faults.drop_replies_after_settlement(1)
    emulator.faults.fail("list", 400)
    try:
        yield
    finally:
        emulator.faults.clear()


def sent_entry(
    cli: Cli,
    key: str,
    *,
    valid_before: float,
    clock: float | None = None,
    journal: Journal | None = None,
) -> None:
    """Record a start of ``cli``'s wallet as sent (paid request left, no reply)."""
    journal = journal or Journal(cli.journal, clock=None if clock is None else (lambda: clock))
    ref = StartRef(cli.address, cli.url, key)
    journal.reserve(
        ref,
        network="eip155:8453",
        nonce="0x" + key.encode().hex().ljust(64, "0"),
        tier="$0.50",
        amount=Decimal("0.50"),
        pay_to="0x179eC767Cd66Dd21064F85fd630385f26A98FD4e",
        daily_limit=None,
    )
    journal.mark_sent(ref, valid_before=int(valid_before))
    journal.close()


async def run_elsewhere(cli: Cli, tmp_journal: Journal) -> str:
    """A run of ``cli``'s wallet that another machine (another journal) paid for."""
    async with GigaClient(private_key=cli.key, base_url=cli.url, journal=tmp_journal) as giga:
        return (await giga.start("Started on another machine")).run_id


def test_start_left_unknown_by_a_dropped_reply_is_listed_then_claimed_by_a_recheck(
    cli: Cli, emulator: GigaEmulator, lost_replies: None, journal_store: JournalSpec
) -> None:
    """On both journal backends (the commands follow ``$GIGA_JOURNAL_URL``)."""
    lost = cli("start", "Summarise", "--yes", "--json", "--idempotency-key", "lost-1")
    emulator.faults.clear()
    [payment] = paid_by(emulator, cli.address)
    assert lost.exit_code == 3, lost.stderr
    error = json.loads(lost.stdout)["error"]
    assert error["type"] == "OutcomeUnknownError" and error["idempotency_key"] == "lost-1"
    assert error["payment_nonce"].lower() == payment.nonce.lower()
    assert "prefect-giga journal resolve lost-1" in lost.stderr

    listed = cli.json("journal", "unresolved")["unresolved"]
    table = cli("journal", "unresolved")
    assert [e["key"] for e in listed] == ["lost-1"]
    assert listed[0]["payment_nonce"].lower() == payment.nonce.lower()
    assert listed[0]["authorization_expired"] is False
    assert table.exit_code == 0 and "lost-1" in table.stdout

    [resolved] = cli.json("journal", "resolve", "lost-1")["resolved"]
    assert resolved["state"] == "started" and resolved["run_id"] == payment.run_id
    assert [c["id"] for c in resolved["evidence"]["candidates"]] == [payment.run_id]
    assert "can only be start lost-1's" in resolved["evidence"]["verdict"]
    assert cli.json("journal", "unresolved")["unresolved"] == []

    again = cli.json("start", "Summarise", "--yes", "--idempotency-key", "lost-1")
    assert again["reattached"] and again["run_id"] == payment.run_id
    assert len(paid_by(emulator, cli.address)) == 1


async def start_a_day_ahead(cli: Cli, key: str) -> None:
    """Pay for a start whose journal runs a day ahead: every run the server has made so far
    was created "before" its payment left."""
    ahead = Journal(cli.journal, clock=lambda: time.time() + 86400)
    async with GigaClient(
        private_key=cli.key,
        base_url=cli.url,
        journal=ahead,
        retry=FAST_RETRY,
        reconcile=FAST_RECONCILE,
    ) as giga:
        await giga.start("Early", idempotency_key=key)


def test_resolve_by_hand_refuses_runs_the_claim_rule_forbids(
    cli: Cli, emulator: GigaEmulator, lost_replies: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with pytest.raises(OutcomeUnknownError):
        asyncio.run(start_a_day_ahead(cli, "early"))
    emulator.faults.clear()
    [payment] = paid_by(emulator, cli.address)
    other = Cli("0x" + "22" * 32, cli.url, tmp_path_factory.mktemp("other") / "j.sqlite3")
    foreign = other.json("start", "Not yours", "--yes")["run_id"]

    not_yours = cli("journal", "resolve", "early", "--run", foreign)
    before = cli("journal", "resolve", "early", "--run", payment.run_id, "--json")
    too_soon = cli("journal", "resolve", "early", "--not-charged")
    assert not_yours.exit_code == 1 and "is not a run of wallet" in not_yours.stderr
    assert before.exit_code == 1 and "before start early's payment left" in before.stderr
    assert json.loads(before.stdout)["error"]["type"] == "ResolutionRefusedError"
    assert too_soon.exit_code == 1 and "cannot be marked not charged" in too_soon.stderr
    [still] = cli.json("journal", "unresolved")["unresolved"]
    assert still["key"] == "early"


def test_ambiguous_starts_stay_unresolved_until_one_is_assigned_by_hand(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = Journal(tmp_path_factory.mktemp("elsewhere") / "j.sqlite3")
    sent_entry(cli, "twin-1", valid_before=time.time() + 300)
    sent_entry(cli, "twin-2", valid_before=time.time() + 300)
    run_id = asyncio.run(run_elsewhere(cli, elsewhere))

    both = cli.json("journal", "resolve", code=3)["resolved"]
    table = cli("journal", "resolve")
    assert [r["state"] for r in both] == ["sent", "sent"]
    assert both[0]["evidence"]["other_unresolved_starts"] == ["twin-2"]
    assert [c["id"] for c in both[0]["evidence"]["candidates"]] == [run_id]
    assert table.exit_code == 3 and "ambiguous" in table.stdout

    [assigned] = cli.json("journal", "resolve", "twin-1", "--run", run_id)["resolved"]
    taken = cli("journal", "resolve", "twin-2", "--run", run_id)
    [left] = cli.json("journal", "resolve", "twin-2", code=3)["resolved"]
    assert assigned["state"] == "started" and assigned["run_id"] == run_id
    assert taken.exit_code == 1 and "already assigned to start twin-1" in taken.stderr
    assert left["state"] == "sent" and left["evidence"]["assigned_to_other_starts"] == [run_id]


def test_not_charged_is_recorded_only_after_the_authorization_expired(cli: Cli) -> None:
    sent_entry(cli, "expired", valid_before=time.time() - 10, clock=time.time() - 400)
    [marked] = cli.json("journal", "resolve", "expired", "--not-charged")["resolved"]
    again = cli("journal", "resolve", "expired", "--not-charged")
    assert marked["state"] == "not_charged" and marked["authorization_expired"] is True
    assert again.exit_code == 1 and "is not unresolved: it is not_charged" in again.stderr


def test_resolve_of_an_unknown_key_says_where_it_is(cli: Cli, emulator: GigaEmulator) -> None:
    result = cli("journal", "resolve", "nowhere")
    usage = cli("journal", "resolve", "--not-charged")
    assert result.exit_code == 1 and "has no start nowhere" in result.stderr
    assert usage.exit_code == 1 and "need the start's KEY" in usage.stderr


def test_entry_point_lists_unresolved_starts_in_its_own_process(cli: Cli) -> None:
    sent_entry(cli, "sub-1", valid_before=time.time() + 300)
    done = cli.subprocess("journal", "unresolved", "--json")
    assert done.returncode == 0, done.stderr
    assert [e["key"] for e in json.loads(done.stdout)["unresolved"]] == ["sub-1"]


def test_the_journal_commands_read_a_postgres_journal_and_never_show_its_password(
    cli: Cli, postgres_server: PostgresServer
) -> None:
    url = postgres_server.new_database().replace("postgres@", "postgres:s3cret-pw@")
    sent_entry(cli, "pg-1", valid_before=time.time() + 600, journal=Journal(url=url))
    listed = cli("journal", "unresolved", "--json", GIGA_JOURNAL_URL=url)
    spend = cli("spend", "--since", "today", "--json", GIGA_JOURNAL_URL=url)
    table = cli("journal", "unresolved", GIGA_JOURNAL_URL=url)
    for result in (listed, spend, table):
        assert result.exit_code == 0, result.stderr
        assert "s3cret-pw" not in result.stdout + result.stderr
    data = json.loads(listed.stdout)
    assert [e["key"] for e in data["unresolved"]] == ["pg-1"]
    assert data["journal"] == url.replace("s3cret-pw", "***")
    assert json.loads(spend.stdout)["total"]["unknown_runs"] == 1
