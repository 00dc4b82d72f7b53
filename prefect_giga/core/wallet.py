"""The paying wallet: a private key or any signer with the eth-account interface.

eth-account is imported on first use, so ``import prefect_giga`` stays light.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr

from .exceptions import GigaConfigError

__all__ = ["EthSigner", "Wallet"]

_KEY_PATTERN = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_NONCE_SEED_TEXT = (
    "prefect-giga payment nonce seed v1\n"
    "Signing this text derives the EIP-3009 nonces of this wallet's Giga payments. "
    "It authorises no transfer."
)


@runtime_checkable
class EthSigner(Protocol):
    """What prefect-giga needs from a signer: eth-account's ``LocalAccount`` interface.

    KMS or hardware signers plug in by offering ``address``, ``sign_message`` (EIP-191) and
    ``sign_typed_data`` (EIP-712) like ``eth_account.signers.local.LocalAccount``. Their
    signatures must be deterministic (RFC 6979), which exactly-once payments rely on.
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

    Example:
        >>> w = Wallet.from_private_key(
        ...     "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
        >>> w
        Wallet(address='0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266')
    """

    def __init__(self, signer: EthSigner) -> None:
        if not isinstance(getattr(signer, "address", None), str):
            raise GigaConfigError("The signer has no `address`: it needs eth-account's interface")
        self._signer = signer
        self._nonce_seed: bytes | None = None

    @classmethod
    def from_private_key(cls, private_key: str | SecretStr) -> Wallet:
        """Build a wallet from a hex private key.

        Raises:
            GigaConfigError: The key is malformed; the message never repeats it.
        """
        raw = private_key.get_secret_value() if isinstance(private_key, SecretStr) else private_key
        if not isinstance(raw, str):
            raise GigaConfigError("The private key must be a hex string")
        key = _check_private_key(raw)
        from eth_account import Account

        return cls(Account.from_key(key))

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

        It is an HMAC of the key under a secret only this wallet can produce (its own
        signature of a fixed text), so the nonce is unpredictable to others, differs between
        wallets, and lets the USDC contract settle at most one payment per logical start.

        Raises:
            GigaConfigError: The signer's signatures are not deterministic.

        Example:
            >>> w = Wallet.from_private_key("0x" + "11" * 32)
            >>> w.payment_nonce("job-1") == w.payment_nonce("job-1")
            True
        """
        seed = self._seed()
        digest = hmac.new(seed, idempotency_key.encode("utf-8"), hashlib.sha256).digest()
        return "0x" + digest.hex()

    def _seed(self) -> bytes:
        if self._nonce_seed is None:
            first = self.sign_text(_NONCE_SEED_TEXT)
            if self.sign_text(_NONCE_SEED_TEXT) != first:
                raise GigaConfigError(
                    "This signer's signatures are not deterministic, so prefect-giga cannot "
                    "derive stable payment nonces and refuses to pay (exactly-once payments "
                    "depend on it). Use a signer that follows RFC 6979."
                )
            self._nonce_seed = hashlib.sha256(bytes.fromhex(first[2:])).digest()
        return self._nonce_seed

    def __repr__(self) -> str:
        return f"Wallet(address={self.address!r})"
