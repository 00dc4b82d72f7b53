"""`GigaClient`: the async client for every Giga endpoint, with x402 payments and SIWX reads."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from ..core import siwx
from ..core.exceptions import (
    AuthenticationError,
    GigaConfigError,
    GigaProtocolError,
    GigaServerError,
    GigaTransportError,
    LinkExpiredError,
    QuoteRefusedError,
    RunFileNotFoundError,
    RunNotFoundError,
)
from ..core.http import (
    RetryPolicy,
    excerpt,
    install_log_redaction,
    parse_json,
    raise_for_server_status,
    transport_errors,
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
    decode_b64_json,
)
from .files import (
    DEFAULT_MAX_REQUEST_BYTES,
    AttachmentInput,
    DownloadedFile,
    encode_attachments,
    safe_destination,
    write_stream_atomically,
)
from .pagination import MAX_PAGE_SIZE, PageWalker

if TYPE_CHECKING:
    from .sync_client import SyncGigaClient

__all__ = ["DEFAULT_BASE_URL", "BeforePaymentHook", "GigaClient"]

DEFAULT_BASE_URL = "https://giga.dev"
MAX_REPLY_BYTES = 16 * 1024 * 1024
"""The largest API reply (JSON) the client reads; a longer one is refused."""
MIN_DOWNLOAD_RATE = 16 * 1024
"""Bytes per second a download must average, after its first ``timeout`` seconds."""

BeforePaymentHook = Callable[[Quote], Awaitable[None]]
"""Called with the checked quote just before signing; raise to refuse (nothing is signed)."""

_PAYMENT_REQUIRED = "PAYMENT-REQUIRED"
_PAYMENT_SIGNATURE = "PAYMENT-SIGNATURE"
_PAYMENT_RESPONSE = "PAYMENT-RESPONSE"
_DomainForm = Literal["hostname", "netloc"]


class GigaClient:
    """Async client for the Giga API: paid starts over x402, free reads over SIWX.

    One client holds one pooled ``httpx.AsyncClient``; use it as an async context manager.
    Scripts without an event loop use `SyncGigaClient` (``GigaClient.sync(...)``).

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
        self._http = http_client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"user-agent": "prefect-giga"},
            follow_redirects=False,
        )
        self._domain_form: dict[str, _DomainForm] = {}
        self._first_sign_in = asyncio.Lock()
        # httpcore's pool scans every queued request against every connection whenever one
        # finishes: with hundreds queued that bookkeeping costs more than the requests. Keep
        # the queue short by letting only as many requests in as there are connections.
        self._slots = asyncio.Semaphore(max_connections)
        self._client_nonces_refused: set[str] = set()
        install_log_redaction()

    @classmethod
    def sync(cls, *args: Any, **kwargs: Any) -> SyncGigaClient:
        """Build the blocking facade `SyncGigaClient` with the same arguments.

        Example:
            ```python
            with GigaClient.sync(private_key=key, base_url=url) as giga:
                print(giga.list_runs(limit=5))
            ```
        """
        from .sync_client import SyncGigaClient

        return SyncGigaClient(*args, **kwargs)

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
            await self._http.aclose()

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
        data = await self._signed_post(
            "/api/read",
            {"runId": run_id, "includeFiles": include_files},
            f"read run {run_id}",
            not_found=lambda: RunNotFoundError(
                f"Run {run_id} was not found for wallet {self.address} (runs belong to the "
                "wallet that paid for them)"
            ),
        )
        return _validate(Run, data, f"read run {run_id}")

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
        data = await self._signed_post("/api/list", body, "list runs")
        return _validate(RunPage, data, "list runs").runs

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
        data = await self._signed_post(
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
            return await self.retry.call(lambda: self._stream_to(link, target, cap, path))

        try:
            size, sha = await stream(await self.file_url(run_id, path))
        except LinkExpiredError:  # one fresh link, then give up
            size, sha = await stream(await self.file_url(run_id, path))
        return DownloadedFile(remote_path=path, local_path=target, size=size, sha256=sha)

    async def _stream_to(
        self,
        link: PresignedURL,
        target: Path,
        cap: int | None,
        path: str,
    ) -> tuple[int, str]:
        what = f"download of {path!r}"
        url = link.url.get_secret_value()
        with transport_errors(what):
            async with (
                self._slots,
                self._http.stream("GET", url, follow_redirects=True) as response,
            ):
                if response.status_code in (401, 403, 410):
                    raise LinkExpiredError(
                        f"{what}: the presigned link was refused (HTTP {response.status_code}); "
                        "it may have expired"
                    )
                if response.status_code == 404:
                    raise RunFileNotFoundError(f"{what}: the file is gone (HTTP 404)")
                if response.status_code != 200:
                    await response.aread()
                    self._check(response, what)
                    raise GigaProtocolError(f"{what}: unexpected HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if cap is not None and declared and declared.isdigit() and int(declared) > cap:
                    from ..core.exceptions import FileTooLargeError

                    raise FileTooLargeError(
                        f"{what}: the file is {declared} bytes, above the {cap}-byte cap; "
                        "nothing was written"
                    )
                chunks = _paced(response.aiter_bytes(), self.timeout, what)
                return await write_stream_atomically(chunks, target, max_bytes=cap)

    async def _signed_post(
        self,
        path: str,
        body: dict[str, Any],
        what: str,
        not_found: Callable[[], Exception] | None = None,
    ) -> dict[str, Any]:
        async def attempt() -> dict[str, Any]:
            response = await self._signed_post_once(path, body, what)
            if response.status_code == 404 and not_found is not None:
                raise not_found()
            self._check(response, what)
            return parse_json(response, what)

        return await self.retry.call(attempt)

    async def _signed_post_once(self, path: str, body: dict[str, Any], what: str) -> httpx.Response:
        origin = self.base_url
        if origin not in self._domain_form and origin not in self._client_nonces_refused:
            # The first call to a server learns its challenge's domain form; concurrent first
            # calls wait for it instead of each asking for a challenge of their own.
            async with self._first_sign_in:
                if origin not in self._domain_form:
                    return await self._challenged_post(path, body, what)
        return await self._signed_post_fast(path, body, what)

    async def _signed_post_fast(self, path: str, body: dict[str, Any], what: str) -> httpx.Response:
        url = self._url(path)
        origin = self.base_url
        form = self._domain_form.get(origin)
        if form is not None and origin not in self._client_nonces_refused:
            info = siwx.client_made_info(url, self.network.caip2, bare_hostname=form == "hostname")
            response = await self._send(
                "POST",
                path,
                what,
                json=body,
                headers={siwx.SIWX_HEADER: siwx.sign_in(self.wallet, info)},
            )
            if response.status_code != 402:
                return response
            self._client_nonces_refused.add(origin)
        return await self._challenged_post(path, body, what)

    async def _challenged_post(self, path: str, body: dict[str, Any], what: str) -> httpx.Response:
        url = self._url(path)
        origin = self.base_url
        challenge_reply = await self._send("POST", path, what, json=body)
        if challenge_reply.status_code != 402:
            return challenge_reply
        info = siwx.parse_challenge(self._challenge_of(challenge_reply, what), self.network.caip2)
        siwx.check_challenge_origin(info, url)
        self._domain_form[origin] = (
            "hostname" if info.domain == urlsplit(url).hostname else "netloc"
        )
        response = await self._send(
            "POST",
            path,
            what,
            json=body,
            headers={siwx.SIWX_HEADER: siwx.sign_in(self.wallet, info)},
        )
        if response.status_code == 402:
            data = _json_or_empty(response)
            code = str(data.get("error") or "siwx_refused")
            raise AuthenticationError(
                f"{what}: the server refused the wallet's sign-in ({code}: "
                f"{str(data.get('message') or '')[:200]})",
                code=code,
            )
        return response

    def _challenge_of(self, response: httpx.Response, what: str) -> dict[str, Any]:
        header = response.headers.get(_PAYMENT_REQUIRED)
        data = _json_or_empty(response)
        if "extensions" not in data and header:
            data = decode_b64_json(header, _PAYMENT_REQUIRED)
        if not data:
            raise GigaProtocolError(f"{what}: the 402 reply carries no sign-in challenge")
        return data

    # --- plumbing ------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.base_url + path

    async def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        request = self._http.build_request(
            method, self._url(path), json=json, headers=dict(headers or {})
        )
        with transport_errors(what):
            try:
                return await asyncio.wait_for(self._exchange(request, what), self.timeout)
            except asyncio.TimeoutError:
                raise GigaTransportError(
                    f"{what}: no complete reply within {self.timeout:g} s"
                ) from None

    async def _exchange(self, request: httpx.Request, what: str) -> httpx.Response:
        """Send an API request and read its reply whole, refusing replies over the cap."""
        async with self._slots:
            return await self._exchange_in_slot(request, what)

    async def _exchange_in_slot(self, request: httpx.Request, what: str) -> httpx.Response:
        response = await self._http.send(request, stream=True, follow_redirects=False)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_REPLY_BYTES:
                    raise GigaProtocolError(
                        f"{what}: the reply is larger than {MAX_REPLY_BYTES} bytes; refused"
                    )
        finally:
            await response.aclose()
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code, headers=headers, content=bytes(body), request=request
        )

    def _check(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise GigaProtocolError(
                f"{what}: the server redirected (HTTP {status}); API calls never follow "
                "redirects, so no proof or payment went to another host"
            )
        raise_for_server_status(response, what)
        if status == 402:
            raise AuthenticationError(f"{what}: the server asked for authentication again")
        if status == 404:
            raise RunNotFoundError(f"{what}: not found (HTTP 404)")
        raise GigaServerError(
            f"{what}: HTTP {status}: {excerpt(response)}",
            status_code=status,
            body_excerpt=excerpt(response),
        )


async def _paced(chunks: AsyncIterator[bytes], grace: float, what: str) -> AsyncIterator[bytes]:
    """Pass ``chunks`` on while the stream averages `MIN_DOWNLOAD_RATE` after ``grace`` s.

    httpx's read timeout restarts with every byte, so a server trickling bytes forever would
    otherwise hold a download open for ever.
    """
    started = time.monotonic()
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if time.monotonic() - started > grace + received / MIN_DOWNLOAD_RATE:
            raise GigaTransportError(
                f"{what}: the server sends too slowly ({received} bytes in "
                f"{time.monotonic() - started:.0f} s); giving up"
            )
        yield chunk


def normalize_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash; the journal keys starts by it.

    Raises:
        GigaConfigError: It is not an http(s) URL.

    Example:
        >>> normalize_base_url("http://127.0.0.1:8402/")
        'http://127.0.0.1:8402'
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GigaConfigError(f"base_url must be an http(s) URL, got {base_url!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_Model = TypeVar("_Model", bound=BaseModel)


def _validate(model: type[_Model], data: dict[str, Any], what: str) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:5])
        raise GigaProtocolError(f"{what}: the reply does not match the API ({fields})") from None
