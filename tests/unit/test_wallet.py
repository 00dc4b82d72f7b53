"""The paying wallet: key checks that never echo the key, deterministic payment nonces, and
external signers with eth-account's interface."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import respx
from eth_account import Account
from pydantic import SecretStr
from x402.extensions.sign_in_with_x import parse_siwx_header, verify_siwx_signature

from prefect_giga import GigaClient
from prefect_giga.core.exceptions import GigaConfigError
from prefect_giga.core.wallet import Wallet

from ._giga_fakes import (
    ADDRESS,
    BASE_URL,
    KEY,
    NO_WAIT,
    OTHER_KEY,
    SiwxEndpoint,
    StartEndpoint,
    payment_of,
    run_json,
    siwx_signer,
)
from ._giga_fakes import SecretGuard as _SecretGuard
from .test_payments import recover_transfer_signer

NONCE = re.compile(r"0x[0-9a-f]{64}")


def test_wallet_from_private_key_has_the_checksummed_address() -> None:
    assert Wallet.from_private_key(KEY).address == ADDRESS


@pytest.mark.parametrize("key", [KEY[2:], KEY.upper().replace("0X", "0x"), f"  {KEY}\n"])
def test_wallet_accepts_key_without_prefix_in_any_case_with_whitespace(key: str) -> None:
    assert Wallet.from_private_key(key).address == ADDRESS


def test_wallet_accepts_key_as_secret_str() -> None:
    assert Wallet.from_private_key(SecretStr(KEY)).address == ADDRESS


@pytest.mark.parametrize(
    "bad_key",
    [
        KEY[:-2],
        KEY + "00",
        KEY[:-1] + "g",
        "0x" + "00" * 32,
        "0x" + "ff" * 32,
        KEY[:30] + " " + KEY[30:],
        "correct horse battery staple",
    ],
    ids=["short", "long", "not-hex", "zero", "above-curve-order", "inner-space", "passphrase"],
)
def test_malformed_private_key_is_refused_without_echoing_it(
    bad_key: str, secret_guard: _SecretGuard
) -> None:
    secret_guard.add(bad_key.strip(), bad_key.strip().removeprefix("0x"))

    with pytest.raises(GigaConfigError) as info:
        Wallet.from_private_key(bad_key)

    assert bad_key.strip().removeprefix("0x") not in str(info.value)
    assert "not shown" in str(info.value)


def test_non_string_private_key_is_refused() -> None:
    with pytest.raises(GigaConfigError):
        Wallet.from_private_key(int(KEY, 16))  # type: ignore[arg-type]


def test_signer_without_address_is_refused() -> None:
    with pytest.raises(GigaConfigError, match="address"):
        Wallet(object())  # type: ignore[arg-type]


def test_wallet_repr_shows_the_address_only() -> None:
    wallet = Wallet.from_private_key(KEY)

    assert repr(wallet) == f"Wallet(address={ADDRESS!r})"
    assert KEY[2:] not in repr(wallet) + str(wallet)


# --- payment nonces ----------------------------------------------------------------------


def test_payment_nonce_is_deterministic_per_key() -> None:
    first = Wallet.from_private_key(KEY).payment_nonce("job-1")
    again = Wallet.from_private_key(KEY).payment_nonce("job-1")

    assert first == again


def test_payment_nonce_is_32_bytes_of_hex() -> None:
    nonce = Wallet.from_private_key(KEY).payment_nonce("job-1")

    assert NONCE.fullmatch(nonce)
    assert len(bytes.fromhex(nonce[2:])) == 32


def test_payment_nonce_differs_per_key() -> None:
    wallet = Wallet.from_private_key(KEY)

    nonces = {wallet.payment_nonce(f"job-{i}") for i in range(50)}

    assert len(nonces) == 50


def test_payment_nonce_differs_per_wallet() -> None:
    ours = Wallet.from_private_key(KEY).payment_nonce("job-1")
    theirs = Wallet.from_private_key(OTHER_KEY).payment_nonce("job-1")

    assert ours != theirs


def test_payment_nonce_is_not_a_plain_hash_of_the_key() -> None:
    import hashlib

    nonce = Wallet.from_private_key(KEY).payment_nonce("job-1")

    assert nonce[2:] != hashlib.sha256(b"job-1").hexdigest()


class NonDeterministicSigner:
    """An eth-account style signer whose EIP-191 signatures change every call."""

    def __init__(self, key: str) -> None:
        self._account = Account.from_key(key)
        self.address = self._account.address
        self._calls = 0

    def sign_message(self, signable_message: Any) -> Any:
        self._calls += 1

        class Signed:
            signature = bytes([self._calls]) * 65

        return Signed()

    def sign_typed_data(self, *args: Any, **kwargs: Any) -> Any:
        return self._account.sign_typed_data(*args, **kwargs)


def test_non_deterministic_signer_is_refused_for_payment_nonces() -> None:
    wallet = Wallet(NonDeterministicSigner(KEY))  # type: ignore[arg-type]

    with pytest.raises(GigaConfigError, match="deterministic"):
        wallet.payment_nonce("job-1")


async def test_start_with_non_deterministic_signer_signs_nothing(
    router: respx.MockRouter,
) -> None:
    endpoint = StartEndpoint()
    router.post(f"{BASE_URL}/api/start").mock(side_effect=endpoint)

    async with GigaClient(
        signer=NonDeterministicSigner(KEY),  # type: ignore[arg-type]
        base_url=BASE_URL,
        retry=NO_WAIT,
    ) as giga:
        with pytest.raises(GigaConfigError, match="deterministic"):
            await giga.start("Write a haiku", tier="$0.50")

    assert endpoint.payments == []


# --- external signers --------------------------------------------------------------------


def test_external_signer_signs_like_the_private_key() -> None:
    external = Wallet(Account.from_key(KEY))
    internal = Wallet.from_private_key(KEY)

    assert external.address == internal.address
    assert external.sign_text("hello") == internal.sign_text("hello")
    assert external.payment_nonce("job-1") == internal.payment_nonce("job-1")


def test_client_refuses_both_or_neither_of_key_and_signer() -> None:
    with pytest.raises(GigaConfigError, match="exactly one"):
        GigaClient(private_key=KEY, signer=Account.from_key(KEY), base_url=BASE_URL)
    with pytest.raises(GigaConfigError, match="exactly one"):
        GigaClient(base_url=BASE_URL)


async def test_external_signer_pays_and_signs_in(router: respx.MockRouter) -> None:
    start = StartEndpoint()
    read = SiwxEndpoint(run_json())
    router.post(f"{BASE_URL}/api/start").mock(side_effect=start)
    router.post(f"{BASE_URL}/api/read").mock(side_effect=read)

    async with GigaClient(signer=Account.from_key(KEY), base_url=BASE_URL, retry=NO_WAIT) as giga:
        started = await giga.start("Write a haiku", tier="$0.50", idempotency_key="job-1")
        run = await giga.read(started.run_id)

    assert run.id == "run_1"
    payment = payment_of(start.payments[0])
    domain = {
        "name": "USD Coin",
        "version": "2",
        "chainId": 8453,
        "verifyingContract": payment["accepted"]["asset"],
    }
    authorization = payment["payload"]["authorization"]
    assert authorization["nonce"] == Wallet.from_private_key(KEY).payment_nonce("job-1")
    assert recover_transfer_signer(domain, authorization, payment["payload"]["signature"]) == (
        ADDRESS
    )
    assert siwx_signer(read.headers[0]) == ADDRESS
    verification = await verify_siwx_signature(parse_siwx_header(read.headers[0]))
    assert verification.is_valid


def test_client_accepts_key_as_secret_str() -> None:
    client = GigaClient(
        private_key=SecretStr(KEY), base_url=BASE_URL, http_client=httpx.AsyncClient()
    )

    assert client.address == ADDRESS
