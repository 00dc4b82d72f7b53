"""``python -m prefect_giga.testing serve``: run the Giga emulator locally."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from eth_account import Account

from prefect_giga.testing.config import EmulatorConfig
from prefect_giga.testing.emulator import GigaEmulator

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m prefect_giga.testing")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the Giga emulator until interrupted")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8402)
    serve.add_argument("--time-scale", type=float, default=1.0, help="agent seconds per second")
    serve.add_argument("--siwx-domain", choices=["host:port", "hostname"], default="host:port")
    serve.add_argument(
        "--settlement-seconds", type=float, default=0.0, help="delay of each paid reply"
    )
    serve.add_argument("--network", default="eip155:8453", help="CAIP-2 id or base/base-sepolia")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and serve until Ctrl-C.

    This is the one place the emulator ever prints a private key: a freshly generated,
    funded, throwaway test wallet that only means something to this local process.

    Example:
        >>> main(["serve", "--port", "8402"])  # doctest: +SKIP
    """
    args = _parser().parse_args(argv)
    config = EmulatorConfig(
        host=args.host,
        port=args.port,
        time_scale=args.time_scale,
        siwx_domain=args.siwx_domain,
        network=args.network,
        settlement_seconds=args.settlement_seconds,
    )
    emulator = GigaEmulator(config)
    wallet = Account.create()
    server = emulator.start()
    print(f"Giga emulator listening on {server.url}")
    print(f"Network: {config.network_info.caip2} ({config.network_info.name}, emulated chain)")
    print(f"Payee: {emulator.payee}")
    print(f"Test wallet: {wallet.address} (funded with {config.initial_balance} emulated USDC)")
    print("THROWAWAY test wallet private key, for this local emulator only; never fund it:")
    print(f"  0x{bytes(wallet.key).hex()}")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
