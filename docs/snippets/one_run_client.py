"""One run with the async client: check the price, pay, wait, download."""

import asyncio
import os

from prefect_giga import GigaClient
from prefect_giga.client.watcher import RunWatcher


async def main() -> None:
    async with GigaClient(
        private_key=os.environ["GIGA_PRIVATE_KEY"],
        base_url=os.environ["GIGA_BASE_URL"],
        max_price_per_run="1.00",  # refuse any quote above $1.00
    ) as giga:
        prompt = "Sort data.csv by its date column"
        quote = await giga.quote(prompt, tier="$1.00")  # the free 402 probe: nothing signed
        print("a run costs", quote.amount, "USD, paid to", quote.pay_to)

        started = await giga.start(prompt, tier="$1.00", files=["data.csv"])
        print("paid", started.receipt.amount, "USD in", started.receipt.transaction)

        watcher = RunWatcher(giga, poll_interval=2)  # Giga suggests about 5 seconds
        run = await watcher.wait(started.run_id, fresh=True, timeout=600)
        await watcher.aclose()
        print("run", run.id, "ended", run.status.value)

        listing = await giga.read(run.id, include_files=True)
        for entry in listing.files or []:
            if entry.is_file:
                saved = await giga.download(run.id, entry.path, "outputs")
                print("saved", saved)


asyncio.run(main())
