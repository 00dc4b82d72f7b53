"""Defaults over real sockets: the per-run cap of a harvest, and attachments sized before read."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_giga import GigaClient
from prefect_giga.core.exceptions import AttachmentError, FileTooLargeError
from prefect_giga.harvest import harvest
from prefect_giga.testing import GigaEmulator
from tests.faults.items import prompt_for
from tests.faults.support import read_until_terminal

from .support import TALLY


async def test_a_run_listing_more_than_its_cap_is_refused_before_any_download(
    emulator: GigaEmulator, make_client: Callable[..., GigaClient], dest: Path
) -> None:
    async with make_client() as giga:
        started = await giga.start(prompt_for("run-cap", " [size=1MB]"), idempotency_key="cap")
        await read_until_terminal(giga, started.run_id)
        run = await giga.read(started.run_id, include_files=True)
        links_before = emulator.request_count("file-url")
        with pytest.raises(FileTooLargeError, match="max_run_bytes") as caught:
            await harvest(giga, run, dest, max_run_bytes=512 * 1024)
        assert emulator.request_count("file-url") == links_before
        # A listing that understates sizes is caught while the bytes arrive.
        understated = run.model_copy(
            update={"files": [f.model_copy(update={"size": 1}) for f in run.files or []]}
        )
        with pytest.raises(FileTooLargeError, match="max_run_bytes"):
            await harvest(giga, understated, dest, max_run_bytes=512 * 1024)
    TALLY.case("defaults", caught.value)
    names = {p.name for p in dest.rglob("*") if p.is_file()}
    assert "large.bin" not in names and not any(n.endswith(".part") for n in names)


@pytest.mark.parametrize("kind", ["fifo", "device", "too large"])
async def test_an_attachment_is_sized_before_it_is_read_and_nothing_is_paid(
    emulator: GigaEmulator, make_client: Callable[..., GigaClient], tmp_path: Path, kind: str
) -> None:
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)  # opening it for reading would block for ever
    elif kind == "device":
        path = Path("/dev/zero")  # reading it would never end
    else:
        path = tmp_path / "sparse.bin"
        with path.open("wb") as handle:
            handle.truncate(64 * 1024 * 1024)
    async with make_client(max_request_bytes=1024 * 1024) as giga:
        with pytest.raises(AttachmentError, match="nothing was") as caught:
            await giga.start("Read this", files=[path], idempotency_key=f"attach-{kind}")
    TALLY.case("defaults", caught.value)
    assert emulator.ledger == [] and emulator.request_count("start") == 0
