"""A signer like a KMS, HSM or MPC one: real secp256k1 ECDSA with a random ``k`` per signature.

Its signatures verify (they recover to its address) but differ every time, which is what
makes such signers unable to derive stable payment nonces from their own signatures. It
offers eth-account's ``LocalAccount`` signing interface, so a `Wallet` takes it as is.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_keys.backends.native.ecdsa import G, N, fast_multiply, inv

__all__ = ["RandomKSigner", "SignedBytes"]


@dataclass(frozen=True)
class SignedBytes:
    """What eth-account's signing methods return, as far as prefect-giga and x402 read it."""

    message_hash: bytes
    signature: bytes


class RandomKSigner:
    """Signs with ``k`` drawn from ``secrets`` (never RFC 6979); low-``s`` like Ethereum wants.

    Example:
        >>> signer = RandomKSigner("0x" + "11" * 32)
        >>> from eth_account.messages import encode_defunct
        >>> a = signer.sign_message(encode_defunct(text="hi")).signature
        >>> b = signer.sign_message(encode_defunct(text="hi")).signature
        >>> a != b
        True
    """

    def __init__(self, private_key: str) -> None:
        self._secret = int(private_key.removeprefix("0x"), 16)
        self.address: str = Account.from_key(private_key).address
        self.signatures = 0

    def _sign_hash(self, digest: bytes) -> SignedBytes:
        z = int.from_bytes(digest, "big")
        while True:
            k = secrets.randbelow(N - 1) + 1
            rx, ry = fast_multiply(G, k)
            r = rx % N
            s = inv(k, N) * (z + r * self._secret) % N
            if r and s:
                break
        v = ry & 1
        if s > N // 2:  # Ethereum accepts only the low-s form; flipping s flips the parity
            s, v = N - s, v ^ 1
        self.signatures += 1
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + v])
        return SignedBytes(message_hash=digest, signature=signature)

    def sign_message(self, signable_message: Any) -> SignedBytes:
        """Sign an EIP-191 message (``encode_defunct`` and friends)."""
        return self._sign_hash(bytes(_hash_eip191_message(signable_message)))

    def sign_typed_data(
        self,
        domain_data: Any = None,
        message_types: Any = None,
        message_data: Any = None,
        full_message: Any = None,
    ) -> SignedBytes:
        """Sign EIP-712 typed data, taking the same arguments as ``LocalAccount``."""
        signable = encode_typed_data(domain_data, message_types, message_data, full_message)
        return self._sign_hash(bytes(_hash_eip191_message(signable)))
