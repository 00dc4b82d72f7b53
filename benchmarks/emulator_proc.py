"""The emulator in a process of its own, driven over stdin/stdout, so its CPU stays apart.

``python -m benchmarks.emulator_proc --time-scale 4 --seed 6`` prints one JSON line with the
URL, then answers one JSON line per command line on stdin:

- ``reset``: a fresh emulator state (runs, chain, nonces, counters) and a new CPU mark.
- ``stats``: the request counters and the server's CPU seconds since the last ``reset``.
- ``quit``: stop and exit.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from prefect_giga.testing import EmulatorConfig, GigaEmulator, tier_table

__all__ = ["main", "process_cpu"]

BALANCE = Decimal(1_000_000)
"""Test USDC every wallet starts with: plenty for 1000 runs at $0.50."""


def process_cpu() -> float:
    """User plus system CPU seconds of this whole process (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stats(emulator: GigaEmulator, cpu_mark: float) -> dict[str, Any]:
    requests = [[endpoint, status, n] for (endpoint, status), n in emulator.requests.items()]
    return {
        "requests": sorted(requests),
        "paid_requests": {str(k): v for k, v in emulator.paid_requests.items()},
        "cpu": process_cpu() - cpu_mark,
        "runs": len(emulator.runs),
        "payments": len(emulator.ledger),
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _reply(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until ``quit`` or the end of stdin.

    Example:
        >>> main(["--time-scale", "400"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks.emulator_proc")
    parser.add_argument("--time-scale", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settlement-seconds", type=float, default=0.0)
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        time_scale=args.time_scale,
        seed=args.seed,
        initial_balance=BALANCE,
        proxy=False,  # no dropping proxy in front: one hop, as a real server
        file_url_ttl_seconds=3600.0 * args.time_scale,  # an hour of real time
        settlement_seconds=args.settlement_seconds,
        # The seed table ($0.50 default): the tier every scenario pays, as in earlier results.
        **tier_table("seed"),
        # SIWX challenges name ``host:port``, the form the x402 SDK's client helpers check
        # against the response origin (scenario (a)); prefect-giga accepts either form.
        siwx_domain="host:port",
    )
    emulator = GigaEmulator(config)
    server = emulator.start()
    cpu_mark = process_cpu()
    _reply(
        {
            "url": server.url,
            "time_scale": args.time_scale,
            "settlement_seconds": args.settlement_seconds,
        }
    )
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "reset":
                emulator.reset()
                cpu_mark = process_cpu()
                _reply({"ok": True})
            elif command == "stats":
                _reply(_stats(emulator, cpu_mark))
            elif command == "quit":
                _reply({"ok": True})
                break
            elif command:
                _reply({"error": f"unknown command {command!r}"})
    finally:
        emulator.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
