"""Moved to `prefect_giga.core.models` (old imports and saved results use this path)."""

from .core.models import (
    FileAttachment as FileAttachment,
)
from .core.models import (
    FileEntry as FileEntry,
)
from .core.models import (
    LogMetadata as LogMetadata,
)
from .core.models import (
    PaymentReceipt as PaymentReceipt,
)
from .core.models import (
    PresignedURL as PresignedURL,
)
from .core.models import (
    Quote as Quote,
)
from .core.models import (
    Run as Run,
)
from .core.models import (
    RunLogs as RunLogs,
)
from .core.models import (
    RunPage as RunPage,
)
from .core.models import (
    RunStatus as RunStatus,
)
from .core.models import (
    RunSummary as RunSummary,
)
from .core.models import (
    StartedRun as StartedRun,
)
