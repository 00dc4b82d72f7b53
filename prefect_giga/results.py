"""Typed results the Prefect tasks and flows hand to downstream work. Data only."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .core.models import PaymentReceipt, Quote, RunStatus

__all__ = [
    "BatchItemResult",
    "BatchResult",
    "ChunkShare",
    "HarvestedFile",
    "ItemOutcome",
    "PromptItem",
    "RunOutput",
]


class HarvestedFile(BaseModel):
    """One file of a run, stored where the harvest put it.

    Attributes:
        path: The file's path in the run's workspace.
        location: Where it was written: a local path, or a path inside the filesystem block.
        size: Size in bytes.
        sha256: SHA-256 hex digest of the bytes written.

    Example:
        >>> HarvestedFile(path="output.md", location="out/r1/output.md", size=10, sha256="ab").size
        10
    """

    model_config = ConfigDict(frozen=True)

    path: str
    location: str
    size: int
    sha256: str

    @property
    def local_path(self) -> Path:
        """``location`` as a `Path` (meaningful for local destinations)."""
        return Path(self.location)


class RunOutput(BaseModel):
    """What a finished run produced, ready for downstream tasks.

    Attributes:
        run_id: The Giga run.
        status: Its final status.
        error_code: The server's error code when the run failed.
        files: The files harvested.
        output_markdown: The text of ``output.md`` when the run wrote one (capped at 1 MiB).
        receipt: The payment for the run, when known.

    Example:
        >>> RunOutput(run_id="r1", status=RunStatus.COMPLETED).succeeded
        True
    """

    model_config = ConfigDict(frozen=True)

    run_id: str
    status: RunStatus
    error_code: str | None = None
    files: list[HarvestedFile] = Field(default_factory=list)
    output_markdown: str | None = None
    receipt: PaymentReceipt | None = None

    @property
    def succeeded(self) -> bool:
        """Whether the run completed."""
        return self.status is RunStatus.COMPLETED

    def file(self, path: str) -> HarvestedFile:
        """The harvested file at workspace path ``path``.

        Raises:
            KeyError: No such file was harvested.
        """
        for item in self.files:
            if item.path == path:
                return item
        raise KeyError(path)


class PromptItem(BaseModel):
    """One prompt of a batch, with optional attachments, tier and idempotency key.

    Attachments are local file paths (strings), so a batch stays JSON-serialisable as flow
    parameters.

    Example:
        >>> PromptItem(prompt="Summarise Q3", tier="$1.00").tier
        '$1.00'
    """

    model_config = ConfigDict(frozen=True)

    prompt: str
    files: list[str] = Field(default_factory=list)
    tier: str | None = None
    idempotency_key: str | None = None


class ItemOutcome(str, Enum):
    """How one batch item ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    REFUSED = "refused"
    ERROR = "error"
    QUOTED = "quoted"


class BatchItemResult(BaseModel):
    """The outcome of one item of a batch.

    Attributes:
        index: The item's position in the batch.
        prompt: The prompt (as given).
        outcome: completed, failed (the run failed), refused (a limit stopped the payment:
            nothing paid), error (anything else), quoted (dry run).
        run_id: The run, when one started.
        output: The harvested output, when the run finished.
        receipt: The payment, when one settled.
        quote: The quote (dry run).
        error: What went wrong, for people.
    """

    model_config = ConfigDict(frozen=True)

    index: int
    prompt: str
    outcome: ItemOutcome
    run_id: str | None = None
    output: RunOutput | None = None
    receipt: PaymentReceipt | None = None
    quote: Quote | None = None
    error: str | None = None


class ChunkShare(BaseModel):
    """One chunk of a batch spread over workers: its items, its share of the limit, its spend.

    Attributes:
        index: The chunk's position in the batch.
        first: The global index of its first item.
        stop: One past the global index of its last item.
        flow_run_id: The chunk's flow run (a run of the chunk deployment).
        state: How that flow run ended (``Completed``, ``Crashed``, ...).
        share: Its share of the batch's spend limit (``None``: no limit).
        spent: What its items cost, earlier attempts included.

    Example:
        >>> ChunkShare(index=0, first=0, stop=10, share=Decimal("10"), spent=Decimal("8")).unspent
        Decimal('2')
    """

    model_config = ConfigDict(frozen=True)

    index: int
    first: int
    stop: int
    flow_run_id: str | None = None
    state: str = ""
    share: Decimal | None = None
    spent: Decimal = Decimal(0)

    @property
    def unspent(self) -> Decimal | None:
        """What is left of the share (``None`` when the batch had no limit)."""
        return None if self.share is None else max(Decimal(0), self.share - self.spent)


class BatchResult(BaseModel):
    """The outcome of a whole batch, item by item.

    Example:
        >>> BatchResult(items=[], spent=Decimal("0")).failed_count
        0
    """

    model_config = ConfigDict(frozen=True)

    items: list[BatchItemResult]
    spent: Decimal
    dry_run: bool = False
    quoted_total: Decimal | None = None
    left_running: list[str] = Field(default_factory=list)
    chunks: list[ChunkShare] = Field(default_factory=list)
    """The chunks, when the batch was spread over workers (`run_prompts` with
    ``chunk_deployment``), with their spend shares."""

    @property
    def unspent_shares(self) -> Decimal | None:
        """What the chunks left of their spend shares (``None``: not spread, or no limit)."""
        shares = [c.unspent for c in self.chunks]
        if not shares or any(s is None for s in shares):
            return None
        return sum((s for s in shares if s is not None), Decimal(0))

    def _count(self, outcome: ItemOutcome) -> int:
        return sum(1 for item in self.items if item.outcome is outcome)

    @property
    def completed_count(self) -> int:
        """Items whose run completed and was harvested."""
        return self._count(ItemOutcome.COMPLETED)

    @property
    def failed_count(self) -> int:
        """Items that failed, were refused, or hit an error."""
        return len(self.items) - self.completed_count - self._count(ItemOutcome.QUOTED)

    @property
    def outputs(self) -> list[RunOutput]:
        """The outputs of the items that completed, in batch order."""
        return [
            item.output
            for item in self.items
            if item.output is not None and item.outcome is ItemOutcome.COMPLETED
        ]

    def summary(self) -> dict[str, Any]:
        """Counts for logs and artifacts."""
        return {
            "items": len(self.items),
            "completed": self.completed_count,
            "failed": self._count(ItemOutcome.FAILED),
            "refused": self._count(ItemOutcome.REFUSED),
            "errors": self._count(ItemOutcome.ERROR),
            "spent_usd": str(self.spent),
            **(
                {"unspent_shares_usd": str(self.unspent_shares)}
                if self.unspent_shares is not None
                else {}
            ),
        }
