"""Moved to `prefect_giga.core.models` (old imports and saved results use this path)."""

from .core.models import (
    FileAttachment,
    FileEntry,
    LogMetadata,
    PaymentReceipt,
    PresignedURL,
    Quote,
    Run,
    RunLogs,
    RunPage,
    RunStatus,
    RunSummary,
    StartedRun,
)

__all__ = [
    "FileAttachment",
    "FileEntry",
    "LogMetadata",
    "PaymentReceipt",
    "PresignedURL",
    "Quote",
    "Run",
    "RunLogs",
    "RunPage",
    "RunStatus",
    "RunSummary",
    "StartedRun",
]
