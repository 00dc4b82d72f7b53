"""A `FacilitatorEvmSigner` over `InMemoryUsdc`, so the x402 SDK facilitator verifies for real."""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode, encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from x402.mechanisms.evm.constants import (
    AUTHORIZATION_STATE_ABI,
    BALANCE_OF_ABI,
    MULTICALL3_ADDRESS,
    NAME_ABI,
    TRANSFER_WITH_AUTHORIZATION_BYTES_ABI,
    TRANSFER_WITH_AUTHORIZATION_VRS_ABI,
    VERSION_ABI,
)
from x402.mechanisms.evm.exact.eip3009_utils import ERC20_TRANSFER_EVENT_TOPIC
from x402.mechanisms.evm.types import TransactionReceipt, TypedDataDomain, TypedDataField

from prefect_giga.testing.chain import ChainRevert, InMemoryUsdc

__all__ = ["EmulatorEvmSigner"]

_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
_FAKE_CONTRACT_CODE = bytes.fromhex("6080604052")  # any non-empty bytecode
_FACILITATOR_ADDRESS = to_checksum_address(
    "0x" + keccak(text="giga-emulator-facilitator")[-20:].hex()
)


def _signature(entry: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    inputs = [str(item["type"]) for item in entry.get("inputs", [])]
    outputs = [str(item["type"]) for item in entry.get("outputs", [])]
    return f"{entry['name']}({','.join(inputs)})", inputs, outputs


def _selector_table() -> dict[bytes, tuple[str, list[str], list[str]]]:
    table: dict[bytes, tuple[str, list[str], list[str]]] = {}
    abis = (
        TRANSFER_WITH_AUTHORIZATION_VRS_ABI,
        TRANSFER_WITH_AUTHORIZATION_BYTES_ABI,
        AUTHORIZATION_STATE_ABI,
        BALANCE_OF_ABI,
        NAME_ABI,
        VERSION_ABI,
    )
    for abi in abis:
        for entry in abi:
            text, inputs, outputs = _signature(entry)
            table[keccak(text=text)[:4]] = (str(entry["name"]), inputs, outputs)
    return table


_SELECTORS = _selector_table()


def _pad_address(address: str) -> str:
    return "0x" + "00" * 12 + address.lower().removeprefix("0x")


class EmulatorEvmSigner:
    """Implements x402's ``FacilitatorEvmSigner`` protocol against an `InMemoryUsdc`.

    Every address except the token has no code (an EOA), ``read_contract`` runs the token's
    views and simulates ``transferWithAuthorization`` (reverting like FiatTokenV2),
    Multicall3's ``tryAggregate`` is decoded and dispatched, ``write_contract`` executes the
    transfer, and receipts carry a real ERC-20 ``Transfer`` log.

    Args:
        usdc: The in-memory token.

    Example:
        >>> from prefect_giga.core.networks import BASE
        >>> signer = EmulatorEvmSigner(InMemoryUsdc(BASE))
        >>> signer.get_code(BASE.usdc_address) != b""
        True
    """

    def __init__(self, usdc: InMemoryUsdc) -> None:
        self._usdc = usdc

    def _is_token(self, address: str) -> bool:
        return address.lower() == self._usdc.address.lower()

    def get_addresses(self) -> list[str]:
        """The facilitator's (fake) gas-paying address."""
        return [_FACILITATOR_ADDRESS]

    def get_chain_id(self) -> int:
        """The token's chain id."""
        return self._usdc.network.chain_id

    def get_code(self, address: str) -> bytes:
        """Non-empty for the token and Multicall3, empty for everything else (EOAs)."""
        if self._is_token(address) or address.lower() == MULTICALL3_ADDRESS.lower():
            return _FAKE_CONTRACT_CODE
        return b""

    def get_balance(self, address: str, token_address: str) -> int:
        """Token balance of ``address``; 0 for unknown tokens."""
        return self._usdc.balance_of(address) if self._is_token(token_address) else 0

    def read_contract(
        self, address: str, abi: list[dict[str, Any]], function_name: str, *args: Any
    ) -> Any:
        """Run a view or simulate a call; raises with the revert text on failure."""
        if address.lower() == MULTICALL3_ADDRESS.lower() and function_name == "tryAggregate":
            return self._try_aggregate(list(args[1]))
        if not self._is_token(address):
            raise ChainRevert(f"no contract at {address}")
        return self._usdc.call(function_name, args, execute=False)

    def _try_aggregate(self, calls: list[Any]) -> list[tuple[bool, bytes]]:
        results: list[tuple[bool, bytes]] = []
        for target, call_data in calls:
            results.append(self._call_raw(str(target), bytes(call_data)))
        return results

    def _call_raw(self, target: str, call_data: bytes) -> tuple[bool, bytes]:
        spec = _SELECTORS.get(call_data[:4])
        if spec is None or not self._is_token(target):
            return (False, b"")
        name, inputs, outputs = spec
        try:
            args = tuple(decode(inputs, call_data[4:])) if inputs else ()
            result = self._usdc.call(name, args, execute=False)
        except ChainRevert as revert:
            return (False, _ERROR_SELECTOR + encode(["string"], [revert.reason]))
        except Exception:
            return (False, b"")
        return (True, encode(outputs, [result]) if outputs else b"")

    def verify_typed_data(
        self,
        address: str,
        domain: TypedDataDomain,
        types: dict[str, list[TypedDataField]],
        primary_type: str,
        message: dict[str, Any],
        signature: bytes,
    ) -> bool:
        """Recover an EIP-712 signer with eth-account and compare it to ``address``."""
        domain_fields = [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ]
        typed = {
            "types": {
                "EIP712Domain": domain_fields,
                **{k: [{"name": f.name, "type": f.type} for f in v] for k, v in types.items()},
            },
            "primaryType": primary_type,
            "domain": {
                "name": domain.name,
                "version": domain.version,
                "chainId": domain.chain_id,
                "verifyingContract": domain.verifying_contract,
            },
            "message": message,
        }
        try:
            recovered: str = Account.recover_message(
                encode_typed_data(full_message=typed), signature=signature
            )
        except Exception:
            return False
        return recovered.lower() == address.lower()

    def write_contract(
        self,
        address: str,
        abi: list[dict[str, Any]],
        function_name: str,
        *args: Any,
        data_suffix: str | None = None,
    ) -> str:
        """Execute a call on the token and return its transaction hash."""
        if not self._is_token(address) or function_name != "transferWithAuthorization":
            raise ChainRevert(f"unsupported transaction {function_name} to {address}")
        transfer = self._usdc.call(function_name, args, execute=True)
        return str(transfer.tx_hash)

    def send_transaction(self, to: str, data: bytes) -> str:
        """Raw transactions (smart-wallet deployment) are not supported by the emulator."""
        raise ChainRevert("raw transactions are not supported by the emulator")

    def wait_for_transaction_receipt(self, tx_hash: str) -> TransactionReceipt:
        """The receipt of an executed transfer, with its ERC-20 ``Transfer`` log."""
        transfer = self._usdc.transfer(tx_hash)
        if transfer is None:
            raise TimeoutError(f"transaction {tx_hash} not found")
        log = {
            "address": self._usdc.address,
            "topics": [
                ERC20_TRANSFER_EVENT_TOPIC,
                _pad_address(transfer.payer),
                _pad_address(transfer.payee),
            ],
            "data": "0x" + transfer.amount.to_bytes(32, "big").hex(),
        }
        return TransactionReceipt(
            status=1, block_number=transfer.block_number, tx_hash=transfer.tx_hash, logs=[log]
        )
