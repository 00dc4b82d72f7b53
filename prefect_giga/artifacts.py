"""Prefect artifacts for Giga work: the output, the files, the payments, batch progress.

Keys are stable (lowercase letters, digits and dashes) so the Prefect UI shows history
across scheduled runs. No artifact ever holds a key, a signature or a presigned URL.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    MarkdownArtifact,
    TableArtifact,
    acreate_progress_artifact,
    aupdate_progress_artifact,
)

from .core.models import PaymentReceipt
from .core.money import format_usd
from .results import BatchResult, RunOutput

__all__ = [
    "MAX_MARKDOWN_CHARS",
    "MAX_TABLE_ROWS",
    "PROGRESS_INTERVAL",
    "BatchProgress",
    "artifact_key",
    "publish_batch_summary",
    "publish_files",
    "publish_output",
    "publish_payments",
]

MAX_MARKDOWN_CHARS = 50_000
MAX_TABLE_ROWS = 1000
"""Rows a batch-wide table artifact holds at most; a chunk's tables hold the rest."""
PROGRESS_INTERVAL = 5.0
"""Seconds between two updates of a batch's progress artifact (the last one always lands)."""
_KEY_CHARS = re.compile(r"[^a-z0-9-]+")


def artifact_key(*parts: str | int) -> str:
    """A Prefect artifact key from parts: lowercase, digits and dashes only.

    Example:
        >>> artifact_key("giga", "Output", 3)
        'giga-output-3'
    """
    text = "-".join(str(p) for p in parts if str(p))
    return _KEY_CHARS.sub("-", text.lower()).strip("-") or "giga"


def render_markdown(text: str, limit: int = MAX_MARKDOWN_CHARS) -> str:
    """Escape HTML in the agent's markdown and truncate it with a note when huge.

    Example:
        >>> render_markdown("<script>x</script> **hi**")
        '&lt;script&gt;x&lt;/script&gt; **hi**'
    """
    body = html.escape(text, quote=False)
    if len(body) > limit:
        body = body[:limit] + (
            f"\n\n---\n*Truncated: showing {limit:,} of {len(text):,} characters. "
            "The full file is in the run's harvested outputs.*"
        )
    return body


async def _table(
    rows: list[dict[str, Any]], key: str | None, description: str, flow_run_id: UUID | None
) -> UUID:
    if len(rows) > MAX_TABLE_ROWS:
        description += (
            f" (the first {MAX_TABLE_ROWS} of {len(rows)} rows; the batch's chunk tables "
            "hold every row)"
        )
        rows = rows[:MAX_TABLE_ROWS]
    artifact = TableArtifact(table=rows, key=key, description=description, flow_run_id=flow_run_id)
    return (await artifact.acreate()).id


async def publish_output(
    output: RunOutput,
    key: str,
    description: str | None = None,
    flow_run_id: UUID | None = None,
) -> UUID:
    """A markdown artifact with the run's ``output.md`` (or a note that there is none).

    ``flow_run_id`` puts it on that flow run (a batch's) instead of the current one.

    Example:
        ```python
        await publish_output(output, artifact_key("giga", "output"))
        ```
    """
    if output.output_markdown is not None:
        body = render_markdown(output.output_markdown)
    else:
        body = f"*Run `{output.run_id}` ended `{output.status.value}` without an output.md.*"
    artifact = MarkdownArtifact(
        markdown=body,
        key=key,
        description=description or f"output.md of Giga run {output.run_id}",
        flow_run_id=flow_run_id,
    )
    return (await artifact.acreate()).id


async def publish_files(
    outputs: Iterable[RunOutput], key: str | None, flow_run_id: UUID | None = None
) -> UUID:
    """A table artifact of the harvested files: run, path, size, sha256, location.

    Example:
        ```python
        await publish_files([output], artifact_key("giga", "files"))
        ```
    """
    rows: list[dict[str, Any]] = [
        {
            "run_id": out.run_id,
            "path": f.path,
            "size": f.size,
            "sha256": f.sha256,
            "location": f.location,
        }
        for out in outputs
        for f in out.files
    ]
    return await _table(rows, key, "Files harvested from Giga", flow_run_id)


