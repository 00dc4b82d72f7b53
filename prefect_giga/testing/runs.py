"""The run store: each run's state machine, logs and files, computed from the emulator clock."""

from __future__ import annotations

import random
import shutil
import string
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from prefect_giga.testing.agent import AgentResult, LogRecord
from prefect_giga.testing.clock import isoformat_ms

__all__ = ["TERMINAL_STATUSES", "Run", "RunStore"]

TERMINAL_STATUSES = frozenset({"completed", "failed"})
_ID_ALPHABET = string.ascii_lowercase + string.digits


@dataclass
class Run:
    """One run. Its status is a function of the emulator time, never of wall time.

    ``pending`` until ``created_at + pending_seconds``, then ``running`` for the agent's
    duration, then ``completed`` or ``failed``. Logs are ``None`` until ``logs_delay``
    agent seconds after the start; each record arrives ``logs_delay`` after it was written.

    Attributes:
        id: The run id.
        owner: The checksummed wallet that paid for it.
        tier: The tier key charged.
        price: The price charged, in USD.
        created_at: Emulator time of creation.
        pending_seconds: How long it stays ``pending``.
        logs_delay: Log ingestion lag in agent seconds.
        model: The ``logs.metadata.model`` value.
        session_id: The ``logs.metadata.sessionId`` value.
        workspace: The run's files.
        result: The agent's result (set once the agent returned).
        records: Log records in the order the agent wrote them.
        arrival: Record indices in the order they arrive (shuffled by a fault knob).
        transaction: The settlement transaction hash, once paid.
    """

    id: str
    owner: str
    tier: str
    price: Decimal
    created_at: datetime
    pending_seconds: float
    logs_delay: float
    model: str
    session_id: str
    workspace: Path
    result: AgentResult | None = None
    records: tuple[LogRecord, ...] = ()
    arrival: tuple[int, ...] = ()
    transaction: str | None = None

    @property
    def started_at(self) -> datetime:
        """When the run leaves ``pending``."""
        return self.created_at + timedelta(seconds=self.pending_seconds)

    @property
    def finished_at(self) -> datetime | None:
        """When the run reaches its terminal status (``None`` while the agent runs)."""
        if self.result is None:
            return None
        return self.started_at + timedelta(seconds=max(0.0, self.result.duration))

    def status(self, now: datetime) -> str:
        """The status at emulator time ``now``."""
        if now < self.started_at:
            return "pending"
        finished = self.finished_at
        if finished is None or now < finished:
            return "running"
        assert self.result is not None
        return "completed" if self.result.success else "failed"

    def error_code(self, now: datetime) -> str | None:
        """The ``errorCode`` at ``now`` (only once failed)."""
        if self.status(now) != "failed" or self.result is None:
            return None
        return self.result.error_code or "agent_failed"

    def updated_at(self, now: datetime) -> datetime:
        """The time of the last state change at or before ``now``."""
        finished = self.finished_at
        if finished is not None and now >= finished:
            return finished
        if now >= self.started_at and self.pending_seconds > 0:
            return self.started_at
        return self.created_at

    def summary(self, now: datetime) -> dict[str, Any]:
        """The run as ``/api/list`` shows it."""
        return {
            "id": self.id,
            "status": self.status(now),
            "errorCode": self.error_code(now),
            "createdAt": isoformat_ms(self.created_at),
            "updatedAt": isoformat_ms(self.updated_at(now)),
        }

    def logs(self, now: datetime) -> dict[str, Any] | None:
        """The ``logs`` object at ``now``: ``None`` until ingestion caught up."""
        if now < self.started_at + timedelta(seconds=self.logs_delay):
            return None
        finished = self.finished_at
        completed = isoformat_ms(finished) if finished is not None and now >= finished else None
        slots = sorted(r.at for r in self.records)
        visible = []
        for slot, index in zip(slots, self.arrival, strict=True):
            if now >= self.started_at + timedelta(seconds=slot + self.logs_delay):
                record = self.records[index]
                visible.append(
                    {
                        "seq": record.seq,
                        "timestamp": isoformat_ms(self.started_at + timedelta(seconds=record.at)),
                        "type": record.kind,
                        "message": record.message,
                    }
                )
        return {
            "metadata": {
                "sessionId": self.session_id,
                "startedAt": isoformat_ms(self.started_at),
                "completedAt": completed,
                "model": self.model,
            },
            "records": visible,
        }

    def files(self, now: datetime) -> list[dict[str, Any]]:
        """The workspace listing (empty until the run is terminal)."""
        if self.status(now) not in TERMINAL_STATUSES or not self.workspace.is_dir():
            return []
        entries: list[dict[str, Any]] = []
        for path in sorted(self.workspace.rglob("*")):
            relative = path.relative_to(self.workspace).as_posix()
            if path.is_dir():
                entries.append({"path": relative + "/", "type": "directory", "size": 0})
            elif path.is_file():
                entries.append({"path": relative, "type": "file", "size": path.stat().st_size})
        return entries

    def detail(self, now: datetime, include_files: bool) -> dict[str, Any]:
        """The run as ``/api/read`` shows it."""
        body = self.summary(now)
        body["logs"] = self.logs(now)
        if include_files:
            body["files"] = self.files(now)
        return body

    def resolve_file(self, path: str, now: datetime) -> Path | None:
        """The file behind a listed ``path`` (leading slashes stripped), or ``None``."""
        relative = path.lstrip("/")
        if not relative or self.status(now) not in TERMINAL_STATUSES:
            return None
        if any(part in ("", ".", "..") for part in relative.split("/")) or "\\" in relative:
            return None
        candidate = (self.workspace / relative).resolve()
        root = self.workspace.resolve()
        if root not in candidate.parents or not candidate.is_file():
            return None
        return candidate


