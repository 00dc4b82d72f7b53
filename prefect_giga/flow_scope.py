"""What one flow run owns: its Giga clients, run watchers and start keys, released at its end.

Every task of a flow run that talks to Giga with the same wallet, server and settings shares
one `GigaClient` (so its sign-in form, remembered quotes and connection pool), and every wait
of one cadence shares one `RunWatcher`. The keys a start task computed and the count of
identical starts live here too. All of it belongs to the flow run: `run_prompt` and
`run_prompts` close it when they end; for your own flows it is released once the flow run
has reached a final state, at the latest when the next flow run of the process first talks
to Giga, so a long-lived worker does not grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext, TaskRunContext

from .client.async_client import GigaClient
from .client.watcher import RunWatcher
from .core.models import Quote
from .credentials import GigaCredentials

__all__ = [
    "FlowScope",
    "arelease_finished_scopes",
    "current_scope",
    "live_scope_count",
    "owned_scope",
    "payment_check",
    "release_finished_scopes",
    "run_payment_check",
]

PaymentCheck = Callable[[Quote], Awaitable[None]]

_PAYMENT_CHECK: ContextVar[PaymentCheck | None] = ContextVar("giga_payment_check", default=None)
_ACTIVE: ContextVar[FlowScope | None] = ContextVar("giga_flow_scope", default=None)


async def run_payment_check(quote: Quote) -> None:
    """A shared client's ``before_payment``: the check of the start being paid, if any.

    Example:
        ```python
        giga = credentials.get_client(before_payment=run_payment_check)
        ```
    """
    check = _PAYMENT_CHECK.get()
    if check is not None:
        await check(quote)


@contextlib.contextmanager
def payment_check(check: PaymentCheck | None) -> Iterator[None]:
    """Run ``check`` before any payment signed inside this block (on this task's context).

    A flow run's client is shared, so a start's own limits (a batch budget) travel with the
    start instead of living on the client.

    Example:
        ```python
        with payment_check(lambda quote: budget_check(quote)):
            started = await giga.start(prompt)
        ```
    """
    token = _PAYMENT_CHECK.set(check)
    try:
        yield
    finally:
        _PAYMENT_CHECK.reset(token)


def _settings_digest(credentials: GigaCredentials) -> str:
    """Which credentials may share a client: same key, server and limits."""
    material = credentials.model_dump_json(exclude={"private_key"}) + credentials.address
    return hashlib.sha256(material.encode()).hexdigest()[:16]


@dataclass
class _LoopResources:
    loop: asyncio.AbstractEventLoop
    clients: dict[str, GigaClient] = field(default_factory=dict)
    watchers: dict[tuple[str, float], RunWatcher] = field(default_factory=dict)


class FlowScope:
    """The Giga state one flow run owns.

    Attributes:
        owner: The flow run (or batch) this scope belongs to.
        keys_by_task_run: The start key each start task run computed (its retries reuse it).
        occurrences: How many identical starts each flow-run attempt made so far.
        clients_created: Clients this scope has built (one per wallet, server and loop).

    Example:
        ```python
        async with owned_scope("batch-42") as scope:
            giga = scope.client(credentials)
            started = await giga.start("Summarise Q3")
        ```
    """

    def __init__(self, owner: str, flow_run: FlowRun | None = None) -> None:
        self.owner = owner
        self.flow_run = flow_run
        self.keys_by_task_run: dict[str, str] = {}
        self.occurrences: dict[tuple[str, ...], int] = {}
        self.clients_created = 0
        self.closed = False
        self._loops: dict[int, _LoopResources] = {}
        self._lock = threading.Lock()

    def _resources(self) -> _LoopResources:
        loop = asyncio.get_running_loop()
        with self._lock:
            found = self._loops.get(id(loop))
            if found is None or found.loop is not loop:
                found = self._loops[id(loop)] = _LoopResources(loop)
            return found

    def client(self, credentials: GigaCredentials) -> GigaClient:
        """The client of this wallet, server and settings on the running event loop."""
        resources = self._resources()
        key = _settings_digest(credentials)
        giga = resources.clients.get(key)
        if giga is None:
            giga = credentials.get_client(before_payment=run_payment_check)
            resources.clients[key] = giga
            self.clients_created += 1
        return giga

    def watcher(self, credentials: GigaCredentials, poll_interval: float) -> RunWatcher:
        """The watcher of this wallet, server and cadence on the running event loop."""
        resources = self._resources()
        key = (_settings_digest(credentials), float(poll_interval))
        watcher = resources.watchers.get(key)
        if watcher is None:
            watcher = RunWatcher(self.client(credentials), poll_interval=poll_interval)
            resources.watchers[key] = watcher
        return watcher

    def next_occurrence(self, counter: tuple[str, ...]) -> int:
        """Count one more identical start for ``counter`` and return its 0-based number."""
        with self._lock:
            occurrence = self.occurrences.get(counter, 0)
            self.occurrences[counter] = occurrence + 1
            return occurrence

    def remember_key(self, task_run_id: str, key: str) -> None:
        """Remember the start key of ``task_run_id`` (for its retries)."""
        with self._lock:
            self.keys_by_task_run[task_run_id] = key

    def known_key(self, task_run_id: str) -> str | None:
        """The start key ``task_run_id`` computed before, if any."""
        with self._lock:
            return self.keys_by_task_run.get(task_run_id)

    @property
    def finished(self) -> bool:
        """Whether the flow run that owns this scope reached a final state."""
        state = self.flow_run.state if self.flow_run is not None else None
        return state is not None and state.is_final()

    @property
    def open_clients(self) -> int:
        """Clients held right now (all loops)."""
        with self._lock:
            return sum(len(r.clients) for r in self._loops.values())

    async def aclose(self) -> None:
        """Stop the watchers and close the clients; forget the keys and counters.

        Clients bound to another, still running event loop are closed on that loop.
        """
        self.closed = True
        with self._lock:
            loops = list(self._loops.values())
            self._loops.clear()
            self.keys_by_task_run.clear()
            self.occurrences.clear()
        running = asyncio.get_running_loop()
        for resources in loops:
            if resources.loop is running:
                await _close(resources)
            elif resources.loop.is_running():
                asyncio.run_coroutine_threadsafe(_close(resources), resources.loop)

    def release_soon(self) -> None:
        """`aclose` from any thread, without waiting (a flow run's context was dropped)."""
        self.closed = True
        with self._lock:
            loops = list(self._loops.values())
            self._loops.clear()
            self.keys_by_task_run.clear()
            self.occurrences.clear()
        for resources in loops:
            if resources.loop.is_running() and not resources.loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    asyncio.run_coroutine_threadsafe(_close(resources), resources.loop)


async def _close(resources: _LoopResources) -> None:
    for watcher in resources.watchers.values():
        await watcher.aclose()
    for giga in resources.clients.values():
        await giga.aclose()


_SCOPES: dict[str, FlowScope] = {}
_SCOPES_LOCK = threading.Lock()


def live_scope_count() -> int:
    """Flow-run scopes alive in this process (for tests and leak checks).

    Example:
        >>> live_scope_count() >= 0
        True
    """
    with _SCOPES_LOCK:
        return len(_SCOPES)


def _take_finished() -> list[FlowScope]:
    with _SCOPES_LOCK:
        finished = [key for key, scope in _SCOPES.items() if scope.finished]
        return [_SCOPES.pop(key) for key in finished]


def release_finished_scopes() -> int:
    """Release the scopes of flow runs that reached a final state; return how many.

    Their clients are closed on their own event loops, without waiting.

    Example:
        >>> release_finished_scopes() >= 0
        True
    """
    released = _take_finished()
    for scope in released:
        scope.release_soon()
    return len(released)


async def arelease_finished_scopes() -> int:
    """`release_finished_scopes`, waiting until the clients on this loop are closed.

    Example:
        ```python
        await arelease_finished_scopes()
        ```
    """
    released = _take_finished()
    for scope in released:
        await scope.aclose()
    return len(released)


def current_scope() -> FlowScope | None:
    """The scope of the running flow run, created on first use; ``None`` outside flows.

    An in-process sub-flow of `run_prompts` uses its parent's scope (the batch owns it).

    Example:
        ```python
        scope = current_scope()
        giga = scope.client(credentials) if scope else credentials.get_client()
        ```
    """
    active = _ACTIVE.get()
    if active is not None and not active.closed:
        return active
    flow_context = FlowRunContext.get()
    if flow_context is None or flow_context.flow_run is None:
        return None
    task_context = TaskRunContext.get()
    flow_run_id = str(flow_context.flow_run.id)
    if task_context is not None and task_context.task_run.flow_run_id is not None:
        flow_run_id = str(task_context.task_run.flow_run_id)
    with _SCOPES_LOCK:
        scope = _SCOPES.get(flow_run_id)
    if scope is None:
        release_finished_scopes()  # a new flow run: let the finished ones go
        owner = flow_context.flow_run if str(flow_context.flow_run.id) == flow_run_id else None
        with _SCOPES_LOCK:
            scope = _SCOPES.setdefault(flow_run_id, FlowScope(flow_run_id, owner))
    return scope


@contextlib.asynccontextmanager
async def owned_scope(owner: str) -> AsyncIterator[FlowScope]:
    """A scope this block owns: used by everything inside it, closed when it ends.

    Example:
        ```python
        async with owned_scope(str(flow_run.id)) as scope:
            ...
        ```
    """
    scope = FlowScope(owner)
    token = _ACTIVE.set(scope)
    try:
        yield scope
    finally:
        _ACTIVE.reset(token)
        await scope.aclose()
