"""`import prefect_giga` stays light: the heavy dependencies load on first use of a name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
HEAVY = ["x402", "web3", "eth_account", "prefect", "siwe"]


def modules_after(code: str) -> dict[str, bool]:
    report = f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    script = f"import json, sys\n{code}\n{report}"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_prefect_giga_loads_no_heavy_dependency() -> None:
    loaded = modules_after("import prefect_giga")

    assert loaded == dict.fromkeys(HEAVY, False)


def test_importing_the_client_leaves_x402_and_eth_account_for_later() -> None:
    loaded = modules_after("from prefect_giga import GigaClient, SyncGigaClient, Wallet")

    assert not loaded["x402"]
    assert not loaded["eth_account"]
    assert not loaded["web3"]


def test_unknown_attribute_raises_attribute_error() -> None:
    import prefect_giga

    with pytest.raises(AttributeError, match="no_such_name"):
        _ = prefect_giga.no_such_name


def test_eth_keys_signs_with_the_coincurve_backend() -> None:
    """coincurve is a dependency: signing is about 20x faster than eth-keys' native backend."""
    from eth_keys.backends import get_default_backend_class

    assert get_default_backend_class().endswith("CoinCurveECCBackend")
