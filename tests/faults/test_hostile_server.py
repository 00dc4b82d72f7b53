"""A hostile or broken server over real sockets: each trick gets a typed error, pays nothing,
and writes nothing outside the destination folder. Asserts on the emulator's ledger."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from prefect_giga import RetryPolicy
from prefect_giga.core.exceptions import (
    FileTooLargeError,
    GigaError,
    GigaProtocolError,
    GigaTransportError,
    QuoteRefusedError,
    UnsafeLinkError,
    UnsafePathError,
)
from prefect_giga.harvest import harvest
from prefect_giga.testing import DEFAULT_PAYEE, GigaEmulator

from .conftest import SigningCounter
from .items import prompt_for, wallet_key
from .report import REPORT, Defence
from .support import Outcome, Trap, fetch_output, files_under, make_client

KEY = wallet_key(100)
OTHER_PAYEE = "0x000000000000000000000000000000000000dEaD"
OTHER_ASSET = "0x" + "ab" * 20


def defence(name: str, error: str, emulator: GigaEmulator, signed: int = 0) -> None:
    """Record a defence of a test whose ledger must stay empty."""
    REPORT.defences.append(
        Defence(name=name, error=error, paid=len(emulator.ledger), signed=signed)
    )


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A folder holding the download destination ``sandbox/out/dest`` and nothing else."""
    (tmp_path / "sandbox" / "out" / "dest").mkdir(parents=True)
    return tmp_path / "sandbox"


def dest_of(sandbox: Path) -> Path:
    return sandbox / "out" / "dest"


def outside(sandbox: Path) -> set[Path]:
    """Files in the sandbox but not under the destination (where they sit, links unresolved)."""
    dest = Path(os.path.abspath(dest_of(sandbox)))
    return {p for p in files_under(sandbox) if dest not in Path(os.path.abspath(p)).parents}


# --- quotes ------------------------------------------------------------------------------

HOSTILE_QUOTES: list[tuple[str, dict[str, Any], str]] = [
    ("quote three times the tier price", {"multiplier": 3}, "price_mismatch"),
    ("quote on another network", {"network": "eip155:84532"}, "network_not_allowed"),
    ("quote in another asset", {"asset": OTHER_ASSET}, "asset_not_allowed"),
    (
        "quote naming another token (extra.name)",
        {"extra": {"name": "USDC", "version": "2"}},
        "token_domain_mismatch",
    ),
    (
        "quote naming another token version (extra.version)",
        {"extra": {"name": "USD Coin", "version": "1"}},
        "token_domain_mismatch",
    ),
    (
        "quote valid for 31 years (maxTimeoutSeconds)",
        {"maxTimeoutSeconds": 10**9},
        "timeout_not_allowed",
    ),
    ("quote with another scheme", {"scheme": "upto"}, "scheme_not_allowed"),
    ("payee outside allowed_payees", {"payee": OTHER_PAYEE}, "payee_not_allowed"),
]


@pytest.mark.parametrize(
    ("name", "trick", "reason"), HOSTILE_QUOTES, ids=[name for name, _, _ in HOSTILE_QUOTES]
)
async def test_start_refuses_a_hostile_quote_before_signing(
    emulator: GigaEmulator,
    signed: SigningCounter,
    name: str,
    trick: dict[str, Any],
    reason: str,
) -> None:
    overrides = dict(trick)
    if "multiplier" in overrides:
        emulator.faults.quote_multiplier = overrides.pop("multiplier")
    if "payee" in overrides:
        emulator.faults.payee_override = overrides.pop("payee")
    emulator.hostile.quote_overrides = overrides
    async with make_client(emulator, KEY, allowed_payees=[DEFAULT_PAYEE]) as giga:
        with pytest.raises(QuoteRefusedError) as caught:
            await giga.start(prompt_for("hostile-quote"), idempotency_key="hostile-quote")
        assert giga.journal.find("hostile-quote") == []
    REPORT.starts += 1
    assert caught.value.reason == reason
    assert signed.count == 0
    assert emulator.paid_requests == {}
    assert emulator.ledger == [] and emulator.runs == []
    defence(name, f"QuoteRefusedError({reason})", emulator)


