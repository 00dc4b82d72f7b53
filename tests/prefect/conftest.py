"""Prefect-layer test setup: one real Prefect API and one emulator for the whole session.

Every test gets a fresh wallet, so ledger assertions filter by payer and never see another
test's payments; batch ids are fresh uuids, so cached starts never collide.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eth_account import Account
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import Artifact, Log
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogHandler, APILogWorker
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
from prefect.testing.utilities import prefect_test_harness

from prefect_giga import GigaCredentials
from prefect_giga.spread import chunk_flow
from prefect_giga.testing import EmulatorConfig, GigaEmulator, LedgerEntry, tier_table

# Kept importable from here for tests that take the key from their conftest.
from ..vectors import TEST_KEY as TEST_KEY

FAST = {"poll_interval": 0.05, "timeout": 60.0}
"""Flow keyword arguments that keep polling quick; the timeout is only a safety net."""


@pytest.fixture(scope="session", autouse=True)
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A real Prefect API (temporary SQLite) and result storage private to this session."""
    # Prefect's event and log workers are process-wide and keep the API URL they started
    # with: drop any left by an earlier server of this session (the deployed tests' one), or
    # this API's events would queue for a server that is gone and the run would never exit.
    EventsWorker.drain_all(timeout=30)
    APILogWorker.drain_all(timeout=30)
    storage = tmp_path_factory.mktemp("prefect-results")
    with (
        temporary_settings({PREFECT_LOCAL_STORAGE_PATH: storage}),
        prefect_test_harness(server_startup_timeout=60),
    ):
        yield


@pytest.fixture(scope="session")
def emulator() -> Iterator[GigaEmulator]:
    """The emulator over a real socket, 1000 agent seconds per real second."""
    # The seed text's tiers ($0.50 default), the prices these tests assert.
    config = EmulatorConfig(time_scale=1000.0, logs_delay_seconds=1.0, **tier_table("seed"))
    server = GigaEmulator(config)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def private_key() -> str:
    """A fresh throwaway wallet's key for each test (the emulator funds every wallet)."""
    return "0x" + bytes(Account.create().key).hex()


@pytest.fixture
def credentials(emulator: GigaEmulator, private_key: str) -> GigaCredentials:
    """The block for this test's wallet, pointed at the emulator."""
    return GigaCredentials(private_key=private_key, base_url=emulator.url)


NO_WORKER_CHUNKS = "giga-run-prompts-chunk/no-workers"
"""A chunk deployment whose pool no worker serves: its chunk runs wait until cancelled."""


@pytest.fixture
async def wallet_block(credentials: GigaCredentials, batch_id: str) -> str:
    """This test's wallet saved as a block (``wallet-<batch_id>``), and `NO_WORKER_CHUNKS`
    applied; the block's name, as chunk runs need it."""
    name = f"wallet-{batch_id}"
    await credentials.asave(name)
    await (await chunk_flow.ato_deployment(name="no-workers")).apply()
    return name


@pytest.fixture
def batch_id() -> str:
    """A batch id no other test (or earlier session) uses."""
    return f"batch-{uuid.uuid4()}"


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """Where this test's runs are harvested to."""
    return tmp_path / "outputs"


@pytest.fixture
def prefect_caplog(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """``caplog`` at DEBUG, Prefect's own loggers included (they propagate to the root)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="prefect")
    return caplog


def payments_by(emulator: GigaEmulator, address: str) -> list[LedgerEntry]:
    """The emulator's settled payments made by ``address``, oldest first."""
    return [e for e in emulator.ledger if e.payer.lower() == address.lower()]


async def all_artifacts_of(flow_run_id: UUID) -> list[Artifact]:
    """Every artifact a flow run published (all attempts), oldest first, via the Prefect API."""
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return sorted(artifacts, key=lambda a: (a.created, str(a.id)))


async def artifacts_of(flow_run_id: UUID) -> dict[str, Artifact]:
    """The latest artifact of each key a flow run published, read back through the Prefect API."""
    return {a.key or str(a.id): a for a in await all_artifacts_of(flow_run_id)}


async def logs_of(flow_run_id: UUID) -> list[Log]:
    """Every log line of a flow run (and its task runs) stored by the Prefect API."""
    await APILogHandler.aflush()
    async with get_client() as client:
        logs: list[Log] = []
        while True:
            page = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                limit=200,
                offset=len(logs),
            )
            logs.extend(page)
            if len(page) < 200:
                return logs


def table_rows(artifact: Artifact) -> list[dict[str, Any]]:
    """The rows of a table artifact."""
    data = artifact.data
    rows = json.loads(data) if isinstance(data, str) else data
    assert isinstance(rows, list)
    return rows
