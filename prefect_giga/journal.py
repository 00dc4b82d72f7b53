"""Moved to `prefect_giga.payments.journal` (old imports and saved results use this path)."""

from .payments.journal import (
    DAY_SECONDS as DAY_SECONDS,
)
from .payments.journal import (
    DEFAULT_JOURNAL_PATH as DEFAULT_JOURNAL_PATH,
)
from .payments.journal import (
    ENV_JOURNAL_PATH as ENV_JOURNAL_PATH,
)
from .payments.journal import (
    Journal as Journal,
)
from .payments.journal import (
    JournalEntry as JournalEntry,
)
from .payments.journal import (
    StartRef as StartRef,
)
from .payments.journal import (
    StartState as StartState,
)
from .payments.journal import (
    default_journal_path as default_journal_path,
)
