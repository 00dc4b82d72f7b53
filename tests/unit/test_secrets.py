"""Secrets stay secret: reprs, error messages and httpx's own log lines never show the private
key, a signature, a SIWX proof, a presigned token or attachment bytes.

Every `GigaError` built anywhere in the unit tests is also checked by the autouse
``secret_guard`` fixture (see ``conftest.py``) against the keys, the signatures and proofs the
mocked server received, and the presigned token.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import respx
from pydantic import SecretStr

from prefect_giga import FileAttachment, GigaClient, PresignedURL, SyncGigaClient, Wallet, siwx
from prefect_giga.core.exceptions import GigaConfigError

from ._giga_fakes import (
    ADDRESS,
    BASE_URL,
    FILE_URL,
    KEY,
    TOKEN,
    SecretGuard,
    SiwxEndpoint,
    file_url_json,
    make_client,
)

BYTES = b"TOP-SECRET-ATTACHMENT-BYTES"


def shown(value: object) -> str:
    return f"{value!r} {value!s}"


def test_client_repr_shows_the_address_never_the_key() -> None:
    client = make_client(http_client=httpx.AsyncClient())

    assert ADDRESS in repr(client)
    assert KEY[2:].lower() not in shown(client).lower()


def test_sync_client_repr_never_shows_the_key() -> None:
    with SyncGigaClient(private_key=KEY, base_url=BASE_URL) as giga:
        text = shown(giga)

    assert ADDRESS in text
    assert KEY[2:].lower() not in text.lower()


def test_wallet_repr_never_shows_the_key() -> None:
    assert KEY[2:].lower() not in shown(Wallet.from_private_key(KEY)).lower()


def test_presigned_url_repr_never_shows_the_token() -> None:
    link = PresignedURL(url=SecretStr(FILE_URL), expires_at=datetime(2030, 1, 1))

    assert TOKEN not in shown(link)


def test_file_attachment_repr_shows_name_never_bytes() -> None:
    attachment = FileAttachment.from_bytes("secret.txt", BYTES)

    assert "secret.txt" in repr(attachment)
    assert "TOP-SECRET" not in shown(attachment)


@pytest.mark.parametrize(
    "bad_key",
    ["0x1234", KEY[:-1] + "z", KEY + "ff", "ac0974bec39a17e36ba4a6b4d238ff944bacb478"],
    ids=["short", "not-hex", "long", "truncated"],
)
def test_client_with_malformed_key_raises_config_error_without_the_key(
    bad_key: str, secret_guard: SecretGuard
) -> None:
    secret_guard.add(bad_key, bad_key.removeprefix("0x"))

    with pytest.raises(GigaConfigError) as info:
        GigaClient(private_key=bad_key, base_url=BASE_URL)

    assert bad_key.removeprefix("0x") not in shown(info.value)


def test_sync_client_with_malformed_key_raises_config_error_without_the_key(
    secret_guard: SecretGuard,
) -> None:
    bad_key = KEY[:-1] + "z"
    secret_guard.add(bad_key[2:])

    with pytest.raises(GigaConfigError) as info:
        SyncGigaClient(private_key=bad_key, base_url=BASE_URL)

    assert bad_key[2:] not in shown(info.value)


def test_secret_guard_catches_a_leaking_error() -> None:
    guard = SecretGuard()
    guard.errors.append(ValueError(f"failed with key {KEY}"))
    guard.errors.append(ValueError(f"failed fetching {FILE_URL}"))

    with pytest.raises(AssertionError, match="shows a secret"):
        guard.check()
    assert guard.leaks(guard.errors[0]) != []
    assert guard.leaks(guard.errors[1]) == [TOKEN]


def test_secret_guard_collects_proofs_and_tokens_from_requests() -> None:
    guard = SecretGuard()
    wallet = Wallet.from_private_key(KEY)
    proof = siwx.sign_in(wallet, siwx.client_made_info(f"{BASE_URL}/api/read", "eip155:8453"))
    signature = json.loads(base64.b64decode(proof))["signature"]
    request = httpx.Request(
        "GET", f"{BASE_URL}/api/file?token=tok_other", headers={"SIGN-IN-WITH-X": proof}
    )

    guard.add_request(request)

    assert {proof, signature.removeprefix("0x"), "tok_other"} <= guard.secrets
    assert guard.leaks(ValueError(f"bad proof {signature}")) == [signature.removeprefix("0x")]


async def test_httpx_log_lines_never_show_the_presigned_token(
    router: respx.MockRouter, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    router.post(f"{BASE_URL}/api/file-url").mock(
        side_effect=SiwxEndpoint(lambda _: httpx.Response(200, json=file_url_json()))
    )
    router.get(f"{BASE_URL}/api/file").mock(return_value=httpx.Response(200, content=b"data"))

    with caplog.at_level(logging.DEBUG, logger="httpx"):
        async with make_client() as giga:
            await giga.download("run_1", "output.md", tmp_path)

    messages = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert any("/api/file" in message for message in messages)
    assert all(TOKEN not in message for message in messages)
    assert TOKEN not in caplog.text
