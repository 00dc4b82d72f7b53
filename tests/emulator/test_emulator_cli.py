"""``python -m prefect_giga.testing serve`` starts, prints what a user needs, and stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from eth_account import Account

ROOT = Path(__file__).resolve().parents[2]


def test_serve_prints_url_payee_and_a_throwaway_key() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable,
        "-m",
        "prefect_giga.testing",
        "serve",
        "--port",
        "0",
        "--time-scale",
        "100",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(6)]
        url = lines[0].removeprefix("Giga emulator listening on ")
        assert url.startswith("http://127.0.0.1:")
        assert lines[2] == "Payee: 0x179eC767Cd66Dd21064F85fd630385f26A98FD4e"
        assert "THROWAWAY" in lines[4]
        address = lines[3].split()[2]
        assert Account.from_key(lines[5]).address == address
        response = httpx.post(url + "/api/start", json={"prompt": "hi"})
        assert response.status_code == 402
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
