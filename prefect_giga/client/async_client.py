"""`GigaClient`: the async client for every Giga endpoint, with x402 payments and SIWX reads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr, ValidationError

from ..core.exceptions import (
    GigaConfigError,
    GigaProtocolError,
    LinkExpiredError,
    QuoteRefusedError,
    RunFileNotFoundError,
    RunNotFoundError,
)
from ..core.exchange import Exchange, normalize_base_url, validate_reply
from ..core.http import (
    RetryPolicy,
    install_log_redaction,
)
from ..core.models import PresignedURL, Quote, Run, RunPage, RunSummary, StartedRun
from ..core.money import parse_usd
from ..core.networks import get_network
from ..core.wallet import EthSigner, Wallet
from ..payments.journal import Journal
from ..payments.paid_start import PaidStart, ReconcilePolicy
from ..payments.quotes import DEFAULT_QUOTE_TTL, QuoteCache
from ..payments.signing import (
    PaymentPolicy,
)
from .downloads import stream_to_file
from .files import (
    DEFAULT_MAX_REQUEST_BYTES,
    AttachmentInput,
    DownloadedFile,
    encode_attachments,
    safe_destination,
)
from .pagination import MAX_PAGE_SIZE, PageWalker
from .signin import SignIn

__all__ = ["DEFAULT_BASE_URL", "BeforePaymentHook", "GigaClient"]

DEFAULT_BASE_URL = "https://giga.dev"

BeforePaymentHook = Callable[[Quote], Awaitable[None]]
"""Called with the checked quote just before signing; raise to refuse (nothing is signed)."""


class GigaClient:
    """Async client for the Giga API: paid starts over x402, free reads over SIWX.

    One client holds one pooled ``httpx.AsyncClient``; use it as an async context manager.
    Scripts without an event loop use `SyncGigaClient`, which takes the same arguments.

    Args:
        private_key: The paying wallet's hex private key. Give this or ``signer``.
        signer: Any signer with eth-account's interface (KMS, hardware), instead of a key.
        base_url: The Giga server.
        network: The only network payments may use (``"eip155:8453"``, ``"base-sepolia"``...).
        default_tier: The tier sent when a call names none. Always sent explicitly.
        max_price_per_run: The most one run may cost, in USD.
        tier_prices: Prices for tier keys that are not prices themselves.
        allowed_payees: The only addresses payments may go to (default: any).
        timeout: Seconds for one API request, reply included (a reply that trickles in
            forever is cut off); a download must also average 16 KiB/s after that long.
        max_request_bytes: The largest start request (prompt plus base64 attachments).
        max_download_bytes: The largest file a download keeps (default: no cap).
        retry: The retry policy for free calls. Paid requests are never retried blindly.
        before_payment: An async hook called with each checked quote before signing.
        max_spend_per_day: The most this wallet may spend over a rolling 24 hours, in USD,
            counted in the journal across every process on the machine.
        pin_payee: Refuse a payee that differs from the one last paid on this server (when
            ``allowed_payees`` is not set).
        journal: The payment journal (default: `Journal()` at ``$GIGA_JOURNAL_PATH`` or
            ``~/.prefect-giga/journal.sqlite3``).
        reconcile: How a start with a lost reply is reconciled.
        quote_ttl: Seconds a checked quote is reused, so later starts of the same tier pay on
            their first request (``0`` always asks first).
        max_connections: Connections in the pool, and requests in flight at once; more
            wait their turn (a long queue inside httpx costs more CPU than it saves).
        http_client: An ``httpx.AsyncClient`` to use instead of the client's own.

    Example:
        ```python
        from prefect_giga import GigaClient

        async with GigaClient(private_key=key, base_url="http://127.0.0.1:8402") as giga:
            started = await giga.start("Summarise this CSV", files=["data.csv"])
            run = await giga.read(started.run_id)
        ```
    """

    def __init__(
        self,
        private_key: str | SecretStr | None = None,
        *,
        signer: EthSigner | None = None,
        base_url: str = DEFAULT_BASE_URL,
        network: str = "eip155:8453",
        default_tier: str = "$0.50",
        max_price_per_run: Decimal | str | int | None = None,
        tier_prices: Mapping[str, Decimal | str | int] | None = None,
        allowed_payees: Iterable[str] | None = None,
        timeout: float = 30.0,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_download_bytes: int | None = None,
        retry: RetryPolicy | None = None,
        before_payment: BeforePaymentHook | None = None,
        max_spend_per_day: Decimal | str | int | None = None,
        pin_payee: bool = True,
        journal: Journal | None = None,
        reconcile: ReconcilePolicy | None = None,
        quote_ttl: float = DEFAULT_QUOTE_TTL,
        max_connections: int = 16,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if (private_key is None) == (signer is None):
            raise GigaConfigError("Give exactly one of private_key or signer")
        self.wallet = Wallet(signer) if signer is not None else Wallet.from_private_key(private_key)  # type: ignore[arg-type]
        self.base_url = normalize_base_url(base_url)
        try:
            self.network = get_network(network)
            self.policy = PaymentPolicy(
                network=self.network,
                max_price_per_run=None
                if max_price_per_run is None
                else parse_usd(max_price_per_run),
                tier_prices={k: parse_usd(v) for k, v in (tier_prices or {}).items()},
                allowed_payees=None
                if allowed_payees is None
                else frozenset(a.lower() for a in allowed_payees),
            )
            self.max_spend_per_day = (
                None if max_spend_per_day is None else parse_usd(max_spend_per_day)
            )
            self.policy.expected_price(default_tier)
        except QuoteRefusedError as exc:
            raise GigaConfigError(f"default_tier: {exc}") from None
        except ValueError as exc:
            raise GigaConfigError(str(exc)) from None
        self.default_tier = default_tier
        self.timeout = timeout
        self.max_request_bytes = max_request_bytes
        self.max_download_bytes = max_download_bytes
        self.retry = retry or RetryPolicy()
        self.before_payment = before_payment
        self.pin_payee = pin_payee
        self.journal = journal or Journal()
        self.reconcile = reconcile or ReconcilePolicy()
        self.quotes = QuoteCache(quote_ttl)
        self._owns_http = http_client is None
        http = http_client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"user-agent": "prefect-giga"},
            follow_redirects=False,
        )
        self.exchange = Exchange(
            self.base_url, http, timeout=timeout, max_in_flight=max_connections
        )
        self.signin = SignIn(self.exchange, self.wallet, self.network, self.retry)
        install_log_redaction()

    async def __aenter__(self) -> GigaClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (when the client created it)."""
        if self._owns_http:
            await self.exchange.http.aclose()

    def __repr__(self) -> str:
        return (
            f"GigaClient(base_url={self.base_url!r}, address={self.wallet.address!r}, "
            f"network={self.network.caip2!r})"
        )

    @property
    def address(self) -> str:
        """The paying wallet's address."""
        return self.wallet.address

    # --- paid start ----------------------------------------------------------------------

    async def quote(
        self,
        prompt: str,
        *,
        tier: str | None = None,
        files: Sequence[AttachmentInput] | None = None,
    ) -> Quote:
        """Ask what a start would cost (the free 402 probe) and check it; pays nothing.

        Raises:
            QuoteRefusedError: The quote breaks a limit.
            GigaConfigError: The tier is unknown.

        Example:
            ```python
            quote = await giga.quote("Draft a memo", tier="$1.00")
            print(quote.amount)  # Decimal('1.00')
            ```
        """
        chosen = tier or self.default_tier
        body = self._start_body(prompt, chosen, files)
        probed = await self.retry.call(PaidStart(self, "", body, chosen).probe)
        if isinstance(probed, StartedRun):
            raise GigaProtocolError(
                f"The server started run {probed.run_id} without asking for payment"
            )
        return probed.quote

    async def start(
        self,
        prompt: str,
        *,
        tier: str | None = None,
        files: Sequence[AttachmentInput] | None = None,
        idempotency_key: str | None = None,
    ) -> StartedRun:
        """Pay for and start one agent run.

        The tier is always sent. The 402 quote is checked against the tier's price,
        ``max_price_per_run``, the network, the USDC asset and the allowed payees before
        anything is signed. The EIP-3009 nonce derives from ``idempotency_key`` (random when
        none is given), so at most one payment per key can ever settle.

        Args:
            prompt: What the agent should do.
            tier: The tier key (``"$0.50"``, ``"$1.00"``, ``"$2.00"``); default ``default_tier``.
            files: Attachments as `FileAttachment`, paths, bytes or ``(name, bytes)``.
            idempotency_key: Identifies the logical start across retries and processes.

        Returns:
            The run id, its status and the payment receipt.

        Raises:
            AttachmentError: A file is missing or the request is too large; nothing paid.
            QuoteRefusedError: The quote breaks a limit; nothing signed.
            InsufficientFundsError: The wallet holds too little USDC.
            PaymentRejectedError: The server refused the payment.
            SettlementFailedError: The server could not settle; not charged.
            OutcomeUnknownError: The paid request lost its reply.

        Example:
            ```python
            started = await giga.start("Write a haiku about ETL", tier="$0.50")
            print(started.run_id, started.receipt.transaction)
            ```
        """
        chosen = tier or self.default_tier
        body = self._start_body(prompt, chosen, files)
        key = idempotency_key or uuid.uuid4().hex
        return await PaidStart(self, key, body, chosen).run()

    def _start_body(
        self,
        prompt: str,
        tier: str,
        files: Sequence[AttachmentInput] | None,
    ) -> dict[str, Any]:
        if not isinstance(prompt, str) or not prompt.strip():
            raise GigaConfigError("The prompt must be a non-empty string")
        self.policy.expected_price(tier)
        body: dict[str, Any] = {"prompt": prompt, "tier": tier}
        encoded = encode_attachments(files, prompt=prompt, max_request_bytes=self.max_request_bytes)
        if encoded:
            body["files"] = encoded
        return body

    # --- SIWX reads ----------------------------------------------------------------------

    async def read(self, run_id: str, *, include_files: bool = False) -> Run:
        """Read a run's status (and, with ``include_files``, its files). Free; SIWX-signed.

        ``logs`` may be ``None`` early in a run: that is normal.

        Raises:
            RunNotFoundError: No such run for this wallet.

        Example:
            ```python
            run = await giga.read(run_id, include_files=True)
            if run.status.is_terminal:
                print([f.path for f in run.files or []])
            ```
        """
        data = await self.signin.call(
            "/api/read",
            {"runId": run_id, "includeFiles": include_files},
            f"read run {run_id}",
            not_found=lambda: RunNotFoundError(
                f"Run {run_id} was not found for wallet {self.address} (runs belong to the "
                "wallet that paid for them)"
            ),
        )
        return validate_reply(Run, data, f"read run {run_id}")

    async def list_runs(self, *, limit: int = 10, offset: int = 0) -> list[RunSummary]:
        """One page of this wallet's runs, most recently updated first. ``limit`` is capped at 100.

        Example:
            ```python
            for run in await giga.list_runs(limit=20):
                print(run.id, run.status)
            ```
        """
        if limit < 1 or offset < 0:
            raise GigaConfigError("limit must be at least 1 and offset at least 0")
        body = {"limit": min(limit, MAX_PAGE_SIZE), "offset": offset}
        data = await self.signin.call("/api/list", body, "list runs")
        return validate_reply(RunPage, data, "list runs").runs

    async def iter_runs(self, *, page_size: int = MAX_PAGE_SIZE) -> AsyncIterator[RunSummary]:
        """Iterate over all of this wallet's runs, page by page (each run once).

        Example:
            ```python
            async for run in giga.iter_runs():
                print(run.id)
            ```
        """
        walker = PageWalker(page_size)
        while not walker.done:
            page = await self.list_runs(limit=walker.size, offset=walker.offset)
            for run in walker.take(page):
                yield run

    async def file_url(self, run_id: str, path: str) -> PresignedURL:
        """A presigned download link for one of a run's files (valid about an hour).

        The link is a bearer credential: it is kept in a ``SecretStr``.

        Raises:
            RunFileNotFoundError: The run or the file does not exist.
        """
        what = f"file-url for {path!r} of run {run_id}"
        data = await self.signin.call(
            "/api/file-url",
            {"runId": run_id, "path": path},
            what,
            not_found=lambda: RunFileNotFoundError(f"Run {run_id} has no file {path!r}"),
        )
        url = data.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise GigaProtocolError(f"{what}: the reply has no http(s) url")
        try:
            return PresignedURL(url=SecretStr(url), expires_at=data.get("expiresAt"))
        except ValidationError:
            raise GigaProtocolError(f"{what}: the reply's expiresAt is not a timestamp") from None

    async def download(
        self,
        run_id: str,
        path: str,
        dest: str | Path,
        *,
        max_bytes: int | None = None,
    ) -> Path:
        """Download one file of a run into the folder ``dest``, keeping its relative path.

        Streams to a temp file and renames it into place; refuses paths that would escape
        ``dest``. Returns the local path.

        Raises:
            UnsafePathError: The path would land outside ``dest``; nothing is written.
            FileTooLargeError: The file is over the cap; nothing is kept.
            LinkExpiredError: The server refused two fresh links in a row.

        Example:
            ```python
            local = await giga.download(run_id, "output.md", "outputs/")
            print(local.read_text())
            ```
        """
        return (await self.download_file(run_id, path, dest, max_bytes=max_bytes)).local_path

    async def download_file(
        self,
        run_id: str,
        path: str,
        dest: str | Path,
        *,
        max_bytes: int | None = None,
    ) -> DownloadedFile:
        """Like `download`, and also report the size and SHA-256 of what was written."""
        target = safe_destination(dest, path)
        cap = max_bytes if max_bytes is not None else self.max_download_bytes

        async def stream(link: PresignedURL) -> tuple[int, str]:
            return await self.retry.call(
                lambda: stream_to_file(self.exchange, link, target, max_bytes=cap, path=path)
            )

        try:
            size, sha = await stream(await self.file_url(run_id, path))
        except LinkExpiredError:  # one fresh link, then give up
            size, sha = await stream(await self.file_url(run_id, path))
        return DownloadedFile(remote_path=path, local_path=target, size=size, sha256=sha)
