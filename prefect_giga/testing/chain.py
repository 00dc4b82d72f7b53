"""An in-memory USDC token: balances, EIP-3009 nonces and transfers, with FiatToken's checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from prefect_giga.core.money import to_atomic
from prefect_giga.core.networks import Network

__all__ = ["ChainRevert", "InMemoryUsdc", "Transfer"]

_TRANSFER_WITH_AUTHORIZATION_TYPES = {
    "TransferWithAuthorization": [
        {"name": "from", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "validAfter", "type": "uint256"},
        {"name": "validBefore", "type": "uint256"},
        {"name": "nonce", "type": "bytes32"},
    ]
}


class ChainRevert(Exception):
    """A simulated contract call reverted; the text mirrors FiatTokenV2's revert strings."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"execution reverted: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Transfer:
    """One executed ``transferWithAuthorization``.

    Attributes:
        tx_hash: The fake but unique transaction hash.
        block_number: The fake block it was "mined" in.
        payer: Checksummed ``from`` address.
        payee: Checksummed ``to`` address.
        amount: Atomic USDC units.
        nonce: The EIP-3009 nonce, ``0x``-prefixed hex.
        timestamp: Unix time it executed.
    """

    tx_hash: str
    block_number: int
    payer: str
    payee: str
    amount: int
    nonce: str
    timestamp: float