async def test_payee_change_is_refused_by_pinning_in_a_new_client_and_the_same_one(
    emulator: GigaEmulator, signed: SigningCounter
) -> None:
    other_balance = emulator.balance_of(OTHER_PAYEE)
    async with make_client(emulator, KEY) as giga:
        first = await giga.start(prompt_for("pin-1"), idempotency_key="pin-1")
        assert first.receipt is not None
        emulator.faults.payee_override = OTHER_PAYEE
        async with make_client(emulator, KEY) as fresh:  # a new process, same journal
            with pytest.raises(QuoteRefusedError) as caught:
                await fresh.start(prompt_for("pin-2"), idempotency_key="pin-2")
        assert caught.value.reason == "payee_changed"
        assert signed.count == 1
        # The first client may pay from its remembered quote (to the pinned payee); the
        # server refuses that, the fresh quote names the new payee, and pinning refuses it.
        with pytest.raises(QuoteRefusedError) as again:
            await giga.start(prompt_for("pin-3"), idempotency_key="pin-3")
        assert again.value.reason == "payee_changed"
    REPORT.starts += 3
    [entry] = emulator.ledger
    assert entry.run_id == first.run_id and entry.payee.lower() == DEFAULT_PAYEE.lower()
    assert emulator.balance_of(OTHER_PAYEE) == other_balance
    REPORT.defences.append(
        Defence(
            "payee differs from the one last paid (pinning)", "QuoteRefusedError(payee_changed)"
        )
    )


# --- redirects ---------------------------------------------------------------------------


async def test_redirected_quote_is_not_followed_and_nothing_is_signed(
    emulator: GigaEmulator, signed: SigningCounter
) -> None:
    with Trap() as trap:
        emulator.faults.redirects["start"] = trap.url + "/api/start"
        async with make_client(emulator, KEY) as giga:
            with pytest.raises(GigaProtocolError, match="redirect"):
                await giga.start(prompt_for("redirect-quote"), idempotency_key="redirect-quote")
        assert trap.requests == []
    REPORT.starts += 1
    assert signed.count == 0 and emulator.ledger == []
    defence("quote request redirected to another host", "GigaProtocolError", emulator)


async def test_redirected_payment_never_reaches_the_other_host_and_a_retry_pays_once(
    emulator: GigaEmulator, signed: SigningCounter
) -> None:
    key = "redirect-paid"
    with Trap() as trap:
        emulator.hostile.redirect_proofs("start", trap.url + "/api/start")
        async with make_client(emulator, KEY) as giga:
            with pytest.raises(GigaProtocolError, match="redirect"):
                await giga.start(prompt_for(key), idempotency_key=key)
            assert trap.requests == []
            assert emulator.ledger == [] and emulator.paid_requests == {307: 1}
            defence("paid request redirected to another host", "GigaProtocolError", emulator, 1)
            emulator.hostile.clear()
            started = await giga.start(prompt_for(key), idempotency_key=key)
    REPORT.starts += 1
    [entry] = emulator.ledger
    assert entry.run_id == started.run_id
    assert started.receipt is not None and entry.nonce == started.receipt.payment_nonce


@pytest.mark.parametrize("endpoint", ["read", "list", "file-url"])
async def test_redirected_sign_in_proof_never_reaches_the_other_host(
    emulator: GigaEmulator, endpoint: str
) -> None:
    with Trap() as trap:
        async with make_client(emulator, KEY) as giga:
            started = await giga.start(prompt_for("siwx"), idempotency_key="siwx")
            emulator.hostile.redirect_proofs(endpoint, f"{trap.url}/api/{endpoint}")
            with pytest.raises(GigaProtocolError, match="redirect"):
                if endpoint == "read":
                    await giga.read(started.run_id)
                elif endpoint == "list":
                    await giga.list_runs()
                else:
                    await giga.file_url(started.run_id, "output.md")
        assert trap.requests == []
    REPORT.starts += 1
    assert len(emulator.ledger) == 1
    REPORT.defences.append(
        Defence(f"/api/{endpoint} with a sign-in proof redirected", "GigaProtocolError")
    )


async def test_download_redirected_to_another_http_origin_is_refused_and_never_fetched(
    emulator: GigaEmulator, sandbox: Path
) -> None:
    with Trap() as trap:
        async with make_client(emulator, KEY) as giga:
            started = await giga.start(prompt_for("file-redirect"), idempotency_key="file-redirect")
            assert await fetch_output(giga, started.run_id, "file-redirect", dest_of(sandbox))
            emulator.faults.redirects["file"] = trap.url + "/mirror/output.md"
            with pytest.raises(UnsafeLinkError):
                await giga.download(started.run_id, "output.md", dest_of(sandbox) / "mirror")
        assert trap.requests == []
    REPORT.starts += 1
    assert not (dest_of(sandbox) / "mirror" / "output.md").exists()
    assert outside(sandbox) == set()
    REPORT.defences.append(
        Defence(
            "file download redirected to another origin over http",
            "UnsafeLinkError, nothing fetched",
            outside_writes=len(outside(sandbox)),
        )
    )