def payment_row(receipt: PaymentReceipt, run_id: str | None) -> dict[str, str]:
    """One row of the payments table (never a key or signature)."""
    return {
        "run_id": run_id or "",
        "tier": receipt.tier,
        "amount_usdc": str(receipt.amount),
        "network": receipt.network,
        "transaction": receipt.transaction,
        "payer": receipt.payer,
        "pay_to": receipt.pay_to,
    }


async def publish_payments(
    payments: Iterable[tuple[str | None, PaymentReceipt]],
    key: str | None,
    flow_run_id: UUID | None = None,
) -> UUID:
    """A table artifact of the payments: run, tier, amount in USDC, transaction, payer.

    Example:
        ```python
        await publish_payments([(run_id, receipt)], artifact_key("giga", "payments"))
        ```
    """
    paid = list(payments)
    rows: list[dict[str, Any]] = [payment_row(receipt, run_id) for run_id, receipt in paid]
    total = sum((receipt.amount for _, receipt in paid), Decimal(0))
    description = f"Giga payments: {len(rows)}, total {format_usd(total)} USDC"
    return await _table(rows, key, description, flow_run_id)


async def publish_batch_summary(
    result: BatchResult, key: str | None, flow_run_id: UUID | None = None
) -> UUID:
    """A table artifact with one row per batch item, and the totals in its description.

    Example:
        ```python
        await publish_batch_summary(result, artifact_key("giga-batch", "summary"))
        ```
    """
    rows: list[dict[str, Any]] = [
        {
            "index": item.index,
            "prompt": item.prompt if len(item.prompt) <= 80 else item.prompt[:77] + "...",
            "outcome": item.outcome.value,
            "run_id": item.run_id or "",
            "cost_usdc": str(item.receipt.amount) if item.receipt else "",
            "quote_usdc": str(item.quote.amount) if item.quote else "",
            "files": len(item.output.files) if item.output else 0,
            "error": item.error or "",
        }
        for item in result.items
    ]
    counts = result.summary()
    description = (
        f"{counts['completed']} completed, {counts['failed']} failed, {counts['refused']} "
        f"refused, {counts['errors']} errors of {counts['items']}; spent "
        f"{format_usd(result.spent)}"
    )
    if result.dry_run and result.quoted_total is not None:
        description = (
            f"Dry run: {counts['items']} items quoted at {format_usd(result.quoted_total)}"
        )
    if result.left_running:
        description += f"; left running at Giga: {', '.join(result.left_running)}"
    if result.unspent_shares is not None:
        description += (
            f"; {len(result.chunks)} chunk runs left {format_usd(result.unspent_shares)} "
            "of their spend shares unspent"
        )
    return await _table(rows, key, description, flow_run_id)


class BatchProgress:
    """A progress artifact that moves as batch items finish, at most every ``interval`` s.

    The update for the last item always lands, so the artifact ends at 100 %.

    Example:
        ```python
        progress = await BatchProgress.create("giga-batch-progress", total=20)
        await progress.advance()
        ```
    """

    def __init__(self, artifact_id: UUID, total: int, interval: float = PROGRESS_INTERVAL) -> None:
        self.artifact_id = artifact_id
        self.total = max(total, 1)
        self.interval = interval
        self.done = 0
        self.updates = 0
        self._published = 0
        self._last = time.monotonic()
        self._lock = asyncio.Lock()  # updates land in order: the last one is the highest

    @classmethod
    async def create(
        cls, key: str, total: int, interval: float = PROGRESS_INTERVAL
    ) -> BatchProgress:
        """Create the artifact at 0%."""
        artifact_id = await acreate_progress_artifact(
            progress=0.0,
            key=key,
            description=f"Giga batch: 0 of {total} items finished",
        )
        return cls(artifact_id, total, interval)

    async def advance(self) -> None:
        """Count one more finished item; update the artifact if it is time (or the last)."""
        self.done += 1
        if self.done < self.total and time.monotonic() - self._last < self.interval:
            return
        async with self._lock:
            done = self.done
            if done <= self._published:
                return  # a later update already covered this one
            self._published = done
            self._last = time.monotonic()
            self.updates += 1
            await aupdate_progress_artifact(
                artifact_id=self.artifact_id,
                progress=round(100.0 * done / self.total, 1),
                description=f"Giga batch: {done} of {self.total} items finished",
            )
