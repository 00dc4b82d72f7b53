"""Moved to `prefect_giga.payments.journal` (old imports and saved results use this path)."""

from .payments.journal import (
    DAY_SECONDS,
    DEFAULT_JOURNAL_PATH,
    ENV_JOURNAL_PATH,
    ENV_JOURNAL_URL,
    Journal,
    JournalEntry,
    StartRef,
    StartState,
    default_journal_path,
)

__all__ = [
    "DAY_SECONDS",
    "DEFAULT_JOURNAL_PATH",
    "ENV_JOURNAL_PATH",
    "ENV_JOURNAL_URL",
    "Journal",
    "JournalEntry",
    "StartRef",
    "StartState",
    "default_journal_path",
]
