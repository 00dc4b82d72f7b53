"""The nonce secret from a Prefect ``Secret`` block: a signer with random ``k`` pays through it."""

from __future__ import annotations

import uuid

import pytest
from prefect.blocks.system import Secret

from prefect_giga import GigaConfigError, GigaCredentials
from prefect_giga.core.wallet import Wallet
from prefect_giga.testing import GigaEmulator
from tests.random_k_signer import RandomKSigner

from .conftest import payments_by

SECRET = "a nonce secret every worker shares"


async def test_credentials_load_the_nonce_secret_block_for_a_random_k_signer(
    emulator: GigaEmulator, private_key: str
) -> None:
    name = f"nonce-secret-{uuid.uuid4().hex[:8]}"
    await Secret(value=SECRET).save(name)
    credentials = GigaCredentials(
        private_key=private_key, base_url=emulator.url, nonce_secret_block=name
    )
    signer = RandomKSigner(private_key)
    async with credentials.get_client(private_key=None, signer=signer) as giga:
        started = await giga.start("Summarise the KMS audit", idempotency_key="kms-block")
    paid = payments_by(emulator, signer.address)
    expected = Wallet(signer, nonce_secret=SECRET).payment_nonce("kms-block")
    assert [(e.run_id, e.nonce.lower()) for e in paid] == [(started.run_id, expected)]
    assert signer.signatures >= 3  # seed probe (twice), the payment: all random k


def test_a_missing_nonce_secret_block_is_a_clear_error(private_key: str) -> None:
    credentials = GigaCredentials(
        private_key=private_key, base_url="http://127.0.0.1:1", nonce_secret_block="no-such-block"
    )
    with pytest.raises(GigaConfigError, match="no-such-block"):
        credentials.get_client()