# --- files -------------------------------------------------------------------------------


def escaping_paths(sandbox: Path) -> list[str]:
    return [
        "../escape-parent.txt",
        "../../escape-grandparent.txt",
        "sub/../../../escape-dotdot.txt",
        "..\\..\\escape-backslash.txt",
        str(sandbox / "escape-absolute.txt"),
        "link/escape-symlink.txt",
    ]


async def test_listed_paths_escaping_the_destination_are_refused(
    emulator: GigaEmulator, sandbox: Path
) -> None:
    paths = escaping_paths(sandbox)
    emulator.hostile.listed_files = {path: b"#!/bin/sh\necho pwned\n" for path in paths}
    (sandbox / "elsewhere").mkdir()
    async with make_client(emulator, KEY) as giga:
        started = await giga.start(prompt_for("paths"), idempotency_key="paths")
        run_root = dest_of(sandbox) / started.run_id
        run_root.mkdir()
        (run_root / "link").symlink_to(sandbox / "elsewhere", target_is_directory=True)
        await fetch_output(giga, started.run_id, "paths", dest_of(sandbox))
        links_before = emulator.request_count("file-url")
        for path in paths:
            with pytest.raises(UnsafePathError):
                await giga.download(started.run_id, path, run_root)
        assert emulator.request_count("file-url") == links_before  # refused before asking
        run = await giga.read(started.run_id, include_files=True)
        hostile = [f for f in run.files or [] if f.path in paths]
        assert {f.path for f in hostile} == set(paths)
        with pytest.raises(UnsafePathError):
            await harvest(giga, run.model_copy(update={"files": hostile}), dest_of(sandbox))
        assert emulator.request_count("file-url") == links_before
    REPORT.starts += 1
    assert outside(sandbox) == set()
    assert not list((sandbox / "elsewhere").iterdir())
    assert len(emulator.ledger) == 1
    REPORT.defences.append(
        Defence(
            f"file paths escaping the destination ({len(paths)} kinds, symlink included)",
            "UnsafePathError",
            outside_writes=len(outside(sandbox)),
        )
    )


async def test_file_above_the_cap_is_refused_and_nothing_is_kept(
    emulator: GigaEmulator, sandbox: Path
) -> None:
    async with make_client(emulator, KEY, max_download_bytes=256 * 1024) as giga:
        started = await giga.start(prompt_for("big", " [size=1MB]"), idempotency_key="big")
        assert await fetch_output(giga, started.run_id, "big", dest_of(sandbox))
        with pytest.raises(FileTooLargeError):
            await giga.download(started.run_id, "large.bin", dest_of(sandbox))
        run = await giga.read(started.run_id, include_files=True)
        with pytest.raises(FileTooLargeError):
            await harvest(giga, run, dest_of(sandbox) / "harvest", max_file_bytes=256 * 1024)
    REPORT.starts += 1
    names = {p.name for p in files_under(sandbox)}
    assert "large.bin" not in names and not any(n.endswith(".part") for n in names)
    REPORT.defences.append(Defence("file larger than the cap (declared size)", "FileTooLargeError"))


async def test_endless_download_stops_at_the_cap(emulator: GigaEmulator, sandbox: Path) -> None:
    async with make_client(emulator, KEY, max_download_bytes=512 * 1024) as giga:
        started = await giga.start(prompt_for("endless-capped"), idempotency_key="endless-capped")
        assert await fetch_output(giga, started.run_id, "endless-capped", dest_of(sandbox))
        emulator.faults.never_end("file", chunk=b"x" * 65536, interval=0.001)
        with pytest.raises(FileTooLargeError):
            await asyncio.wait_for(
                giga.download(started.run_id, "output.md", dest_of(sandbox) / "again"), 10
            )
    REPORT.starts += 1
    assert not (dest_of(sandbox) / "again" / "output.md").exists()
    assert not any(p.name.endswith(".part") for p in files_under(sandbox))
    REPORT.defences.append(
        Defence("file body that never ends, no length, above the cap", "FileTooLargeError")
    )


# --- replies that never start, never end, or are not JSON --------------------------------


async def test_reply_that_never_starts_times_out_with_a_typed_error(
    emulator: GigaEmulator,
) -> None:
    retry = RetryPolicy(attempts=2, initial_backoff=0.01)
    async with make_client(emulator, KEY, timeout=0.3, retry=retry) as giga:
        started = await giga.start(prompt_for("silent"), idempotency_key="silent")
        emulator.faults.hold_reply("read", 30)
        with pytest.raises(GigaTransportError):
            await asyncio.wait_for(giga.read(started.run_id), 10)
    REPORT.starts += 1
    REPORT.faults["read reply never starts"] += 1
    REPORT.defences.append(Defence("reply that never starts (read)", "GigaTransportError"))


