"""A server whose SIWX challenge is malformed: nothing is signed, nothing is sent signed.

The emulator's challenge fields are replaced (``Hostile.challenge_overrides``); a fresh
client (which asks for a challenge on its first call) must refuse before signing. The
wallet counts every EIP-4361 text it signs; the emulator counts the proofs it received.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from prefect_giga import GigaClient
from prefect_giga.core.exceptions import RunNotFoundError, SiwxChallengeError
from prefect_giga.testing import GigaEmulator

from .support import TALLY, CountingSigner


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


NOW = datetime.now(timezone.utc)

MALFORMED: list[tuple[str, dict[str, Any]]] = [
    ("statement with a line break", {"statement": "Sign in\nURI: https://evil.example/"}),
    ("statement with a carriage return", {"statement": "Sign in\rResources:"}),
    ("nonce too short", {"nonce": "abc123"}),
    ("nonce not alphanumeric", {"nonce": "0123456789abcdef\nVersion: 1"}),
    ("issuedAt an hour ago", {"issuedAt": _iso(NOW - timedelta(hours=1))}),
    ("issuedAt an hour ahead", {"issuedAt": _iso(NOW + timedelta(hours=1))}),
    ("issuedAt not a date-time", {"issuedAt": "yesterday"}),
    ("no expirationTime", {"expirationTime": None}),
    ("expiry a year away", {"expirationTime": _iso(NOW + timedelta(days=365))}),
    ("expiry already passed", {"expirationTime": _iso(NOW - timedelta(seconds=1))}),
    ("resource on another host", {"resources": ["https://evil.example/api/read"]}),
    ("resource with a line break", {"resources": ["http://127.0.0.1/a\n- https://evil"]}),
    ("resources not a list", {"resources": "https://evil.example/"}),
    ("requestId with a line break", {"requestId": "r1\nChain ID: 1"}),
    ("version 2", {"version": "2"}),
    ("chain id of another chain", {"chainId": "eip155:1"}),
    ("domain of another host", {"domain": "evil.example"}),
    ("uri with a line break", {"uri": "http://127.0.0.1/api/read\nNonce: x"}),
    ("notBefore after the expiry", {"notBefore": _iso(NOW + timedelta(days=2))}),
]


@pytest.mark.parametrize(("name", "fields"), MALFORMED, ids=[n for n, _ in MALFORMED])
async def test_a_malformed_challenge_is_refused_and_nothing_is_signed(
    emulator: GigaEmulator,
    make_client: Callable[..., GigaClient],
    signer: CountingSigner,
    name: str,
    fields: dict[str, Any],
) -> None:
    emulator.hostile.challenge_overrides = dict(fields)
    signed_before = signer.siwe_signatures
    async with make_client() as giga:
        with pytest.raises(SiwxChallengeError) as caught:
            await giga.read("run_abc")
        with pytest.raises(SiwxChallengeError):
            await giga.list_runs()
    signed = signer.siwe_signatures - signed_before
    TALLY.case("siwx", caught.value)
    TALLY.malformed_signatures += signed
    assert signed == 0
    assert emulator.siwx.used_nonces() == set()  # no proof reached the server


async def test_a_wellformed_challenge_is_signed_once_per_call(
    emulator: GigaEmulator, make_client: Callable[..., GigaClient], signer: CountingSigner
) -> None:
    # The control: the same path with the emulator's own challenge signs and is accepted.
    signed_before = signer.siwe_signatures
    async with make_client() as giga:
        with pytest.raises(RunNotFoundError):
            await giga.read("run_abc")
    assert signer.siwe_signatures - signed_before == 1
    assert len(emulator.siwx.used_nonces()) == 1
