"""The paid lane: one paid request of a wallet in flight per server and event loop."""

from __future__ import annotations

import asyncio
import threading
import weakref

__all__ = ["paid_lane"]

_LANES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], asyncio.Lock]]
_LANES = weakref.WeakKeyDictionary()
_LANES_GUARD = threading.Lock()


def paid_lane(address: str, server: str) -> asyncio.Lock:
    """The lock that lets one paid request of a wallet be in flight per server and loop.

    While a paid request (and, if its reply is lost, its reconciliation) is in flight, no
    other paid request of the same wallet leaves this process for the same server. So a run
    that appears while a reply is lost can belong to that start only, which keeps claims from
    ``/api/list`` unambiguous. Probes, signing and reads stay concurrent.

    Example:
        ```python
        async with paid_lane(wallet_address, "https://giga.dev"):
            ...  # send the paid request
        ```
    """
    loop = asyncio.get_running_loop()
    key = (address, server)
    with _LANES_GUARD:
        lanes = _LANES.setdefault(loop, {})
        lane = lanes.get(key)
        if lane is None:
            lane = lanes[key] = asyncio.Lock()
    return lane
