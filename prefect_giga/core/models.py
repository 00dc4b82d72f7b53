"""Typed data the client returns and accepts. Data only: no network code here."""

from __future__ import annotations

import mimetypes
from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from .ids import RUN_ID_PATTERN

__all__ = [
    "FileAttachment",
    "FileEntry",
    "LogMetadata",
    "PaymentReceipt",
    "PresignedURL",
    "Quote",
    "Run",
    "RunId",
    "RunLogs",
    "RunPage",
    "RunStatus",
    "RunSummary",
    "StartedRun",
]


def _checked_run_id(value: str) -> str:
    if RUN_ID_PATTERN.fullmatch(value) is None:
        raise ValueError("not a valid run id (letters, digits, '_' and '-', 1 to 128)")
    return value


RunId = Annotated[str, AfterValidator(_checked_run_id)]
"""A run id as the server sends it, checked against `RUN_ID_PATTERN` before it names anything."""


class _Wire(BaseModel):
    """Models read from the wire: camelCase aliases, unknown fields kept out."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")


class RunStatus(str, Enum):
    """The status of a Giga run.

    Example:
        >>> RunStatus("completed").is_terminal
        True
    """

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """Whether the run has stopped (``completed`` or ``failed``)."""
        return self in (RunStatus.COMPLETED, RunStatus.FAILED)


class FileEntry(_Wire):
    """A file or directory in a run's workspace, as `/api/read` lists it.

    Example:
        >>> FileEntry(path="output.md", type="file", size=12).is_file
        True
    """

    path: str
    type: str = "file"
    size: int = 0

    @property
    def is_file(self) -> bool:
        """Whether the entry is a file (not a directory)."""
        return self.type == "file"


class LogMetadata(_Wire):
    """Metadata the agent's log carries once it has arrived."""

    session_id: str | None = Field(default=None, alias="sessionId")
    started_at: datetime | None = Field(default=None, alias="startedAt")
    completed_at: datetime | None = Field(default=None, alias="completedAt")
    model: str | None = None


class RunLogs(_Wire):
    """A run's logs: metadata plus records (free-form JSON objects).

    Example:
        >>> RunLogs(records=[{"type": "text"}]).records[0]["type"]
        'text'
    """

    metadata: LogMetadata | None = None
    records: list[Any] = Field(default_factory=list)


class RunSummary(_Wire):
    """One run as `/api/list` returns it. An ``id`` outside `RUN_ID_PATTERN` is refused.

    Example:
        >>> RunSummary.model_validate({"id": "r1", "status": "running",
        ...     "createdAt": "2026-03-02T12:00:00.000Z",
        ...     "updatedAt": "2026-03-02T12:00:10.000Z"}).status
        <RunStatus.RUNNING: 'running'>
    """

    id: RunId
    status: RunStatus
    error_code: str | None = Field(default=None, alias="errorCode")
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")


class Run(RunSummary):
    """A run as `/api/read` returns it. ``logs`` is ``None`` early in a run: that is normal.

    ``files`` is ``None`` unless the read asked for files.
    """

    logs: RunLogs | None = None
    files: list[FileEntry] | None = None


class RunPage(_Wire):
    """One page of `/api/list`."""

    runs: list[RunSummary]


class Quote(BaseModel):
    """The price a server asked for one paid request, as checked before signing.

    Example:
        >>> Quote(tier="$0.50", amount=Decimal("0.5"), amount_atomic=500000,
        ...       network="eip155:8453", asset="0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        ...       pay_to="0x0000000000000000000000000000000000000001").amount
        Decimal('0.5')
    """

    model_config = ConfigDict(frozen=True)

    tier: str
    amount: Decimal
    amount_atomic: int
    network: str
    asset: str
    pay_to: str
    max_timeout_seconds: int = 300


class PaymentReceipt(BaseModel):
    """What a settled payment cost, decoded from the ``PAYMENT-RESPONSE`` header.

    Holds no signature: safe to log and to publish as an artifact.

    Example:
        >>> r = PaymentReceipt(tier="$0.50", amount=Decimal("0.5"), amount_atomic=500000,
        ...     asset="0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", network="eip155:8453",
        ...     payer="0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", pay_to="0x01",
        ...     transaction="0xabc")
        >>> r.amount
        Decimal('0.5')
    """

    model_config = ConfigDict(frozen=True)

    tier: str
    amount: Decimal
    amount_atomic: int
    asset: str
    network: str
    payer: str
    pay_to: str
    transaction: str
    payment_nonce: str | None = None


class StartedRun(BaseModel):
    """A run that `start` paid for.

    Attributes:
        run_id: The run's id.
        status: Its status when it started (usually ``running``).
        receipt: The settled payment, or ``None`` when re-attached to a run whose receipt
            was not recorded.
        idempotency_key: The logical start's key (retry with it to re-attach, never re-pay).
        reattached: The run was recorded in the journal by an earlier attempt; nothing was
            sent this time.
        reconciled: The paid request lost its reply and the run was identified afterwards
            (its receipt then has no transaction hash).

    Example:
        >>> StartedRun(run_id="r1", status=RunStatus.RUNNING).run_id
        'r1'
    """

    model_config = ConfigDict(frozen=True)

    run_id: str
    status: RunStatus
    receipt: PaymentReceipt | None = None
    idempotency_key: str | None = None
    reattached: bool = False
    reconciled: bool = False


class PresignedURL(BaseModel):
    """A download link from `/api/file-url`. The URL is a bearer credential: it is kept secret.

    ``repr`` and ``str`` show only a mask; call ``url.get_secret_value()`` to use it.

    Example:
        >>> link = PresignedURL(url=SecretStr("https://h/api/file?token=t"),
        ...     expires_at=datetime(2030, 1, 1))
        >>> "token" in repr(link)
        False
    """

    model_config = ConfigDict(frozen=True)

    url: SecretStr
    expires_at: datetime


class FileAttachment(BaseModel):
    """A file to send with a prompt. ``repr`` shows its name and size, never its bytes.

    Example:
        >>> a = FileAttachment.from_bytes("data.csv", b"a,b\\n1,2\\n")
        >>> (a.filename, a.content_type, a.size)
        ('data.csv', 'text/csv', 8)
    """

    model_config = ConfigDict(frozen=True)

    filename: str
    content_type: str = "application/octet-stream"
    data: bytes = Field(repr=False)

    @property
    def size(self) -> int:
        """The attachment's size in bytes."""
        return len(self.data)

    @classmethod
    def from_bytes(
        cls, filename: str, data: bytes, content_type: str | None = None
    ) -> FileAttachment:
        """Build an attachment from bytes, guessing the content type from the name."""
        guessed = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return cls(filename=filename, content_type=guessed, data=data)

    @classmethod
    def from_path(cls, path: str | Path, content_type: str | None = None) -> FileAttachment:
        """Read a file from disk into an attachment.

        Raises:
            FileNotFoundError: The file does not exist.
        """
        file = Path(path)
        return cls.from_bytes(file.name, file.read_bytes(), content_type)
