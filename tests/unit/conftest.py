"""Fixtures for the unit tests: a respx router and a guard that keeps secrets out of errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import respx

from prefect_giga.core.exceptions import GigaError

from ._giga_fakes import SecretGuard

DISCOVERY_DOCUMENTS = r"/(api/)?openapi\.json$|/llms\.txt$|/\.well-known/x402$"


@pytest.fixture(autouse=True)
def secret_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretGuard]:
    """Every `GigaError` built during a test is checked for keys, signatures and tokens."""
    guard = SecretGuard()
    original = GigaError.__init__

    def recording_init(self: GigaError, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        guard.errors.append(self)

    monkeypatch.setattr(GigaError, "__init__", recording_init)
    yield guard
    guard.check()


@pytest.fixture
def router(secret_guard: SecretGuard) -> Iterator[respx.MockRouter]:
    """A respx router that mocks every httpx request; unrouted requests fail the test."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        # A server that publishes no discovery documents: tiers are then checked by their key
        # alone. Tests of tier discovery route these paths themselves (later routes win).
        mock.get(url__regex=DISCOVERY_DOCUMENTS).respond(404)
        yield mock
        for call in mock.calls:
            secret_guard.add_request(call.request)
