"""`QuoteCache.offer`: concurrent starts of one tier share one probe."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from prefect_giga.core.models import Quote
from prefect_giga.payments.quotes import Offer, QuoteCache


def _offer(amount: str = "0.50") -> Offer:
    quote = Quote(
        tier="$0.50",
        amount=Decimal(amount),
        amount_atomic=int(Decimal(amount) * 10**6),
        asset="0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        network="eip155:8453",
        pay_to="0x179eC767Cd66Dd21064F85fd630385f26A98FD4e",
    )
    return Offer(quote=quote, challenge={}, accepted={})


async def test_concurrent_callers_share_the_first_probe() -> None:
    cache = QuoteCache()
    release = asyncio.Event()
    calls = 0

    async def probe() -> Offer:
        nonlocal calls
        calls += 1
        await release.wait()
        return _offer()

    waiting = [asyncio.create_task(cache.offer("$0.50", probe)) for _ in range(5)]
    await asyncio.sleep(0)  # let every caller reach the cache (no state is awaited by time)
    release.set()
    offers = await asyncio.gather(*waiting)

    assert calls == 1
    assert cache.probes == 1
    assert [o.from_cache for o in offers] == [False, True, True, True, True]
    assert {o.quote.amount for o in offers} == {Decimal("0.50")}


async def test_a_failed_shared_probe_lets_each_waiter_probe_for_itself() -> None:
    cache = QuoteCache()
    release = asyncio.Event()
    calls = 0

    async def probe() -> Offer:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()
            raise ConnectionError("lost")
        return _offer()

    first = asyncio.create_task(cache.offer("$0.50", probe))
    second = asyncio.create_task(cache.offer("$0.50", probe))
    await asyncio.sleep(0)
    release.set()

    with pytest.raises(ConnectionError):
        await first
    offer = await second
    assert isinstance(offer, Offer)
    assert calls == 2


async def test_a_probe_that_started_a_run_is_not_shared() -> None:
    cache = QuoteCache()
    release = asyncio.Event()
    calls = 0

    async def probe() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return f"run-{calls}"  # the server started a run without asking for payment

    first = asyncio.create_task(cache.offer("$0.50", probe))
    second = asyncio.create_task(cache.offer("$0.50", probe))
    await asyncio.sleep(0)
    release.set()

    assert await first == "run-1"
    assert await second == "run-2"  # its own start, never the other caller's run


async def test_ttl_zero_asks_every_time() -> None:
    cache = QuoteCache(ttl=0)
    calls = 0

    async def probe() -> Offer:
        nonlocal calls
        calls += 1
        return _offer()

    await asyncio.gather(cache.offer("$0.50", probe), cache.offer("$0.50", probe))
    assert calls == 2
