"""`GigaClient`: the async client for every Giga endpoint, with x402 payments and SIWX reads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from types import TracebackType

import httpx
from pydantic import SecretStr

from ..core.exceptions import (
    GigaConfigError,
    GigaProtocolError,
    QuoteRefusedError,
    RunNotFoundError,
)
from ..core.exchange import Exchange, normalize_base_url, validate_reply
from ..core.http import RetryPolicy, install_log_redaction
from ..core.ids import check_asked_run_id
from ..core.models import Quote, Run, RunPage, RunSummary, StartedRun
from ..core.money import parse_usd
from ..core.networks import get_network
from ..core.wallet import EthSigner, Wallet
from ..payments.journal import Journal, ScopeLimit, StartRef
from ..payments.keys import check_start_key
from ..payments.paid_start import PaidStart, ReconcilePolicy
from ..payments.quotes import DEFAULT_QUOTE_TTL, QuoteCache
from ..payments.request_fingerprint import request_fingerprint
from ..payments.signing import PaymentPolicy
from ..payments.start_guards import check_key_use
from .files import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
    AttachmentInput,
)
from .links import SafeLinks
from .pagination import MAX_PAGE_SIZE, PageWalker
from .paid_calls import PaidCalls
from .run_files import RunFiles
from .signin import SignIn
from .tiers import ServerTiers, TierBook

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MAX_PRICE_PER_RUN", "BeforePaymentHook", "GigaClient"]

DEFAULT_BASE_URL = "https://giga.dev"
DEFAULT_MAX_PRICE_PER_RUN = Decimal("1.00")
"""The most one run may cost unless the user says otherwise (``None`` lifts the cap)."""

BeforePaymentHook = Callable[[Quote], Awaitable[None]]
"""Called with the checked quote just before signing; raise to refuse (nothing is signed)."""


class GigaClient(PaidCalls, RunFiles):
    """Async client for the Giga API: paid starts over x402, free reads over SIWX.

    One client holds one pooled ``httpx.AsyncClient``; use it as an async context manager.
    Scripts without an event loop use `SyncGigaClient`, which takes the same arguments.

    Args:
        private_key: The paying wallet's hex private key. Give this or ``signer``.
        signer: Any signer with eth-account's interface (KMS, hardware), instead of a key.
        base_url: The Giga server.
        network: The only network payments may use (``"eip155:8453"``, ``"base-sepolia"``...).
        default_tier: The tier used when a call names none; ``None`` (the default) is the
            server's default tier, read from what the server publishes. The tier is always
            sent explicitly, and must be one the server offers.
        max_price_per_run: The most one run may cost, in USD (default ``$1.00``; ``None``:
            only the tier's own price).
        tier_prices: Prices for tier keys that are not prices themselves.
        allowed_payees: The only addresses payments may go to (default: any).
        timeout: Seconds for one API request, reply included (a reply that trickles in
            forever is cut off); a download must also average 16 KiB/s after that long.
        max_request_bytes: The largest start request (prompt plus base64 attachments).
        max_download_bytes: The largest file a download keeps (default 1 GiB,
            `DEFAULT_MAX_DOWNLOAD_BYTES`; ``None`` for no cap).
        retry: The retry policy for free calls. Paid requests are never retried blindly.
        before_payment: An async hook called with each checked quote before signing.
        max_spend_per_day: The most this wallet may spend over a rolling 24 hours, in USD,
            counted in the journal across every process on the machine.
        pin_payee: Refuse a payee that differs from the one last paid on this server (when
            ``allowed_payees`` is not set).
        journal: The payment journal (default: `Journal()`: ``$GIGA_JOURNAL_URL``, else
            the SQLite file ``$GIGA_JOURNAL_PATH`` or ``~/.prefect-giga/journal.sqlite3``).
        journal_url: A ``postgresql://`` URL of a journal shared by every worker paying
            from this wallet, instead of ``journal`` (needs the ``postgres`` extra).
        reconcile: How a start with a lost reply is reconciled.
        quote_ttl: Seconds a checked quote is reused, so later starts of the same tier pay on
            their first request (``0`` always asks first).
        max_connections: Connections in the pool, and requests in flight at once; more
            wait their turn (a long queue inside httpx costs more CPU than it saves).
        http_client: An ``httpx.AsyncClient`` to use instead of the client's own.
        allow_insecure_http: Accept a plain ``http`` ``base_url`` to a host that is not
            loopback (by default only ``https``, or ``http`` to this machine).
        nonce_secret: The secret payment nonces derive from when the signer's signatures
            are not deterministic (KMS, HSM, MPC); default ``$GIGA_NONCE_SECRET``. Every
            worker paying from the wallet must hold the same one.

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
        default_tier: str | None = None,
        max_price_per_run: Decimal | str | int | None = DEFAULT_MAX_PRICE_PER_RUN,
        tier_prices: Mapping[str, Decimal | str | int] | None = None,
        allowed_payees: Iterable[str] | None = None,
        timeout: float = 30.0,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_download_bytes: int | None = DEFAULT_MAX_DOWNLOAD_BYTES,
        retry: RetryPolicy | None = None,
        before_payment: BeforePaymentHook | None = None,
        max_spend_per_day: Decimal | str | int | None = None,
        pin_payee: bool = True,
        journal: Journal | None = None,
        journal_url: str | SecretStr | None = None,
        reconcile: ReconcilePolicy | None = None,
        quote_ttl: float = DEFAULT_QUOTE_TTL,
        max_connections: int = 16,
        http_client: httpx.AsyncClient | None = None,
        allow_insecure_http: bool = False,
        nonce_secret: str | SecretStr | None = None,
    ) -> None:
        self.wallet = Wallet.from_settings(private_key, signer, nonce_secret)
        self.base_url = normalize_base_url(base_url, allow_insecure_http=allow_insecure_http)
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
            if default_tier is not None:
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
        if journal is not None and journal_url is not None:
            raise GigaConfigError("Give the client a journal or a journal_url, not both")
        self.journal = journal or Journal(url=journal_url)
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
        self.tier_book = TierBook(self.exchange, self.network)
        self.links = SafeLinks(self.base_url, timeout=timeout, max_connections=max_connections)
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
        await self.links.aclose()
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
        body = self._paid_body(prompt, files)
        body["tier"] = chosen = await self._resolve_tier(tier)
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
        scope_limit: ScopeLimit | None = None,
    ) -> StartedRun:
        """Pay for and start one agent run.

        With no tier (and no ``default_tier``) the server's default tier is used. The tier
        must be one the server offers, and is always sent. The 402 quote is checked against
        the tier's price,
        ``max_price_per_run``, the network, the USDC asset and the allowed payees before
        anything is signed. The EIP-3009 nonce derives from ``idempotency_key`` (random when
        none is given), so at most one payment per key can ever settle.

        Args:
            prompt: What the agent should do.
            tier: The tier key (today ``"$1.00"``, ``"$2.00"``, ``"$5.00"``); default
                ``default_tier``, or the server's default tier.
            files: Attachments as `FileAttachment`, paths, bytes or ``(name, bytes)``.
            idempotency_key: Identifies the logical start across retries and processes. A
                key names one request at one server: reusing it for another prompt, tier or
                attachments, or at another server, raises `IdempotencyKeyConflictError`.
            scope_limit: A spend limit shared by every start recorded under its scope (a
                batch), checked in the journal as the start is recorded, so concurrent runs
                of one batch in any process on the journal share it.

        Returns:
            The run id, its status and the payment receipt.

        Raises:
            AttachmentError: A file is missing or the request is too large; nothing paid.
            TierNotOfferedError: The server does not offer the tier; nothing signed.
            QuoteRefusedError: The quote breaks a limit; nothing signed.
            BudgetExceededError: The daily limit or ``scope_limit`` would be exceeded.
            InsufficientFundsError: The wallet holds too little USDC.
            PaymentRejectedError: The server refused the payment.
            SettlementFailedError: The server could not settle; not charged.
            OutcomeUnknownError: The paid request lost its reply.
            IdempotencyKeyConflictError: The key was used for another request or server.

        Example:
            ```python
            started = await giga.start("Write a haiku about ETL")  # the server's default tier
            print(started.run_id, started.receipt.transaction)
            ```
        """
        body = self._paid_body(prompt, files)
        key = check_start_key(idempotency_key or uuid.uuid4().hex)
        fingerprint = request_fingerprint(prompt, tier, body.get("files", []))
        check_key_use(self.journal, ref := StartRef(self.address, self.base_url, key), fingerprint)
        recorded = self.journal.get(ref)
        if recorded is not None and recorded.run_id is not None:  # re-attach: no request
            return await PaidStart(self, key, body, recorded.tier, fingerprint=fingerprint).run()
        body["tier"] = chosen = await self._resolve_tier(tier)
        paid = PaidStart(self, key, body, chosen, fingerprint=fingerprint, scope_limit=scope_limit)
        return await paid.run()

    async def tiers(self) -> ServerTiers:
        """The tiers the server offers, their prices and its default, from its own documents.

        Read once per client (its discovery documents, and when they name no default, one
        unpaid quote without a tier), then kept.

        Raises:
            GigaProtocolError: The server publishes no tier table, or its default is unclear.
            GigaTransportError: The server could not be reached.

        Example:
            ```python
            tiers = await giga.tiers()
            print(tiers.default, tiers.tiers)  # $1.00 {'$1.00': Decimal('1.00'), ...}
            ```
        """
        return await self.tier_book.required()

    # --- SIWX reads ----------------------------------------------------------------------

    async def read(self, run_id: str, *, include_files: bool = False) -> Run:
        """Read a run's status (and, with ``include_files``, its files). Free; SIWX-signed.

        ``logs`` may be ``None`` early in a run: that is normal.

        Raises:
            GigaConfigError: ``run_id`` is not a valid run id; nothing is sent.
            RunNotFoundError: No such run for this wallet.
            GigaProtocolError: The reply is for another run, or its id is not a valid id.

        Example:
            ```python
            run = await giga.read(run_id, include_files=True)
            if run.status.is_terminal:
                print([f.path for f in run.files or []])
            ```
        """
        check_asked_run_id(run_id)
        data = await self.signin.call(
            "/api/read",
            {"runId": run_id, "includeFiles": include_files},
            f"read run {run_id}",
            not_found=lambda: RunNotFoundError(
                f"Run {run_id} was not found for wallet {self.address} (runs belong to the "
                "wallet that paid for them)"
            ),
        )
        run = validate_reply(Run, data, f"read run {run_id}")
        if run.id != run_id:
            raise GigaProtocolError(
                f"read run {run_id}: the server answered with another run ({run.id}); refused"
            )
        return run

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
