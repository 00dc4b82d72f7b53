"""The start lease: one process at a time drives a logical start; others wait, then re-attach.

The lease is a row of the journal (``leases``), taken in a ``BEGIN IMMEDIATE`` transaction
and renewed while its holder works. A holder that died on this machine (its process is gone)
is replaced at once; one on another machine sharing the file, once its lease expires
(`LEASE_SECONDS` after its last renewal).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone

from .journal import Journal

__all__ = ["LEASE_SECONDS", "start_lease"]

LEASE_SECONDS = 60.0
"""How long a lease lasts unless renewed; its holder renews it every third of that."""
_FIRST_POLL = 0.02
_MAX_POLL = 0.5

logger = logging.getLogger("prefect_giga.payments")


@contextlib.asynccontextmanager
async def start_lease(
    journal: Journal, payer: str, key: str, *, seconds: float = LEASE_SECONDS
) -> AsyncIterator[None]:
    """Hold the journal's lease on ``payer``'s start ``key`` for the body of the block.

    While another process (or task) holds it, wait: it either finishes the start (the
    caller then finds the run in the journal and re-attaches) or dies (its lease expires
    and this one takes over).

    Example:
        ```python
        async with start_lease(journal, wallet.address, "job-1"):
            ...  # probe, sign, send: no other process does the same for job-1 meanwhile
        ```
    """
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    poll = _FIRST_POLL
    logged = False
    dead: str | None = None
    while (holder := journal.try_lease(payer, key, owner, seconds, replacing=dead)) is not None:
        held_by, held_until = holder
        if _is_dead(held_by):
            dead = held_by
            continue
        if not logged:
            ends = datetime.fromtimestamp(held_until, timezone.utc).isoformat(timespec="seconds")
            logger.info(
                "Waiting for start %r of %s: another process is starting it (its lease ends "
                "at %s unless renewed); this one will re-attach to its run",
                key,
                payer,
                ends,
            )
            logged = True
        await asyncio.sleep(poll)
        poll = min(poll * 2, _MAX_POLL)
    renewing = asyncio.create_task(_renew(journal, payer, key, owner, seconds))
    try:
        yield
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        journal.release_lease(payer, key, owner)


def _is_dead(owner: str) -> bool:
    """Whether ``owner`` (``host:pid:token``) is a process of this machine that has exited."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


async def _renew(journal: Journal, payer: str, key: str, owner: str, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds / 3)
        if journal.try_lease(payer, key, owner, seconds) is not None:
            logger.warning(
                "Lost the lease on start %r of %s to another process (this one stalled for "
                "over %g s); at most one payment can still settle (one nonce per start)",
                key,
                payer,
                seconds,
            )
            return