class InMemoryUsdc:
    """The USDC contract of one network, held in memory. Thread-safe.

    Every address starts with ``initial_balance`` unless it is in ``unfunded`` (starts at
    0) or ``balances`` names it. ``transfer_with_authorization`` performs FiatTokenV2's
    checks in its order: validity window, nonce unused, EIP-712 signer recovered with the
    token's real name and version, then balance.

    Args:
        network: The network whose USDC this is.
        initial_balance: USD every wallet starts with.
        unfunded: Addresses that start with 0.
        balances: Explicit starting balances in USD.
        now: Block time source; wall time by default (clients sign windows with it).

    Example:
        >>> from prefect_giga.core.networks import BASE
        >>> usdc = InMemoryUsdc(BASE)
        >>> usdc.balance_of("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        1000000000
    """

    def __init__(
        self,
        network: Network,
        *,
        initial_balance: Decimal = Decimal("1000"),
        unfunded: Iterable[str] = (),
        balances: dict[str, Decimal] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.network = network
        self.address = to_checksum_address(network.usdc_address)
        self._initial = to_atomic(initial_balance)
        self._unfunded = {a.lower() for a in unfunded}
        self._explicit = {a.lower(): to_atomic(v) for a, v in (balances or {}).items()}
        self._now = now
        self._lock = threading.RLock()
        self._balances: dict[str, int] = {}
        self._used: set[tuple[str, str]] = set()
        self._transfers: dict[str, Transfer] = {}
        self._block = 1_000_000

    def reset(self) -> None:
        """Forget every balance change, used nonce and transfer."""
        with self._lock:
            self._balances.clear()
            self._used.clear()
            self._transfers.clear()

    def _balance_locked(self, address: str) -> int:
        key = address.lower()
        if key not in self._balances:
            if key in self._explicit:
                self._balances[key] = self._explicit[key]
            else:
                self._balances[key] = 0 if key in self._unfunded else self._initial
        return self._balances[key]

    def balance_of(self, address: str) -> int:
        """The balance of ``address`` in atomic units."""
        with self._lock:
            return self._balance_locked(address)

    def set_balance(self, address: str, usd: Decimal | str | int) -> None:
        """Set a balance (in USD), for tests that drain or fund a wallet."""
        with self._lock:
            self._balances[address.lower()] = to_atomic(usd)

    def authorization_state(self, authorizer: str, nonce: bytes) -> bool:
        """Whether ``authorizer`` already used ``nonce`` (EIP-3009 ``authorizationState``)."""
        with self._lock:
            return (authorizer.lower(), "0x" + nonce.hex()) in self._used

    def used_nonces(self) -> set[tuple[str, str]]:
        """Every ``(payer, nonce)`` pair used so far (lowercase payer, ``0x`` hex nonce)."""
        with self._lock:
            return set(self._used)

    def transfer(self, tx_hash: str) -> Transfer | None:
        """The transfer a transaction hash executed, if any."""
        with self._lock:
            return self._transfers.get(tx_hash.lower())

    def recover_authorizer(
        self,
        payer: str,
        payee: str,
        value: int,
        valid_after: int,
        valid_before: int,
        nonce: bytes,
        signature: bytes,
    ) -> str | None:
        """Recover the signer of a ``TransferWithAuthorization`` over this token's domain."""
        typed = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                **_TRANSFER_WITH_AUTHORIZATION_TYPES,
            },
            "primaryType": "TransferWithAuthorization",
            "domain": {
                "name": self.network.usdc_eip712_name,
                "version": self.network.usdc_eip712_version,
                "chainId": self.network.chain_id,
                "verifyingContract": self.address,
            },
            "message": {
                "from": to_checksum_address(payer),
                "to": to_checksum_address(payee),
                "value": value,
                "validAfter": valid_after,
                "validBefore": valid_before,
                "nonce": nonce,
            },
        }
        try:
            recovered: str = Account.recover_message(
                encode_typed_data(full_message=typed), signature=signature
            )
        except Exception:
            return None
        return recovered

    def transfer_with_authorization(
        self,
        payer: str,
        payee: str,
        value: int,
        valid_after: int,
        valid_before: int,
        nonce: bytes,
        signature: bytes,
        *,
        execute: bool,
    ) -> Transfer | None:
        """Check (and with ``execute=True`` perform) an EIP-3009 transfer.

        Raises:
            ChainRevert: With FiatTokenV2's revert reason when the call would revert.

        Returns:
            The executed transfer, or ``None`` for a simulation.
        """
        now = self._now()
        if len(nonce) != 32:
            raise ChainRevert("invalid nonce length")
        with self._lock:
            if now <= valid_after:
                raise ChainRevert("FiatTokenV2: authorization is not yet valid")
            if now >= valid_before:
                raise ChainRevert("FiatTokenV2: authorization is expired")
            key = (payer.lower(), "0x" + nonce.hex())
            if key in self._used:
                raise ChainRevert("FiatTokenV2: authorization is used")
            signer = self.recover_authorizer(
                payer, payee, value, valid_after, valid_before, nonce, signature
            )
            if signer is None or signer.lower() != payer.lower():
                raise ChainRevert("FiatTokenV2: invalid signature")
            if self._balance_locked(payer) < value:
                raise ChainRevert("ERC20: transfer amount exceeds balance")
            if not execute:
                return None
            self._used.add(key)
            self._balances[payer.lower()] = self._balance_locked(payer) - value
            self._balances[payee.lower()] = self._balance_locked(payee) + value
            self._block += 1
            tx_hash = (
                "0x" + keccak(self.address.encode() + nonce + self._block.to_bytes(8, "big")).hex()
            )
            transfer = Transfer(
                tx_hash=tx_hash,
                block_number=self._block,
                payer=to_checksum_address(payer),
                payee=to_checksum_address(payee),
                amount=value,
                nonce="0x" + nonce.hex(),
                timestamp=now,
            )
            self._transfers[tx_hash] = transfer
            return transfer

    def call(self, function: str, args: tuple[Any, ...], *, execute: bool = False) -> Any:
        """Dispatch a call by function name, as ``eth_call`` (or a transaction) would.

        Raises:
            ChainRevert: The call reverts or the function is unknown.
        """
        if function == "balanceOf":
            return self.balance_of(str(args[0]))
        if function == "name":
            return self.network.usdc_eip712_name
        if function == "version":
            return self.network.usdc_eip712_version
        if function == "decimals":
            return self.network.decimals
        if function == "authorizationState":
            return self.authorization_state(str(args[0]), bytes(args[1]))
        if function == "transferWithAuthorization":
            payer, payee, value, valid_after, valid_before, nonce = args[:6]
            rest = args[6:]
            if len(rest) == 3:
                v, r, s = rest
                signature = bytes(r) + bytes(s) + bytes([int(v)])
            elif len(rest) == 1:
                signature = bytes(rest[0])
            else:
                raise ChainRevert("bad transferWithAuthorization arguments")
            return self.transfer_with_authorization(
                str(payer),
                str(payee),
                int(value),
                int(valid_after),
                int(valid_before),
                bytes(nonce),
                signature,
                execute=execute,
            )
        raise ChainRevert(f"unknown function {function}")
