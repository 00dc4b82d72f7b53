"""Signatures per second with the eth-keys backend this process got.

The parent runs it twice: as is (coincurve, when installed) and with
``ECC_BACKEND_CLASS=eth_keys.backends.NativeECCBackend`` (pure Python). It prints one JSON
line: the backend, and SIWX proofs (EIP-191, as `prefect_giga.core.siwx.sign_in` makes them) and
EIP-3009 payment authorizations (EIP-712) signed per second.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from eth_account import Account

from prefect_giga import siwx
from prefect_giga.core.wallet import Wallet

USDC_BASE = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
SECONDS = 2.0


def rate(sign: Callable[[], object], seconds: float = SECONDS) -> float:
    """Calls of ``sign`` per second, over about ``seconds`` (after one warm-up call)."""
    sign()
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        sign()
        count += 1
    return count / elapsed


def _transfer(account: Any) -> Callable[[], object]:
    domain = {"name": "USD Coin", "version": "2", "chainId": 8453, "verifyingContract": USDC_BASE}
    types = {
        "TransferWithAuthorization": [
            {"name": "from", "type": "address"},
            {"name": "to", "type": "address"},
            {"name": "value", "type": "uint256"},
            {"name": "validAfter", "type": "uint256"},
            {"name": "validBefore", "type": "uint256"},
            {"name": "nonce", "type": "bytes32"},
        ]
    }
    message = {
        "from": account.address,
        "to": "0x179eC767Cd66Dd21064F85fd630385f26A98FD4e",
        "value": 500000,
        "validAfter": 0,
        "validBefore": 2_000_000_000,
        "nonce": bytes(32),
    }
    return lambda: account.sign_typed_data(domain, types, message)


def main() -> int:
    """Measure and print the rates as JSON."""
    account = Account.from_key("0x" + secrets.token_hex(32))
    wallet = Wallet(account)
    info = siwx.client_made_info("http://127.0.0.1:8402/api/read", "eip155:8453")
    result = {
        "backend": type(account._key_obj.backend).__name__,
        "siwx_per_second": rate(lambda: siwx.sign_in(wallet, info)),
        "eip712_per_second": rate(_transfer(account)),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
