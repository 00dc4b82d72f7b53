"""The paying wallet: a private key or any signer with the eth-account interface.

eth-account is imported on first use, so ``import prefect_giga`` stays light.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr

from .exceptions import GigaConfigError

__all__ = ["ENV_NONCE_SECRET", "EthSigner", "Wallet", "nonce_secret_from_env"]

ENV_NONCE_SECRET = "GIGA_NONCE_SECRET"  # noqa: S105 (a variable name, not a secret)
MIN_NONCE_SECRET_CHARS = 16

_KEY_PATTERN = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_NONCE_SEED_TEXT = (
    "prefect-giga payment nonce seed v1\n"
    "Signing this text derives the EIP-3009 nonces of this wallet's Giga payments. "
    "It authorises no transfer."
)
_SECRET_KEY_LABEL = b"prefect-giga payment nonce secret v1\n"
_SECRET_FINGERPRINT_LABEL = b"prefect-giga payment nonce secret fingerprint v1\n"


def nonce_secret_from_env() -> SecretStr | None:
    """``$GIGA_NONCE_SECRET`` as a secret, or ``None`` when it is unset or empty.

    Example:
        >>> import os
        >>> os.environ.pop("GIGA_NONCE_SECRET", None) and None
        >>> nonce_secret_from_env() is None
        True
    """
    value = os.environ.get(ENV_NONCE_SECRET)
    return SecretStr(value) if value else None


def _check_nonce_secret(secret: str | SecretStr | None) -> bytes | None:
    if secret is None:
        return None
    raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if not isinstance(raw, str) or len(raw) < MIN_NONCE_SECRET_CHARS:
        raise GigaConfigError(
            f"The nonce secret must be a string of at least {MIN_NONCE_SECRET_CHARS} "
            "characters (for example 32 random hex digits). (The secret itself is not shown.)"
        )
    return raw.encode("utf-8")


@runtime_checkable
class EthSigner(Protocol):
    """What prefect-giga needs from a signer: eth-account's ``LocalAccount`` interface.

    KMS or hardware signers plug in by offering ``address``, ``sign_message`` (EIP-191) and
    ``sign_typed_data`` (EIP-712) like ``eth_account.signers.local.LocalAccount``. When
    their signatures are not deterministic (no RFC 6979), the wallet needs a nonce secret
    to derive payment nonces from (see `Wallet`).
    """

    @property
    def address(self) -> str:
        """The checksummed address."""
        ...

    def sign_message(self, signable_message: Any) -> Any:
        """Sign an EIP-191 message."""
        ...

    def sign_typed_data(
        self,
        domain_data: Any = None,
        message_types: Any = None,
        message_data: Any = None,
        full_message: Any = None,
    ) -> Any:
        """Sign EIP-712 typed data."""
        ...


def _check_private_key(key: str) -> str:
    text = key.strip()
    if not _KEY_PATTERN.match(text):
        raise GigaConfigError(
            "The private key is malformed: expected 64 hexadecimal digits, with or without "
            "a 0x prefix. (The key itself is not shown.)"
        )
    value = int(text.removeprefix("0x"), 16)
    if not 0 < value < _SECP256K1_ORDER:
        raise GigaConfigError(
            "The private key is out of range for secp256k1. (The key itself is not shown.)"
        )
    return "0x" + text.removeprefix("0x").lower()


class Wallet:
    """The wallet that pays for runs and signs in to read them.

    Build it from a private key (``Wallet.from_private_key``) or from any signer with the
    eth-account interface (``Wallet(signer)``). Its ``repr`` shows the address only.

    Payment nonces derive from the signer's own signature of a fixed text when its
    signatures are deterministic (any private key, RFC 6979 signers); otherwise from
    ``nonce_secret``, which every worker paying from the wallet must share. Without either,
    paying is refused.

    Args:
        signer: The eth-account style signer.
        nonce_secret: The secret nonces derive from when the signer is not deterministic.

    Example:
        >>> w = Wallet.from_private_key(
        ...     "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
        >>> w
        Wallet(address='0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266')
    """

    def __init__(self, signer: EthSigner, *, nonce_secret: str | SecretStr | None = None) -> None:
        if not isinstance(getattr(signer, "address", None), str):
            raise GigaConfigError("The signer has no `address`: it needs eth-account's interface")
        self._signer = signer
        self._nonce_secret = _check_nonce_secret(nonce_secret)
        self._nonce_seed: bytes | None = None
        self._seed_from_secret = False

    @classmethod
    def from_private_key(
        cls, private_key: str | SecretStr, *, nonce_secret: str | SecretStr | None = None
    ) -> Wallet:
        """Build a wallet from a hex private key.

        Raises:
            GigaConfigError: The key is malformed; the message never repeats it.

        Example:
            >>> Wallet.from_private_key("0x" + "11" * 32).address[:6]
            '0x19E7'
        """
        raw = private_key.get_secret_value() if isinstance(private_key, SecretStr) else private_key
        if not isinstance(raw, str):
            raise GigaConfigError("The private key must be a hex string")
        key = _check_private_key(raw)
        from eth_account import Account

        return cls(Account.from_key(key), nonce_secret=nonce_secret)

    @classmethod
    def from_settings(
        cls,
        private_key: str | SecretStr | None,
        signer: EthSigner | None,
        nonce_secret: str | SecretStr | None = None,
    ) -> Wallet:
        """The wallet from exactly one of ``private_key`` and ``signer`` (as `GigaClient` takes
        them), its nonce secret defaulting to ``$GIGA_NONCE_SECRET``.

        Raises:
            GigaConfigError: Both or neither were given, or the key or secret is malformed.

        Example:
            >>> Wallet.from_settings("0x" + "11" * 32, None).address[:6]
            '0x19E7'
        """
        if (private_key is None) == (signer is None):
            raise GigaConfigError("Give exactly one of private_key or signer")
        secret = nonce_secret if nonce_secret is not None else nonce_secret_from_env()
        if signer is not None:
            return cls(signer, nonce_secret=secret)
        assert private_key is not None
        return cls.from_private_key(private_key, nonce_secret=secret)

    @property
    def address(self) -> str:
        """The wallet's checksummed address."""
        return str(self._signer.address)

    @property
    def signer(self) -> EthSigner:
        """The underlying eth-account style signer."""
        return self._signer

    def sign_text(self, text: str) -> str:
        """Sign ``text`` with EIP-191 ``personal_sign`` and return the 0x-hex signature.

        Example:
            >>> w = Wallet.from_private_key("0x" + "11" * 32)
            >>> len(w.sign_text("hello"))
            132
        """
        from eth_account.messages import encode_defunct

        signed = self._signer.sign_message(encode_defunct(text=text))
        return "0x" + bytes(signed.signature).hex()

    def payment_nonce(self, idempotency_key: str) -> str:
        """The EIP-3009 nonce for one logical start: the same key always gives the same nonce.

        It is an HMAC of the wallet's address and the key under a secret: the wallet's own
        signature of a fixed text when the signer is deterministic, else the nonce secret.
        So the nonce is unpredictable to others, differs between wallets, does not depend on
        the server, and lets the USDC contract settle at most one payment per logical start.

        Raises:
            GigaConfigError: The signer's signatures are not deterministic and no nonce
                secret was given.

        Example:
            >>> w = Wallet.from_private_key("0x" + "11" * 32)
            >>> w.payment_nonce("job-1") == w.payment_nonce("job-1")
            True
        """
        seed = self._seed()
        message = idempotency_key.encode("utf-8")
        if self._seed_from_secret:  # bind the wallet too: one secret may serve many wallets
            message = self.address.lower().encode("ascii") + b"\n" + message
        digest = hmac.new(seed, message, hashlib.sha256).digest()
        return "0x" + digest.hex()

    @property
    def nonce_secret_fingerprint(self) -> str | None:
        """A fingerprint of the nonce secret when nonces derive from it, else ``None``.

        It identifies the secret without revealing it, so the journal can refuse a worker
        holding another secret for the same wallet.

        Raises:
            GigaConfigError: As `payment_nonce`.

        Example:
            >>> Wallet.from_private_key("0x" + "11" * 32).nonce_secret_fingerprint is None
            True
        """
        self._seed()
        if not self._seed_from_secret or self._nonce_secret is None:
            return None
        digest = hmac.new(_SECRET_FINGERPRINT_LABEL, self._nonce_secret, hashlib.sha256)
        return digest.hexdigest()[:32]

    def _seed(self) -> bytes:
        if self._nonce_seed is None:
            first = self.sign_text(_NONCE_SEED_TEXT)
            if self.sign_text(_NONCE_SEED_TEXT) == first:
                self._nonce_seed = hashlib.sha256(bytes.fromhex(first[2:])).digest()
            elif self._nonce_secret is not None:
                self._nonce_seed = hmac.new(
                    _SECRET_KEY_LABEL, self._nonce_secret, hashlib.sha256
                ).digest()
                self._seed_from_secret = True
            else:
                raise GigaConfigError(
                    "This signer's signatures are not deterministic (KMS, HSM and MPC "
                    "signers often are not), so payment nonces cannot derive from them and "
                    "prefect-giga refuses to pay. Give a nonce secret (nonce_secret=..., "
                    "$GIGA_NONCE_SECRET, or the credentials block's nonce secret) shared by "
                    "every worker paying from this wallet, or use an RFC 6979 signer."
                )
        return self._nonce_seed

    def __repr__(self) -> str:
        return f"Wallet(address={self.address!r})"