class RunStore:
    """Thread-safe run storage with per-wallet ownership and per-run workspaces.

    Args:
        root: Directory that holds one workspace directory per run; when ``None``, a
            temporary directory is created on first use and deleted by `cleanup`.
        seed: Seeds run ids, so a test session produces the same ids every time.

    Example:
        >>> store = RunStore()
        >>> len(store.new_id())
        22
        >>> store.cleanup()
    """

    def __init__(self, root: Path | None = None, *, seed: int = 0) -> None:
        self._root = root
        self._owns_root = root is None
        self._seed = seed
        self._rng = random.Random(seed)  # noqa: S311 - ids for a local emulator
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}

    @property
    def root(self) -> Path:
        """The directory holding the run workspaces (created on first use)."""
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="giga-emulator-"))
            return self._root

    def cleanup(self) -> None:
        """Delete every workspace, and the root directory when the store created it."""
        self.reset()
        with self._lock:
            root, self._root = (self._root, None) if self._owns_root else (None, self._root)
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def new_id(self) -> str:
        """A fresh cuid-like id (``cl`` + 20 lowercase alphanumerics)."""
        with self._lock:
            while True:
                run_id = "cl" + "".join(self._rng.choice(_ID_ALPHABET) for _ in range(20))
                if run_id not in self._runs:
                    return run_id

    def workspace_for(self, run_id: str) -> Path:
        """Create and return the workspace directory of ``run_id``."""
        path = self.root / run_id / "workspace"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add(self, run: Run) -> None:
        """Store a run."""
        with self._lock:
            self._runs[run.id] = run

    def get(self, run_id: str, owner: str | None = None) -> Run | None:
        """A run by id; ``None`` when unknown or (with ``owner``) owned by someone else."""
        with self._lock:
            run = self._runs.get(run_id)
        if run is None or (owner is not None and run.owner.lower() != owner.lower()):
            return None
        return run

    def discard(self, run_id: str) -> None:
        """Forget a run and delete its files."""
        with self._lock:
            self._runs.pop(run_id, None)
        shutil.rmtree(self.root / run_id, ignore_errors=True)

    def all(self) -> list[Run]:
        """Every stored run, oldest first."""
        with self._lock:
            return sorted(self._runs.values(), key=lambda r: (r.created_at, r.id))

    def for_owner(self, owner: str, now: datetime) -> list[Run]:
        """The owner's runs, most recently updated first."""
        mine = [r for r in self.all() if r.owner.lower() == owner.lower()]
        mine.sort(key=lambda r: (r.updated_at(now), r.created_at, r.id), reverse=True)
        return mine

    def reset(self) -> None:
        """Forget every run, delete every workspace and restart the id sequence."""
        with self._lock:
            ids = list(self._runs)
            self._runs.clear()
            self._rng = random.Random(self._seed)  # noqa: S311
            root = self._root
        if root is not None:
            for run_id in ids:
                shutil.rmtree(root / run_id, ignore_errors=True)
