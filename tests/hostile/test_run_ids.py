"""A server that sends run ids which climb out of folders, or another run's id.

Each case goes through `GigaClient` (and `harvest`), and checks what reached disk (the
sandbox around the destination), the network (requests the emulator counted) and the
payments (the ledger).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_giga import GigaClient
from prefect_giga.core.exceptions import GigaConfigError, GigaProtocolError, UnsafePathError
from prefect_giga.core.models import Run
from prefect_giga.harvest import harvest, remote_key
from prefect_giga.testing import GigaEmulator
from tests.faults.items import prompt_for
from tests.faults.support import read_until_terminal

from .support import TALLY, files_outside

HOSTILE_IDS = [
    "../../escape",
    "..",
    "/giga-escape-absolute",
    "a/b",
    "a\\b",
    "run\x00x",
    "x" * 129,
    "",
]


async def _finished_run(giga: GigaClient, key: str) -> str:
    started = await giga.start(prompt_for(key), idempotency_key=key)
    await read_until_terminal(giga, started.run_id)
    return started.run_id


@pytest.mark.parametrize("bad_id", HOSTILE_IDS, ids=repr)
async def test_read_refuses_a_reply_id_that_is_not_a_run_id(
    emulator: GigaEmulator,
    make_client: Callable[..., GigaClient],
    sandbox: Path,
    dest: Path,
    bad_id: str,
) -> None:
    async with make_client() as giga:
        run_id = await _finished_run(giga, "bad-id")
        emulator.hostile.reply_run_id = bad_id
        links_before = emulator.request_count("file-url")
        with pytest.raises(GigaProtocolError) as caught:
            await giga.read(run_id, include_files=True)
        with pytest.raises(GigaProtocolError):
            await giga.list_runs()
    TALLY.case("run id", caught.value)
    assert emulator.request_count("file-url") == links_before  # no file asked for
    assert files_outside(sandbox, dest) == [] and list(dest.iterdir()) == []
    assert len(emulator.ledger) == 1


async def test_read_refuses_a_reply_for_another_run(
    emulator: GigaEmulator, make_client: Callable[..., GigaClient], dest: Path
) -> None:
    async with make_client() as giga:
        first = await _finished_run(giga, "mine-1")
        second = await _finished_run(giga, "mine-2")
        emulator.hostile.reply_run_id = second
        with pytest.raises(GigaProtocolError, match="another run") as caught:
            await giga.read(first, include_files=True)
    TALLY.case("run id", caught.value)
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("bad_id", ["../x", "a/b", ""], ids=repr)
async def test_asking_with_an_invalid_id_sends_nothing(
    emulator: GigaEmulator, make_client: Callable[..., GigaClient], dest: Path, bad_id: str
) -> None:
    async with make_client() as giga:
        with pytest.raises(GigaConfigError) as caught:
            await giga.read(bad_id)
        with pytest.raises(GigaConfigError):
            await giga.download(bad_id, "output.md", dest)
        with pytest.raises(GigaConfigError):
            await giga.file_url(bad_id, "output.md")
    TALLY.case("run id", caught.value)
    assert sum(emulator.request_count(e) for e in ("read", "file-url", "file")) == 0
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("bad_id", ["../../escape", "/giga-escape-absolute", "a/../../b"], ids=repr)
async def test_harvest_refuses_a_run_whose_id_was_never_checked(
    emulator: GigaEmulator,
    make_client: Callable[..., GigaClient],
    sandbox: Path,
    dest: Path,
    bad_id: str,
) -> None:
    async with make_client() as giga:
        run_id = await _finished_run(giga, "unchecked")
        run = await giga.read(run_id, include_files=True)
        forged = Run.model_construct(**{**dict(run), "id": bad_id})  # skips validation
        links_before = emulator.request_count("file-url")
        with pytest.raises(GigaProtocolError) as caught:
            await harvest(giga, forged, dest)
    TALLY.case("run id", caught.value)
    assert emulator.request_count("file-url") == links_before
    assert files_outside(sandbox, dest) == [] and list(dest.iterdir()) == []


@pytest.mark.parametrize("relative", ["../x", "a/../../x", "/abs", "a\\..\\x", "", "."])
def test_remote_block_keys_stay_under_the_run_folder(relative: str) -> None:
    with pytest.raises(UnsafePathError) as caught:
        remote_key("reports", "run_1", relative)
    TALLY.case("run id", caught.value)


def test_remote_block_key_refuses_an_unchecked_run_id() -> None:
    with pytest.raises(GigaProtocolError) as caught:
        remote_key("reports", "../run", "a.md")
    TALLY.case("run id", caught.value)
    assert remote_key("", "run_1", "a/b.md") == "run_1/a/b.md"
