"""One real Prefect server, work pool, worker and emulator shared by the deployed tests.

The way a user runs it (docs/recipes/scheduled-deployment.md): ``prefect server start``
(own ``PREFECT_HOME``, SQLite, a free port), ``prefect block register -m prefect_giga``, the
wallet saved as the ``giga-wallet`` block, ``prefect work-pool create --type process``,
a second pool ``giga-chunks`` with two workers for spread batches, ``prefect deploy`` of
``deployments/prefect.yaml`` (which creates the downstream
automation from its ``triggers``) (byte for byte, from a copy of the
project in a temporary folder so outputs land there), ``prefect worker start --limit``.
The emulator runs in this process on loopback; the worker's flow-run subprocesses reach it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

import pytest
from eth_account import Account
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.schedules import IntervalSchedule
from prefect.events.worker import EventsWorker
from prefect.filesystems import LocalFileSystem
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.workers.process import ProcessWorker

from prefect_giga import GigaCredentials
from prefect_giga.testing import EmulatorConfig, GigaEmulator

from .support import Processes, free_port, run_cli, wait_for_health

REPO = Path(__file__).resolve().parents[2]
POOL = "giga-pool"
WORKER_LIMIT = 4
CHUNK_POOL = "giga-chunks"
CHUNK_WORKERS = ("giga-chunks-a", "giga-chunks-b")
CHUNK_WORKER_LIMIT = 2
"""Two workers for the chunks of spread batches (tests/deployed/test_spread.py), two runs each."""


@dataclass
class Deployed:
    """What the deployed tests share."""

    api_url: str
    project: Path
    journal: Path
    emulator: GigaEmulator
    credentials: GigaCredentials
    env: dict[str, str]
    logs: Path
    interval_credentials: GigaCredentials
    interval_anchor: datetime
    daily_credentials: GigaCredentials
    daily_flow_run_id: UUID
    daily_since: datetime

    async def deployment_id(self, name: str) -> str:
        """The id of deployment ``flow-name/deployment-name``."""
        async with get_client() as client:
            return str((await client.read_deployment_by_name(name)).id)


def _environment(home: Path, api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GIGA_"))}
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
            "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_WORKER_PREFETCH_SECONDS": "2",
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env


@pytest.fixture(scope="package")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """Server, block, pool, deployments, worker and automation, torn down at the end."""
    root = tmp_path_factory.mktemp("deployed")
    home, project, logs = root / "prefect-home", root / "project", root / "logs"
    logs.mkdir()
    shutil.copytree(REPO / "flows", project / "flows")
    shutil.copytree(REPO / "deployments", project / "deployments")
    journal = root / "journal-volume" / "journal.sqlite3"
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = _environment(home, api_url)
    processes = Processes()
    emulator = GigaEmulator(EmulatorConfig(time_scale=1000.0, logs_delay_seconds=0.5))
    emulator.start()
    try:
        server_log = logs / "server.log"
        processes.start(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port), "--no-ui"],
            env, project, server_log,
        )  # fmt: skip
        wait_for_health(api_url, processes.started[-1], server_log)
        with temporary_settings({PREFECT_API_URL: api_url}):
            # What `prefect block register -m prefect_giga` and `prefect work-pool create
            # giga-pool --type process` do, in this process (each CLI start costs seconds).
            GigaCredentials.register_type_and_schema()
            _create_process_pool(POOL)
            _create_process_pool(CHUNK_POOL)
            processes.start(
                [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL,
                 "--limit", str(WORKER_LIMIT)],
                env, project, logs / "worker.log",
            )  # fmt: skip
            for name in CHUNK_WORKERS:
                processes.start(
                    [sys.executable, "-m", "prefect", "worker", "start", "--pool", CHUNK_POOL,
                     "--name", name, "--limit", str(CHUNK_WORKER_LIMIT)],
                    env, project, logs / f"{name}.log",
                )  # fmt: skip
            key = "0x" + bytes(Account.create().key).hex()
            credentials = GigaCredentials(private_key=key, base_url=emulator.url)
            credentials.save("giga-wallet", overwrite=True)
            LocalFileSystem(basepath=str(project / "storage")).save("giga-reports")
            # The pull step's working directory is `{{ $PWD }}` as `prefect deploy` sees it.
            deploy_env = {**env, "GIGA_JOURNAL_PATH": str(journal), "PWD": str(project)}
            run_cli(
                ["--no-prompt", "deploy", "--prefect-file", "deployments/prefect.yaml", "--all"],
                deploy_env,
                project,
            )
            interval = _add_interval_schedule(emulator)
            daily = _start_daily_report(emulator)
            try:
                yield Deployed(
                    api_url, project, journal, emulator, credentials, env, logs, *interval, *daily
                )
            finally:
                _drain_event_and_log_workers()
    finally:
        processes.stop_all()
        emulator.close()


def _drain_event_and_log_workers(timeout: float = 30.0) -> None:
    """Send this process's queued events and logs while the server still answers, as
    ``prefect_test_harness`` does: a worker left holding events for a stopped server would
    wait for it at interpreter exit, and the test run would never end."""
    EventsWorker.drain_all(timeout=timeout)
    APILogWorker.drain_all(timeout=timeout)


def _add_interval_schedule(emulator: GigaEmulator) -> tuple[GigaCredentials, datetime]:
    """A test-only hourly schedule on the nightly deployment, its first run moments away.

    It pays from a wallet of its own and writes to its own folder (schedule parameters), so
    it can run while the other tests do and each test counts only its own payments. The
    nightly cron of `deployments/prefect.yaml` stays as it is.
    """
    from prefect.client.orchestration import get_client as sync_get_client

    key = "0x" + bytes(Account.create().key).hex()
    wallet = GigaCredentials(private_key=key, base_url=emulator.url)
    wallet.save("giga-wallet-interval", overwrite=True)
    anchor = datetime.now(timezone.utc) + timedelta(seconds=5)
    with sync_get_client(sync_client=True) as client:
        nightly = client.read_deployment_by_name("giga-nightly-reports/nightly-reports")
        client.create_deployment_schedules(
            nightly.id,
            [(IntervalSchedule(interval=timedelta(hours=1), anchor_date=anchor), True)],
            parameters={
                "credentials_block": "giga-wallet-interval",
                "dest": "giga-outputs/interval",
            },
        )
    return wallet, anchor


DAILY_DAY = "2026-12-03"


def _start_daily_report(emulator: GigaEmulator) -> tuple[GigaCredentials, UUID, datetime]:
    """A run of the daily-report deployment, started now so it runs alongside the others.

    It pays from a wallet of its own (a parameter), so each test counts its own payments.
    """
    from prefect.client.orchestration import get_client as sync_get_client

    key = "0x" + bytes(Account.create().key).hex()
    wallet = GigaCredentials(private_key=key, base_url=emulator.url)
    wallet.save("giga-wallet-daily", overwrite=True)
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    with sync_get_client(sync_client=True) as client:
        daily = client.read_deployment_by_name("giga-daily-report/daily-report")
        flow_run = client.create_flow_run_from_deployment(
            daily.id, parameters={"day": DAILY_DAY, "credentials_block": "giga-wallet-daily"}
        )
    return wallet, flow_run.id, since


def _create_process_pool(name: str) -> None:
    """A process work pool, with the process worker's default job template."""
    from prefect.client.orchestration import get_client as sync_get_client

    template = ProcessWorker.get_default_base_job_template()
    with sync_get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(name=name, type="process", base_job_template=template)
        )
