"""Moved to `prefect_giga.core.exceptions` (old imports and saved results use this path)."""

from .core.exceptions import (
    AttachmentError as AttachmentError,
)
from .core.exceptions import (
    AuthenticationError as AuthenticationError,
)
from .core.exceptions import (
    BudgetExceededError as BudgetExceededError,
)
from .core.exceptions import (
    FileTooLargeError as FileTooLargeError,
)
from .core.exceptions import (
    GigaConfigError as GigaConfigError,
)
from .core.exceptions import (
    GigaError as GigaError,
)
from .core.exceptions import (
    GigaProtocolError as GigaProtocolError,
)
from .core.exceptions import (
    GigaServerError as GigaServerError,
)
from .core.exceptions import (
    GigaTimeoutError as GigaTimeoutError,
)
from .core.exceptions import (
    GigaTransportError as GigaTransportError,
)
from .core.exceptions import (
    InsufficientFundsError as InsufficientFundsError,
)
from .core.exceptions import (
    LinkExpiredError as LinkExpiredError,
)
from .core.exceptions import (
    OutcomeUnknownError as OutcomeUnknownError,
)
from .core.exceptions import (
    PaymentError as PaymentError,
)
from .core.exceptions import (
    PaymentRejectedError as PaymentRejectedError,
)
from .core.exceptions import (
    QuoteRefusedError as QuoteRefusedError,
)
from .core.exceptions import (
    RateLimitedError as RateLimitedError,
)
from .core.exceptions import (
    RunFailedError as RunFailedError,
)
from .core.exceptions import (
    RunFileNotFoundError as RunFileNotFoundError,
)
from .core.exceptions import (
    RunNotFoundError as RunNotFoundError,
)
from .core.exceptions import (
    SettlementFailedError as SettlementFailedError,
)
from .core.exceptions import (
    SiwxChallengeError as SiwxChallengeError,
)
from .core.exceptions import (
    UnsafePathError as UnsafePathError,
)
