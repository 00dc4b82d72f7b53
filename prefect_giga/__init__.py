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
    "GigaClient": "prefect_giga.client.async_client",
    "SyncGigaClient": "prefect_giga.client.sync_client",
    "RetryPolicy": "prefect_giga.core.http",
    "Wallet": "prefect_giga.core.wallet",
    "DownloadedFile": "prefect_giga.client.files",
    # models
    "FileAttachment": "prefect_giga.core.models",
    "FileEntry": "prefect_giga.core.models",
    "PaymentReceipt": "prefect_giga.core.models",
    "PresignedURL": "prefect_giga.core.models",
    "Quote": "prefect_giga.core.models",
    "Run": "prefect_giga.core.models",
    "RunLogs": "prefect_giga.core.models",
    "RunStatus": "prefect_giga.core.models",
    "RunSummary": "prefect_giga.core.models",
    "StartedRun": "prefect_giga.core.models",
    # Prefect layer
    "GigaCredentials": "prefect_giga.credentials",
    "SpendBudget": "prefect_giga.payments.budget",
    "start_run": "prefect_giga.tasks",
    "astart_run": "prefect_giga.tasks",
    "wait_for_run": "prefect_giga.tasks",
    "await_run": "prefect_giga.tasks",
    "harvest_run": "prefect_giga.tasks",
    "aharvest_run": "prefect_giga.tasks",
    "resume_run": "prefect_giga.tasks",
    "aresume_run": "prefect_giga.tasks",
    "run_prompt": "prefect_giga.flows",
    "run_prompts": "prefect_giga.flows",
    "RunOutput": "prefect_giga.results",
    "HarvestedFile": "prefect_giga.results",
    "PromptItem": "prefect_giga.results",
    "BatchResult": "prefect_giga.results",
    "BatchItemResult": "prefect_giga.results",
    "ItemOutcome": "prefect_giga.results",
    "save_items": "prefect_giga.item_files",
    "load_items": "prefect_giga.item_files",
    "ItemsFileError": "prefect_giga.item_files",
    # errors
    "AttachmentError": "prefect_giga.core.exceptions",
    "AuthenticationError": "prefect_giga.core.exceptions",
    "BudgetExceededError": "prefect_giga.core.exceptions",
    "FileTooLargeError": "prefect_giga.core.exceptions",
    "GigaConfigError": "prefect_giga.core.exceptions",
    "GigaError": "prefect_giga.core.exceptions",
    "GigaProtocolError": "prefect_giga.core.exceptions",
    "GigaServerError": "prefect_giga.core.exceptions",
    "GigaTimeoutError": "prefect_giga.core.exceptions",
    "GigaTransportError": "prefect_giga.core.exceptions",
    "IdempotencyKeyConflictError": "prefect_giga.core.exceptions",
    "InsufficientFundsError": "prefect_giga.core.exceptions",
    "LinkExpiredError": "prefect_giga.core.exceptions",
    "OutcomeUnknownError": "prefect_giga.core.exceptions",
    "PaymentError": "prefect_giga.core.exceptions",
    "PaymentRejectedError": "prefect_giga.core.exceptions",
    "QuoteRefusedError": "prefect_giga.core.exceptions",
    "RateLimitedError": "prefect_giga.core.exceptions",
    "RequestNotSentError": "prefect_giga.core.exceptions",
    "RunFailedError": "prefect_giga.core.exceptions",
    "RunFileNotFoundError": "prefect_giga.core.exceptions",
    "RunNotFoundError": "prefect_giga.core.exceptions",
    "SettlementFailedError": "prefect_giga.core.exceptions",
    "SiwxChallengeError": "prefect_giga.core.exceptions",
    "UnsafeLinkError": "prefect_giga.core.exceptions",
    "UnsafePathError": "prefect_giga.core.exceptions",
    "TierNotOfferedError": "prefect_giga.core.exceptions",
    "ResumeBodyRefusedError": "prefect_giga.payments.paid_resume",
    "ServerTiers": "prefect_giga.client.tiers",
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
    "IdempotencyKeyConflictError",
    "InsufficientFundsError",
    "ItemOutcome",
    "ItemsFileError",
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
    "RequestNotSentError",
    "ResumeBodyRefusedError",
    "RetryPolicy",
    "Run",
    "RunFailedError",
    "RunFileNotFoundError",
    "RunLogs",
    "RunNotFoundError",
    "RunOutput",
    "RunStatus",
    "RunSummary",
    "ServerTiers",
    "SettlementFailedError",
    "SiwxChallengeError",
    "SpendBudget",
    "StartedRun",
    "SyncGigaClient",
    "TierNotOfferedError",
    "UnsafeLinkError",
    "UnsafePathError",
    "Wallet",
    "__version__",
    "aharvest_run",
    "aresume_run",
    "astart_run",
    "await_run",
    "harvest_run",
    "load_items",
    "resume_run",
    "run_prompt",
    "run_prompts",
    "save_items",
    "start_run",
    "wait_for_run",
]

if TYPE_CHECKING:
    from .client.async_client import GigaClient
    from .client.files import DownloadedFile
    from .client.sync_client import SyncGigaClient
    from .client.tiers import ServerTiers
    from .core.exceptions import (
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
        RequestNotSentError,
        RunFailedError,
        RunFileNotFoundError,
        RunNotFoundError,
        SettlementFailedError,
        SiwxChallengeError,
        TierNotOfferedError,
        UnsafeLinkError,
        UnsafePathError,
    )
    from .core.http import RetryPolicy
    from .core.models import (
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
    from .core.wallet import Wallet
    from .credentials import GigaCredentials
    from .flows import run_prompt, run_prompts
    from .item_files import ItemsFileError, load_items, save_items
    from .payments.budget import SpendBudget
    from .payments.paid_resume import ResumeBodyRefusedError
    from .results import (
        BatchItemResult,
        BatchResult,
        HarvestedFile,
        ItemOutcome,
        PromptItem,
        RunOutput,
    )
    from .tasks import (
        aharvest_run,
        aresume_run,
        astart_run,
        await_run,
        harvest_run,
        resume_run,
        start_run,
        wait_for_run,
    )


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
