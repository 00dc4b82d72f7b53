"""The signing test vectors kept in ``tests/data/`` (provenance in ``tests/data/README.md``)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

VECTORS_PATH = Path(__file__).resolve().parent / "data" / "test-vectors.json"
"""SIWX and EIP-3009 vectors made with the x402 TypeScript SDK and viem: an independent oracle."""


@functools.lru_cache(maxsize=1)
def load_vectors() -> dict[str, Any]:
    """The parsed vectors file (cached; treat it as read-only)."""
    vectors: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    return vectors


TEST_KEY: str = load_vectors()["privateKey"]
"""The public Hardhat/Anvil test key #0 (never funded anywhere real)."""
