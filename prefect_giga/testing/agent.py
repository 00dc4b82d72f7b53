"""The pluggable agent an emulated run executes, and the deterministic default agent."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

__all__ = [
    "DEFAULT_DURATION",
    "Agent",
    "AgentContext",
    "AgentResult",
    "Attachment",
    "LogRecord",
    "default_agent",
    "parse_size",
]

DEFAULT_DURATION = 30.0
"""Agent seconds a default-agent run takes without a ``[duration=N]`` directive."""

_DIRECTIVE = re.compile(r"\[(files|size|duration|fail)(?:=([^\]]*))?\]", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KIB|MB|MIB|GB|GIB)?\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 1024, "KIB": 1024, "MB": 1024**2, "MIB": 1024**2, "GB": 1024**3}
_UNITS["GIB"] = _UNITS["GB"]
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Attachment:
    """A file sent with ``POST /api/start`` (after filename sanitizing).

    Attributes:
        filename: The sanitized file name.
        content_type: The declared content type.
        data: The decoded bytes.
    """

    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        """Length in bytes."""
        return len(self.data)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class LogRecord:
    """One log record of a run.

    Attributes:
        seq: Position in the order the agent wrote it (0-based).
        at: Agent seconds after the run started.
        kind: A short record type (``"info"``, ``"tool"``, ``"error"``...).
        message: The text.
    """

    seq: int
    at: float
    kind: str
    message: str


@dataclass(frozen=True)
class AgentResult:
    """What an agent reports when it is done.

    Attributes:
        duration: Agent seconds the run takes (measured on the emulator clock).
        success: ``False`` makes the run end ``failed``.
        error_code: The run's ``errorCode`` when it failed.
    """

    duration: float = DEFAULT_DURATION
    success: bool = True
    error_code: str | None = None


@dataclass
class AgentContext:
    """Everything an agent gets: the request, a workspace, and a log.

    Attributes:
        run_id: The run's id.
        prompt: The prompt text.
        tier: The tier key charged (``"$0.50"``...).
        price: The tier's price in USD.
        attachments: The files sent with the request.
        workspace: Directory whose files become the run's output files.
        seed: A seed derived from the prompt, for deterministic output.
        records: Log records written so far (use `log`).

    Example:
        >>> import tempfile
        >>> ctx = AgentContext("run1", "hi", "$0.50", Decimal("0.50"), (), Path(tempfile.mkdtemp()))
        >>> ctx.log("hello", at=1.0).seq
        0
    """

    run_id: str
    prompt: str
    tier: str
    price: Decimal
    attachments: tuple[Attachment, ...]
    workspace: Path
    seed: int = 0
    records: list[LogRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.seed:
            self.seed = int.from_bytes(hashlib.sha256(self.prompt.encode()).digest()[:8], "big")

    @property
    def rng(self) -> random.Random:
        """A fresh `random.Random` seeded from the prompt."""
        return random.Random(self.seed)  # noqa: S311 - deterministic test data, not crypto

    def log(self, message: str, *, at: float | None = None, kind: str = "info") -> LogRecord:
        """Add a log record ``at`` agent seconds into the run (default: 1 s after the last)."""
        if at is None:
            at = self.records[-1].at + 1.0 if self.records else 0.0
        record = LogRecord(seq=len(self.records), at=max(0.0, at), kind=kind, message=message)
        self.records.append(record)
        return record


Agent = Callable[[AgentContext], Awaitable[AgentResult]]
"""An agent: ``async def agent(ctx: AgentContext) -> AgentResult``."""


def parse_size(text: str) -> int:
    """Parse a size such as ``5MB`` (binary units: 1 MB = 1024 KB) into bytes.

    Raises:
        ValueError: The text is not a size.

    Example:
        >>> parse_size("5MB")
        5242880
    """
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    unit = (match.group(2) or "B").upper()
    return int(Decimal(match.group(1)) * _UNITS[unit])


def _directives(prompt: str) -> dict[str, str]:
    return {m.group(1).lower(): (m.group(2) or "").strip() for m in _DIRECTIVE.finditer(prompt)}


def _write_sized(path: Path, size: int, seed: int) -> None:
    block = hashlib.shake_256(seed.to_bytes(8, "big")).digest(_CHUNK)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        remaining = size
        while remaining > 0:
            piece = block[: min(remaining, _CHUNK)]
            out.write(piece)
            remaining -= len(piece)


def _summary(ctx: AgentContext, directives: dict[str, str]) -> str:
    lines = ["# Run summary", "", f"Run: {ctx.run_id}", f"Tier: {ctx.tier}", "", "## Prompt", ""]
    lines += [f"> {line}" for line in ctx.prompt.splitlines() or [""]]
    lines += ["", "## Attachments", ""]
    if ctx.attachments:
        lines += ["| name | content type | size | sha256 |", "|---|---|---|---|"]
        lines += [
            f"| {a.filename} | {a.content_type} | {a.size} | {a.sha256} |" for a in ctx.attachments
        ]
    else:
        lines.append("(none)")
    lines += ["", "## Directives", ""]
    lines += [f"- {k}={v}" for k, v in sorted(directives.items())] or ["(none)"]
    lines += ["", f"Seed: {ctx.seed}", ""]
    return "\n".join(lines)


async def default_agent(ctx: AgentContext) -> AgentResult:
    """The deterministic default agent.

    Writes ``output.md`` (the prompt, the attachments' names, sizes and SHA-256) and obeys
    directives in the prompt: ``[files=N]`` (N extra files, the last one in ``data/``),
    ``[size=5MB]`` (``large.bin`` of that size, deterministic content), ``[duration=90]``
    (agent seconds), ``[fail]`` / ``[fail=code]`` (the run ends ``failed`` with that
    ``errorCode``, default ``agent_failed``).

    Example:
        >>> import asyncio, tempfile
        >>> ctx = AgentContext("r", "hi [duration=5]", "$0.50", Decimal("0.5"), (),
        ...                    Path(tempfile.mkdtemp()))
        >>> asyncio.run(default_agent(ctx)).duration
        5.0
    """
    directives = _directives(ctx.prompt)
    duration = float(directives.get("duration") or DEFAULT_DURATION)
    step = duration / 6
    ctx.log(f"Starting agent for run {ctx.run_id}", at=0.0)
    ctx.log(f"Received {len(ctx.attachments)} attachment(s)", at=step, kind="tool")
    (ctx.workspace / "output.md").write_text(_summary(ctx, directives), encoding="utf-8")
    ctx.log("Wrote output.md", at=2 * step, kind="tool")
    extra = int(directives.get("files") or 0)
    rng = ctx.rng
    for index in range(1, extra + 1):
        name = f"data/extra_{index}.txt" if index == extra else f"extra_{index}.txt"
        target = ctx.workspace / name
        target.parent.mkdir(parents=True, exist_ok=True)
        words = " ".join(f"{rng.randrange(16**8):08x}" for _ in range(16))
        target.write_text(f"extra file {index} of {extra}\n{words}\n", encoding="utf-8")
    if extra:
        ctx.log(f"Wrote {extra} extra file(s)", at=3 * step, kind="tool")
    if "size" in directives:
        _write_sized(ctx.workspace / "large.bin", parse_size(directives["size"]), ctx.seed)
        ctx.log("Wrote large.bin", at=4 * step, kind="tool")
    if "fail" in directives:
        code = directives["fail"] or "agent_failed"
        ctx.log(f"Run failed: {code}", at=duration, kind="error")
        return AgentResult(duration=duration, success=False, error_code=code)
    ctx.log("Done", at=duration)
    return AgentResult(duration=duration)
