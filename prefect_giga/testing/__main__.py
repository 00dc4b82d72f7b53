"""``python -m prefect_giga.testing serve``: run the Giga emulator locally."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from eth_account import Account

from prefect_giga.testing.config import EmulatorConfig
from prefect_giga.testing.emulator import GigaEmulator

__all__ = ["Announcement", "main", "print_announcement", "serve"]


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
    return serve(config, print_announcement)


Announcement = dict[str, str]
"""What a served emulator tells its user: url, network, payee, test wallet and its key."""


def print_announcement(announcement: Announcement) -> None:
    """Print ``announcement`` as the lines ``serve`` has always printed.

    Example:
        >>> print_announcement({"url": "http://127.0.0.1:8402", "network": "eip155:8453",
        ...     "network_name": "Base", "payee": "0x01", "test_wallet": "0x02",
        ...     "initial_balance": "1000", "test_private_key": "0x03"})  # doctest: +ELLIPSIS
        Giga emulator listening on http://127.0.0.1:8402
        ...
    """
    print(f"Giga emulator listening on {announcement['url']}")
    print(f"Network: {announcement['network']} ({announcement['network_name']}, emulated chain)")
    print(f"Payee: {announcement['payee']}")
    print(
        f"Test wallet: {announcement['test_wallet']} (funded with "
        f"{announcement['initial_balance']} emulated USDC)"
    )
    print("THROWAWAY test wallet private key, for this local emulator only; never fund it:")
    print(f"  {announcement['test_private_key']}")
    sys.stdout.flush()


def serve(config: EmulatorConfig, announce: Callable[[Announcement], None]) -> int:
    """Serve an emulator with ``config``, announce it, and block until Ctrl-C or SIGTERM.

    Example:
        >>> serve(EmulatorConfig(port=8402), print_announcement)  # doctest: +SKIP
    """
    emulator = GigaEmulator(config)
    wallet = Account.create()
    # Listen for SIGTERM before announcing: whoever read the announcement may stop us at once.
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = emulator.start()
    announce(
        {
            "url": server.url,
            "network": config.network_info.caip2,
            "network_name": config.network_info.name,
            "payee": emulator.payee,
            "test_wallet": wallet.address,
            "initial_balance": str(config.initial_balance),
            "test_private_key": f"0x{bytes(wallet.key).hex()}",
        }
    )
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
