"""Processes and waits for the deployed-operation tests: a real Prefect server and worker.

Every process is started in a session of its own and ended by its process group id at
teardown, so the flow-run subprocesses a worker spawned end with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter
from prefect.events.schemas.events import ReceivedEvent

SERVER_START_TIMEOUT = 300.0
FLOW_RUN_TIMEOUT = 300.0
"""Deadlines for waiting on the real server and its worker (a busy 2-core machine)."""

PREFECT_CLI = [sys.executable, "-m", "prefect"]


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Processes:
    """The processes a test module started, each the leader of its own process group."""

    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        """Start ``args`` in a new session, output appended to ``log``."""
        with log.open("ab") as out:
            process = subprocess.Popen(
                args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started.append(process)

    def stop_all(self) -> None:
        """Newest first: SIGTERM its process group, then SIGKILL what is left after a grace."""
        for process in reversed(self.started):
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(timeout=15)
            _signal_group(process, signal.SIGKILL)  # children left in the group


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run a ``prefect`` CLI command to completion; fail the test with its output if it fails."""
    done = subprocess.run(
        [*PREFECT_CLI, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SERVER_START_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"prefect {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def wait_for_health(api_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until the server answers ``/health`` (it may take a while on a busy machine)."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"prefect server exited early:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"prefect server did not start:\n{log.read_text()[-4000:]}")


async def wait_until(
    what: str,
    check: Callable[[], Any],
    timeout: float = FLOW_RUN_TIMEOUT,
    interval: float = 0.5,
) -> Any:
    """Poll the async or sync ``check`` until it returns something truthy, with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


async def final_flow_run(client: PrefectClient, flow_run_id: UUID) -> FlowRun:
    """The flow run once it reached a final state (Completed, Failed, Cancelled, Crashed)."""

    async def final() -> FlowRun | None:
        run = await client.read_flow_run(flow_run_id)
        return run if run.state is not None and run.state.is_final() else None

    result: FlowRun = await wait_until(f"flow run {flow_run_id} to finish", final)
    return result


async def read_events(
    client: PrefectClient, prefixes: Iterable[str], since: datetime
) -> list[ReceivedEvent]:
    """Every event whose name starts with one of ``prefixes`` since ``since``, via the API."""
    page = await client.read_events(
        EventFilter(
            occurred=EventOccurredFilter(
                since=since, until=datetime.now(timezone.utc) + timedelta(minutes=5)
            ),
            event=EventNameFilter(prefix=list(prefixes)),
        ),
        limit=50,
    )
    events = list(page.events)
    next_page = page.next_page
    while next_page:
        page = await client.read_events_page(str(next_page))
        events += page.events
        next_page = page.next_page
    return events


def related_ids(event: ReceivedEvent, role: str) -> list[str]:
    """The ids of the event's related resources that play ``role``."""
    return [r.id for r in event.related if r.role == role]


def kill_process_tree(pid: int) -> list[int]:
    """SIGKILL ``pid`` and every process below it (Linux ``/proc``), as a crash would."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, queue = [], [pid]
    while queue:
        current = queue.pop()
        tree.append(current)
        queue += children.get(current, [])
    for member in reversed(tree):  # the deepest first, so no child outlives its parent
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)
    return tree
