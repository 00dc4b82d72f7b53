"""`GigaCredentials`: the Prefect block holding the paying wallet and its spending settings."""

from __future__ import annotations

import dataclasses
import os
from decimal import Decimal
from typing import Any, ClassVar

from prefect.blocks.abstract import CredentialsBlock
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from .client.async_client import DEFAULT_BASE_URL, DEFAULT_MAX_PRICE_PER_RUN, GigaClient
from .core.exceptions import GigaConfigError
from .core.exchange import normalize_base_url
from .core.money import parse_usd
from .core.networks import get_network
from .core.wallet import _check_private_key
from .payments.host import ReconcilePolicy
from .payments.journal import Journal
from .payments.journal_url import journal_target

__all__ = ["GigaCredentials"]

ENV_PRIVATE_KEY = "GIGA_PRIVATE_KEY"
ENV_BASE_URL = "GIGA_BASE_URL"


class GigaCredentials(CredentialsBlock):
    """The wallet that pays for Giga runs, and the limits it pays within.

    The private key is stored as a secret and never shown; the address is safe to show.

    Attributes:
        private_key: The paying wallet's hex private key.
        base_url: The Giga server (point it at the emulator for tests).
        network: The only network payments may use.
        default_tier: The tier used when a task names none (``None``: the server's default).
        max_price_per_run: The most one run may cost, in USD (default ``1.00``).
        allowed_payees: Addresses payments may go to (empty: any).
        tier_prices: Prices for tier keys that are not prices themselves.
        max_spend_per_day: The most the wallet may spend in any rolling 24 hours, in USD.
        pin_payee: Refuse a payee that differs from the one last paid on that server.
        allow_insecure_http: Accept plain ``http`` to a host that is not loopback.
        nonce_secret_block: The name of a Prefect ``Secret`` block holding the nonce secret,
            for signers whose signatures are not deterministic (default
            ``$GIGA_NONCE_SECRET``).
        journal_url: A ``postgresql://`` URL of the payment journal every worker paying from
            this wallet shares (stored as a secret; empty: ``$GIGA_JOURNAL_URL``, else this
            machine's SQLite file). Claims and the daily limit are only as wide as the
            journal.
        list_claims: Whether a lost reply may be claimed from ``/api/list``
            (`ReconcilePolicy.list_claims`); switch it off when the workers of this wallet
            do not share one journal.

    Example:
        Load a saved block and start a run from a flow:
        ```python
        from prefect import flow
        from prefect_giga import GigaCredentials

        @flow
        async def my_flow():
            credentials = await GigaCredentials.load("BLOCK_NAME")
            async with credentials.get_client() as giga:
                started = await giga.start("Summarise yesterday's sales")
        ```

        In CI, build it from environment variables instead:
        ```python
        credentials = GigaCredentials.from_env()  # reads GIGA_PRIVATE_KEY, GIGA_BASE_URL
        ```
    """

    _block_type_name: ClassVar[str] = "Giga Credentials"
    _description: ClassVar[str] = (
        "A wallet that pays for Giga agent runs in USDC over x402, with its spending limits."
    )

    # A malformed key must never be echoed back inside a validation error.
    model_config = ConfigDict(hide_input_in_errors=True)

    private_key: SecretStr = Field(
        default=...,
        title="Private key",
        description="Hex private key of the paying wallet (64 hex digits). Stored as a secret.",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        title="Base URL",
        description="The Giga server. Point it at the local emulator for tests.",
    )
    network: str = Field(
        default="eip155:8453",
        title="Network",
        description="CAIP-2 network payments may use: eip155:8453 (Base) or eip155:84532.",
    )
    default_tier: str | None = Field(
        default=None,
        title="Default tier",
        description=(
            "Tier sent when a task names none, for example '$1.00' or '$2.00'. Empty: the "
            "server's default tier, read from what the server publishes."
        ),
    )
    max_price_per_run: Decimal | None = Field(
        default=DEFAULT_MAX_PRICE_PER_RUN,
        title="Max price per run (USD)",
        description=(
            "Refuse any run quoted above this many USD (default 1.00, today's default tier). "
            "Empty: only the tier's own price."
        ),
    )
    allowed_payees: list[str] = Field(
        default_factory=list,
        title="Allowed payees",
        description="Addresses payments may go to. Empty: any payee the server names.",
    )
    tier_prices: dict[str, Decimal] = Field(
        default_factory=dict,
        title="Tier prices",
        description="USD prices for tier keys that are not prices themselves.",
    )
    max_spend_per_day: Decimal | None = Field(
        default=None,
        title="Max spend per day (USD)",
        description=(
            "Refuse payments that would take this wallet over this many USD in any rolling "
            "24 hours, counted across every process on the machine. Empty: no daily limit."
        ),
    )
    pin_payee: bool = Field(
        default=True,
        title="Pin payee",
        description=(
            "Refuse to pay a server at another address than the one it was paid at before "
            "(applies when no allowed payees are listed)."
        ),
    )

    allow_insecure_http: bool = Field(
        default=False,
        title="Allow insecure http",
        description=(
            "Accept a plain http base URL to a host that is not this machine. Off by default: "
            "on a network, an attacker could rewrite the payment quote."
        ),
    )
    nonce_secret_block: str | None = Field(
        default=None,
        title="Nonce secret block",
        description=(
            "Name of a Secret block holding the secret payment nonces derive from, for signers "
            "whose signatures are not deterministic. Empty: $GIGA_NONCE_SECRET, if set."
        ),
    )

    journal_url: SecretStr | None = Field(
        default=None,
        title="Journal URL",
        description=(
            "postgresql:// URL of the payment journal shared by every worker paying from this "
            "wallet. Stored as a secret. Empty: $GIGA_JOURNAL_URL, else this machine's file."
        ),
    )
    list_claims: bool = Field(
        default=True,
        title="Claim lost replies from the run list",
        description=(
            "Tie a paid start whose reply was lost to the one new run of the wallet the "
            "journal cannot give to another start. Switch off when workers of this wallet do "
            "not share one journal: such a start then ends as outcome unknown."
        ),
    )

    @field_validator("journal_url")
    @classmethod
    def _journal_url_is_postgres(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        try:
            journal_target(url=value)
        except GigaConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("private_key")
    @classmethod
    def _key_is_well_formed(cls, value: SecretStr) -> SecretStr:
        _check_private_key(value.get_secret_value())
        return value

    @field_validator("network")
    @classmethod
    def _network_is_known(cls, value: str) -> str:
        return get_network(value).caip2

    @field_validator("max_price_per_run", "max_spend_per_day")
    @classmethod
    def _price_is_money(cls, value: Decimal | None) -> Decimal | None:
        return None if value is None else parse_usd(value)

    @model_validator(mode="after")
    def _base_url_is_safe(self) -> GigaCredentials:
        self.base_url = normalize_base_url(
            self.base_url, allow_insecure_http=self.allow_insecure_http
        )
        return self

    @classmethod
    def from_env(cls, **overrides: Any) -> GigaCredentials:
        """Build the block from ``GIGA_PRIVATE_KEY`` (and ``GIGA_BASE_URL`` when set).

        Raises:
            GigaConfigError: ``GIGA_PRIVATE_KEY`` is not set.

        Example:
            ```python
            credentials = GigaCredentials.from_env(max_price_per_run="1.00")
            ```
        """
        key = os.environ.get(ENV_PRIVATE_KEY)
        if not key:
            raise GigaConfigError(f"Set {ENV_PRIVATE_KEY} to the paying wallet's private key")
        fields: dict[str, Any] = {"private_key": key}
        if os.environ.get(ENV_BASE_URL):
            fields["base_url"] = os.environ[ENV_BASE_URL]
        fields.update(overrides)
        return cls(**fields)

    @property
    def address(self) -> str:
        """The paying wallet's address (safe to show)."""
        from .core.wallet import Wallet

        return Wallet.from_private_key(self.private_key).address

    def get_client(self, **overrides: Any) -> GigaClient:
        """A `GigaClient` configured from this block; keyword arguments override settings.

        Example:
            ```python
            async with credentials.get_client(timeout=60) as giga:
                print(await giga.list_runs())
            ```
        """
        settings: dict[str, Any] = {
            "private_key": self.private_key,
            "base_url": self.base_url,
            "network": self.network,
            "default_tier": self.default_tier,
            "max_price_per_run": self.max_price_per_run,
            "allowed_payees": self.allowed_payees or None,
            "tier_prices": self.tier_prices,
            "max_spend_per_day": self.max_spend_per_day,
            "pin_payee": self.pin_payee,
            "allow_insecure_http": self.allow_insecure_http,
        }
        if self.nonce_secret_block:
            settings["nonce_secret"] = self._load_nonce_secret(self.nonce_secret_block)
        if self.journal_url is not None and "journal" not in overrides:
            settings["journal_url"] = self.journal_url
        settings.update(overrides)
        if not self.list_claims:  # off stays off, whatever policy the caller passes
            reconcile = settings.get("reconcile") or ReconcilePolicy()
            settings["reconcile"] = dataclasses.replace(reconcile, list_claims=False)
        return GigaClient(**settings)

    def open_journal(self) -> Journal:
        """The payment journal this block's clients use (``journal_url``, else the default).

        Example:
            ```python
            entry = credentials.open_journal().get(StartRef(credentials.address, url, key))
            ```
        """
        return Journal(url=self.journal_url)

    @staticmethod
    def _load_nonce_secret(name: str) -> SecretStr:
        from prefect.blocks.system import Secret

        try:
            block: Secret[Any] = Secret.load(name, _sync=True)  # type: ignore[call-arg, assignment]
        except ValueError:
            raise GigaConfigError(f"No Secret block named {name!r} (the nonce secret)") from None
        value = block.get()
        if not isinstance(value, str):
            raise GigaConfigError(f"The Secret block {name!r} must hold a string")
        return SecretStr(value)