NEVER_ENDS = "the client has no overall deadline per request: httpx's read timeout restarts "


async def test_read_reply_that_never_ends_raises_a_typed_error(emulator: GigaEmulator) -> None:
    async with make_client(emulator, KEY, timeout=0.5) as giga:
        started = await giga.start(prompt_for("endless-read"), idempotency_key="endless-read")
        emulator.faults.never_end("read", interval=0.02)
        REPORT.faults["read reply never ends"] += 1
        try:
            # Each of FAST_RETRY's tries is cut off at the 0.5 s deadline (a safety net only).
            await asyncio.wait_for(giga.read(started.run_id), 10)
        except GigaError as exc:
            assert "no complete reply within 0.5 s" in str(exc)
            return
        except asyncio.TimeoutError:
            pytest.fail("read() was still waiting after 10 s (timeout=0.5 s per try)")
        pytest.fail("read() returned a reply that never ends")


async def test_paid_reply_that_never_ends_is_reconciled(emulator: GigaEmulator) -> None:
    async with make_client(emulator, KEY, timeout=0.5) as giga:
        emulator.faults.never_end("start", interval=0.02, count=1)
        REPORT.faults["paid reply never ends"] += 1
        try:
            started = await asyncio.wait_for(
                giga.start(prompt_for("endless-paid"), idempotency_key="endless-paid"), 2.5
            )
        except asyncio.TimeoutError:
            pytest.fail("start() was still waiting after 2.5 s (timeout=0.5 s)")
    assert started.reconciled and len(emulator.ledger) == 1


async def test_download_that_never_ends_raises_a_typed_error(
    emulator: GigaEmulator, sandbox: Path
) -> None:
    async with make_client(emulator, KEY, timeout=0.5) as giga:
        started = await giga.start(prompt_for("endless-file"), idempotency_key="endless-file")
        assert await fetch_output(giga, started.run_id, "endless-file", dest_of(sandbox))
        emulator.faults.never_end("file", interval=0.02)
        REPORT.faults["download never ends"] += 1
        target = dest_of(sandbox) / "endless"
        try:
            # Each of FAST_RETRY's tries gives up once the trickle falls behind the minimum
            # rate after 0.5 s; 10 s is a safety net only.
            await asyncio.wait_for(giga.download(started.run_id, "output.md", target), 10)
        except GigaError as exc:
            assert "too slowly" in str(exc)
            assert not (target / "output.md").exists()  # nothing half-written is kept
            return
        except asyncio.TimeoutError:
            pytest.fail("download() was still writing after 10 s (timeout=0.5 s per try)")
        pytest.fail("download() finished a file that never ends")


@pytest.mark.parametrize("endpoint", ["read", "list", "file-url"])
async def test_reply_that_is_not_json_raises_a_protocol_error(
    emulator: GigaEmulator, endpoint: str
) -> None:
    async with make_client(emulator, KEY) as giga:
        started = await giga.start(prompt_for("garbled"), idempotency_key="garbled")
        emulator.faults.garble(endpoint)
        with pytest.raises(GigaProtocolError, match="not JSON"):
            if endpoint == "read":
                await giga.read(started.run_id)
            elif endpoint == "list":
                await giga.list_runs()
            else:
                await giga.file_url(started.run_id, "output.md")
    REPORT.starts += 1
    REPORT.faults[f"{endpoint} reply not JSON"] += 1
    assert len(emulator.ledger) == 1
    REPORT.defences.append(Defence(f"/api/{endpoint} reply that is not JSON", "GigaProtocolError"))


async def test_paid_reply_that_is_not_json_is_reconciled_and_paid_once(
    emulator: GigaEmulator, sandbox: Path
) -> None:
    async with make_client(emulator, KEY) as giga:
        emulator.faults.garble("start", count=1)
        started = await giga.start(prompt_for("garbled-paid"), idempotency_key="garbled-paid")
        fetched = await fetch_output(giga, started.run_id, "garbled-paid", dest_of(sandbox))
    REPORT.starts += 1
    REPORT.faults["paid reply not JSON"] += 1
    REPORT.unknown += 1
    REPORT.starts_resolved([Outcome("garbled-paid", started)])
    REPORT.outputs_checked += fetched
    assert fetched and started.reconciled
    [entry] = emulator.ledger
    assert entry.run_id == started.run_id
    REPORT.defences.append(
        Defence(
            "paid reply (200, after settling) that is not JSON", "reconciled, paid once", signed=1
        )
    )
