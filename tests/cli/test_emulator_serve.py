"""``prefect-giga emulator serve``: the same emulator as ``python -m prefect_giga.testing
serve``, announced as text or as one JSON line, stopped by SIGTERM.

A server that runs until stopped cannot go through typer's in-process runner, so both
forms run through the installed entry point."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from eth_account import Account

from .conftest import ENTRY_POINT


@contextmanager
def serving(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``prefect-giga emulator serve --port 0 ARGS``, stopped with SIGTERM afterwards."""
    command = [str(ENTRY_POINT), "emulator", "serve", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_serve_json_announces_a_url_that_quotes_and_a_throwaway_key() -> None:
    with serving("--json", "--time-scale", "100", "--tier-table", "seed") as process:
        assert process.stdout is not None
        announced = json.loads(process.stdout.readline())
        reply = httpx.post(announced["url"] + "/api/start", json={"prompt": "hi"})
        published = httpx.get(announced["url"] + "/openapi.json")
    assert reply.status_code == 402 and "payment-required" in reply.headers
    assert published.status_code == 200 and "$0.50" in published.text
    assert Account.from_key(announced["test_private_key"]).address == announced["test_wallet"]
    assert announced["network"] == "eip155:8453"


def test_serve_text_prints_what_python_m_prefect_giga_testing_prints() -> None:
    with serving("--network", "base-sepolia") as process:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(6)]
    assert lines[0].startswith("Giga emulator listening on http://127.0.0.1:")
    assert lines[1].startswith("Network: eip155:84532")
    assert "THROWAWAY" in lines[4]
    assert Account.from_key(lines[5]).address == lines[3].split()[2]
