"""`RunWatcher`: await many runs from one event loop and one connection pool.

Instead of one polling loop per run (two round trips per poll per run with naive SIWX),
one loop looks at ``/api/list``, which is ordered by most recently updated: the first
page(s) show every run that changed since the last look, so a poll costs one or two
requests however many runs are waiting. Runs whose logs are streamed are read at their own
cadence; when listing fails, the loop falls back to reading each waiting run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..core.exceptions import GigaError, GigaTimeoutError, RunNotFoundError
from ..core.models import Run, RunStatus, RunSummary
from .async_client import GigaClient
from .pagination import MAX_PAGE_SIZE

__all__ = ["LogCallback", "RunWatcher"]

RECENT_RUNS = 10_000
"""Run summaries remembered from past looks, for runs registered after they changed."""

FIRST_LOOK_PAGES = 10
"""Pages the first look at ``/api/list`` may read while searching for the waiting runs."""

LogCallback = Callable[[Run], Awaitable[None]]
"""Called with each fresh read of a run whose logs are streamed."""


@dataclass
class _Waiter:
    run_id: str
    future: asyncio.Future[Run]
    on_read: LogCallback | None = None
    needs_read: bool = True
    next_read: float = 0.0
    status: RunStatus | None = None
    deadline: float | None = None
    unseen_since: int | None = None


@dataclass
class WatcherStats:
    """Requests the watcher made, for benchmarks and logs."""

    polls: int = 0
    list_requests: int = 0
    read_requests: int = 0
    fallbacks: int = 0
    resolved: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


class RunWatcher:
    """Waits for many Giga runs at once with the fewest requests.

    Args:
        client: The client to poll with (its wallet must own the runs).
        poll_interval: Seconds between looks at ``/api/list`` (Giga recommends about 5).
        on_idle: Called when no run is left to wait for and the loop stops.
        close_client_when_idle: Close ``client`` when the loop stops (for a watcher that
            owns its client).

    Example:
        ```python
        async with GigaClient(private_key=key, base_url=url) as giga:
            watcher = RunWatcher(giga, poll_interval=5)
            started = [await giga.start(p) for p in prompts]
            runs = await asyncio.gather(*(watcher.wait(s.run_id) for s in started))
            await watcher.aclose()
        ```
    """

    def __init__(
        self,
        client: GigaClient,
        *,
        poll_interval: float = 5.0,
        on_idle: Callable[[RunWatcher], None] | None = None,
        close_client_when_idle: bool = False,
    ) -> None:
        self.client = client
        self.poll_interval = poll_interval
        self._on_idle = on_idle
        self._close_client_when_idle = close_client_when_idle
        self.stats = WatcherStats()
        self._waiters: dict[str, list[_Waiter]] = {}
        self._watermark: datetime | None = None
        self._recent: OrderedDict[str, RunSummary] = OrderedDict()
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._looks = 0

    @property
    def watching(self) -> int:
        """How many runs are being waited for."""
        return len(self._waiters)

    async def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        on_read: LogCallback | None = None,
        fresh: bool = False,
    ) -> Run:
        """Wait until ``run_id`` is ``completed`` or ``failed`` and return it.

        Args:
            run_id: The run.
            timeout: Seconds to wait at most (a monotonic deadline).
            on_read: Stream the run: it is read (with its logs) every poll and this
                coroutine gets each read.
            fresh: The run was just started by this wallet, so ``/api/list`` will show its
                every change from now on and no first read is needed. (A fresh run the
                looks have not shown, before it was waited for or in the next look, is read
                once: it may have ended before this watcher looked, as a short run can while
                its paid start settles.)

        Raises:
            GigaTimeoutError: The run did not finish in time (it keeps running at Giga).
            RunNotFoundError: The wallet owns no such run.
        """
        loop = asyncio.get_running_loop()
        waiter = _Waiter(
            run_id=run_id,
            future=loop.create_future(),
            on_read=on_read,
            needs_read=not fresh or on_read is not None,
            deadline=None if timeout is None else time.monotonic() + timeout,
        )
        self._waiters.setdefault(run_id, []).append(waiter)
        seen = self._recent.get(run_id)
        if seen is not None:
            waiter.needs_read = on_read is not None
            self._apply_summary(seen)
        elif not waiter.needs_read:
            waiter.unseen_since = self._looks  # a look started after this one must show it
        self._ensure_loop()
        self._wake.set()
        try:
            if timeout is None:
                return await asyncio.shield(waiter.future)
            return await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except asyncio.TimeoutError:
            raise GigaTimeoutError(
                f"Giga run {run_id} did not finish within {timeout:g} s; it keeps running at "
                "Giga (there is no cancel endpoint)"
            ) from None
        finally:
            self._forget(waiter)

    async def aclose(self) -> None:
        """Stop the polling loop (waiters still pending are cancelled)."""
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.future.done():
                    waiter.future.cancel()
        self._waiters.clear()

    # --- the loop ----------------------------------------------------------------------

    def _ensure_loop(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._run())

    def _forget(self, waiter: _Waiter) -> None:
        waiters = self._waiters.get(waiter.run_id)
        if waiters is not None and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self._waiters[waiter.run_id]

    def _pending(self) -> bool:
        return any(not w.future.done() for ws in self._waiters.values() for w in ws)

    async def _run(self) -> None:
        try:
            await self._poll_while_pending()
        finally:
            if self._on_idle is not None:
                self._on_idle(self)  # synchronously: nobody can find this watcher any more
            if self._close_client_when_idle:
                await self.client.aclose()

    async def _poll_while_pending(self) -> None:
        while self._pending():
            started = time.monotonic()
            await self._poll_once()
            if not self._pending():
                break
            self._wake.clear()
            delay = max(0.0, self.poll_interval - (time.monotonic() - started))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            if self._wake.is_set():  # new runs: read them now, but keep the list cadence
                await self._read_new()
                rest = max(0.0, self.poll_interval - (time.monotonic() - started))
                await asyncio.sleep(rest)

    async def _poll_once(self) -> None:
        self.stats.polls += 1
        self._looks += 1
        look = self._looks
        now = time.monotonic()
        await self._read_new()
        listed = await self._list_changes()
        due_reads = [
            w
            for ws in list(self._waiters.values())
            for w in ws
            if w.on_read is not None and w.next_read <= now and not w.future.done()
        ]
        if listed is None:  # listing failed: read every waiting run instead
            self.stats.fallbacks += 1
            due_reads = [w for ws in list(self._waiters.values()) for w in ws]
        else:
            for summary in listed:
                self._remember(summary)
                self._apply_summary(summary)
            due_reads += self._still_unseen(look)
        await self._read_all(due_reads)

    def _still_unseen(self, look: int) -> list[_Waiter]:
        """Fresh waiters a look started after their wait has not shown: read them.

        Every change after this watcher's first look is listed, so a fresh run missing
        from the looks changed last before the watcher's history began (or beyond the
        remembered runs): its end may never be listed again.
        """
        unseen: list[_Waiter] = []
        for waiters in self._waiters.values():
            for waiter in waiters:
                if waiter.unseen_since is None or waiter.future.done():
                    continue
                if waiter.run_id in self._recent:
                    waiter.unseen_since = None
                elif waiter.unseen_since < look:
                    waiter.unseen_since = None
                    waiter.needs_read = True  # until a read succeeds
                    unseen.append(waiter)
        return unseen

    async def _read_new(self) -> None:
        fresh = [w for ws in list(self._waiters.values()) for w in ws if w.needs_read]
        await self._read_all(fresh)

    async def _read_all(self, waiters: list[_Waiter]) -> None:
        unique: dict[str, list[_Waiter]] = {}
        for waiter in waiters:
            if not waiter.future.done():
                unique.setdefault(waiter.run_id, []).append(waiter)
        semaphore = asyncio.Semaphore(16)

        async def read(run_id: str) -> None:
            async with semaphore:
                await self._read_one(run_id)

        await asyncio.gather(*(read(run_id) for run_id in unique))

    async def _read_one(self, run_id: str) -> None:
        self.stats.read_requests += 1
        try:
            run = await self.client.read(run_id)
        except RunNotFoundError as exc:
            self._fail(run_id, exc)
            return
        except GigaError:
            return  # transient: the next poll tries again
        for waiter in list(self._waiters.get(run_id, [])):
            waiter.needs_read = False
            waiter.next_read = time.monotonic() + self.poll_interval
            if waiter.on_read is not None and not waiter.future.done():
                await waiter.on_read(run)
        self._apply_run(run)

    async def _list_changes(self) -> list[RunSummary] | None:
        """Runs updated since the last look (``None`` when listing failed).

        Pages until one reaches runs older than the last look's newest update. The first
        look has no such mark: it pages through the wallet's recent runs (at most
        `FIRST_LOOK_PAGES` pages), so runs started together and waited for later are
        already known; a waiting run it did not see is read directly.
        """
        changed: list[RunSummary] = []
        newest: datetime | None = None
        unseen = set(self._waiters)
        offset = 0
        try:
            while True:
                self.stats.list_requests += 1
                page = await self.client.list_runs(limit=MAX_PAGE_SIZE, offset=offset)
                changed.extend(page)
                unseen.difference_update(run.id for run in page)
                if page and (newest is None or page[0].updated_at > newest):
                    newest = page[0].updated_at
                offset += MAX_PAGE_SIZE
                if len(page) < MAX_PAGE_SIZE:
                    break
                if self._watermark is None:
                    if offset >= FIRST_LOOK_PAGES * MAX_PAGE_SIZE:
                        break
                elif any(run.updated_at < self._watermark for run in page):
                    break
        except GigaError:
            return None
        if self._watermark is None:
            for run_id in unseen:
                for waiter in self._waiters.get(run_id, []):
                    waiter.needs_read = True
        if newest is not None:
            self._watermark = newest
        return changed

    def _remember(self, summary: RunSummary) -> None:
        self._recent[summary.id] = summary
        self._recent.move_to_end(summary.id)
        while len(self._recent) > RECENT_RUNS:
            self._recent.popitem(last=False)

    def _apply_summary(self, summary: RunSummary) -> None:
        if summary.id in self._waiters and summary.status.is_terminal:
            self._resolve(Run.model_validate(summary.model_dump()))

    def _apply_run(self, run: Run) -> None:
        if run.status.is_terminal:
            self._resolve(run)

    def _resolve(self, run: Run) -> None:
        for waiter in self._waiters.get(run.id, []):
            if not waiter.future.done():
                waiter.future.set_result(run)
                self.stats.resolved += 1
                key = run.status.value
                self.stats.by_status[key] = self.stats.by_status.get(key, 0) + 1

    def _fail(self, run_id: str, error: BaseException) -> None:
        for waiter in self._waiters.get(run_id, []):
            if not waiter.future.done():
                waiter.future.set_exception(error)
