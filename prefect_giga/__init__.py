"""prefect-giga: run pay-per-run Giga AI agents from Prefect flows.

Importing the package is light: the client, the Prefect blocks, tasks and flows (and with
them x402, web3 and eth-account) load on first use of a name.

Example:
    ```python
    from prefect_giga import GigaClient

    async with GigaClient(private_key=key, base_url="http://127.0.0.1:8402") as giga:
        started = await giga.start("Summarise the attached CSV", files=["data.csv"])
    ```
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # client
    "GigaClient": "prefect_giga.client",
    "SyncGigaClient": "prefect_giga.sync",
    "RetryPolicy": "prefect_giga._http",
    "Wallet": "prefect_giga.wallet",
    "DownloadedFile": "prefect_giga.files",
    # models
    "FileAttachment": "prefect_giga.models",
    "FileEntry": "prefect_giga.models",
    "PaymentReceipt": "prefect_giga.models",
    "PresignedURL": "prefect_giga.models",
    "Quote": "prefect_giga.models",
    "Run": "prefect_giga.models",
    "RunLogs": "prefect_giga.models",
    "RunStatus": "prefect_giga.models",
    "RunSummary": "prefect_giga.models",
    "StartedRun": "prefect_giga.models",
    # Prefect layer
    "GigaCredentials": "prefect_giga.credentials",
    "SpendBudget": "prefect_giga.budget",
    "start_run": "prefect_giga.tasks",
    "astart_run": "prefect_giga.tasks",
    "wait_for_run": "prefect_giga.tasks",
    "await_run": "prefect_giga.tasks",
    "harvest_run": "prefect_giga.tasks",
    "aharvest_run": "prefect_giga.tasks",
    "run_prompt": "prefect_giga.flows",
    "run_prompts": "prefect_giga.flows",
    "RunOutput": "prefect_giga.results",
    "HarvestedFile": "prefect_giga.results",
    "PromptItem": "prefect_giga.results",
    "BatchResult": "prefect_giga.results",
    "BatchItemResult": "prefect_giga.results",
    "ItemOutcome": "prefect_giga.results",
    # errors
    "AttachmentError": "prefect_giga.exceptions",
    "AuthenticationError": "prefect_giga.exceptions",
    "BudgetExceededError": "prefect_giga.exceptions",
    "FileTooLargeError": "prefect_giga.exceptions",
    "GigaConfigError": "prefect_giga.exceptions",
    "GigaError": "prefect_giga.exceptions",
    "GigaProtocolError": "prefect_giga.exceptions",
    "GigaServerError": "prefect_giga.exceptions",
    "GigaTimeoutError": "prefect_giga.exceptions",
    "GigaTransportError": "prefect_giga.exceptions",
    "InsufficientFundsError": "prefect_giga.exceptions",
    "LinkExpiredError": "prefect_giga.exceptions",
    "OutcomeUnknownError": "prefect_giga.exceptions",
    "PaymentError": "prefect_giga.exceptions",
    "PaymentRejectedError": "prefect_giga.exceptions",
    "QuoteRefusedError": "prefect_giga.exceptions",
    "RateLimitedError": "prefect_giga.exceptions",
    "RunFailedError": "prefect_giga.exceptions",
    "RunFileNotFoundError": "prefect_giga.exceptions",
    "RunNotFoundError": "prefect_giga.exceptions",
    "SettlementFailedError": "prefect_giga.exceptions",
    "SiwxChallengeError": "prefect_giga.exceptions",
    "UnsafePathError": "prefect_giga.exceptions",
}

__all__ = [
    "AttachmentError",
    "AuthenticationError",
    "BatchItemResult",
    "BatchResult",
    "BudgetExceededError",
    "DownloadedFile",
    "FileAttachment",
    "FileEntry",
    "FileTooLargeError",
    "GigaClient",
    "GigaConfigError",
    "GigaCredentials",
    "GigaError",
    "GigaProtocolError",
    "GigaServerError",
    "GigaTimeoutError",
    "GigaTransportError",
    "HarvestedFile",
    "InsufficientFundsError",
    "ItemOutcome",
    "LinkExpiredError",
    "OutcomeUnknownError",
    "PaymentError",
    "PaymentReceipt",
    "PaymentRejectedError",
    "PresignedURL",
    "PromptItem",
    "Quote",
    "QuoteRefusedError",
    "RateLimitedError",
    "RetryPolicy",
    "Run",
    "RunFailedError",
    "RunFileNotFoundError",
    "RunLogs",
    "RunNotFoundError",
    "RunOutput",
    "RunStatus",
    "RunSummary",
    "SettlementFailedError",
    "SiwxChallengeError",
    "SpendBudget",
    "StartedRun",
    "SyncGigaClient",
    "UnsafePathError",
    "Wallet",
    "__version__",
    "aharvest_run",
    "astart_run",
    "await_run",
    "harvest_run",
    "run_prompt",
    "run_prompts",
    "start_run",
    "wait_for_run",
]

if TYPE_CHECKING:
    from ._http import RetryPolicy
    from .budget import SpendBudget
    from .client import GigaClient
    from .credentials import GigaCredentials
    from .exceptions import (
        AttachmentError,
        AuthenticationError,
        BudgetExceededError,
        FileTooLargeError,
        GigaConfigError,
        GigaError,
        GigaProtocolError,
        GigaServerError,
        GigaTimeoutError,
        GigaTransportError,
        InsufficientFundsError,
        LinkExpiredError,
        OutcomeUnknownError,
        PaymentError,
        PaymentRejectedError,
        QuoteRefusedError,
        RateLimitedError,
        RunFailedError,
        RunFileNotFoundError,
        RunNotFoundError,
        SettlementFailedError,
        SiwxChallengeError,
        UnsafePathError,
    )
    from .files import DownloadedFile
    from .flows import run_prompt, run_prompts
    from .models import (
        FileAttachment,
        FileEntry,
        PaymentReceipt,
        PresignedURL,
        Quote,
        Run,
        RunLogs,
        RunStatus,
        RunSummary,
        StartedRun,
    )
    from .results import (
        BatchItemResult,
        BatchResult,
        HarvestedFile,
        ItemOutcome,
        PromptItem,
        RunOutput,
    )
    from .sync import SyncGigaClient
    from .tasks import (
        aharvest_run,
        astart_run,
        await_run,
        harvest_run,
        start_run,
        wait_for_run,
    )
    from .wallet import Wallet


def __getattr__(name: str) -> Any:
    """Load a public name's module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prefect_giga' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
