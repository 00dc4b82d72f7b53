"""The vectors in ``tests/data/`` are self-consistent, checked with eth-account alone."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from ..vectors import load_vectors

VECTORS = load_vectors()


def test_vector_key_derives_the_vector_address() -> None:
    assert Account.from_key(VECTORS["privateKey"]).address == VECTORS["address"]


@pytest.mark.parametrize("vector", VECTORS["siwx"], ids=lambda v: v["info"]["uri"])
def test_siwx_vector_signature_recovers_its_address(vector: dict[str, Any]) -> None:
    signer = Account.recover_message(
        encode_defunct(text=vector["message"]), signature=vector["signature"]
    )
    assert signer == vector["address"] == VECTORS["address"]


@pytest.mark.parametrize("vector", VECTORS["siwx"], ids=lambda v: v["info"]["uri"])
def test_siwx_vector_header_carries_its_info_address_and_signature(
    vector: dict[str, Any],
) -> None:
    header = json.loads(base64.b64decode(vector["header"]))
    assert header == {
        **vector["info"],
        "address": vector["address"],
        "signature": vector["signature"],
    }
