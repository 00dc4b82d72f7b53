"""Download one 1 GiB file with `GigaClient.download_file` and measure the memory it takes.

The emulator's default agent writes ``large.bin`` for ``[size=1GB]`` in 1 MiB blocks (it
never holds the file in memory) and serves it with a streaming ``FileResponse``. Before the
download this process resets its peak RSS (``/proc/self/clear_refs``), so the growth is the
peak during the download minus the RSS just before it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import KEY_ENV
from benchmarks.measure import cpu_self, rss_kib
from prefect_giga.client.async_client import GigaClient
from prefect_giga.client.watcher import RunWatcher

PROMPT = "One large file [size=1GB] [duration=1]"
GIB = 1024**3


def _peak_kib() -> int:
    text = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in text.splitlines() if line.startswith("VmHWM:"))


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def measure(url: str, key: str, dest: Path) -> dict[str, Any]:
    """Start the run, wait for it, then download ``large.bin`` while watching memory."""
    async with GigaClient(private_key=key, base_url=url, timeout=300.0) as giga:
        started = await giga.start(PROMPT)
        watcher = RunWatcher(giga, poll_interval=0.5)
        try:
            await watcher.wait(started.run_id, fresh=True, timeout=300)
        finally:
            await watcher.aclose()
        run = await giga.read(started.run_id, include_files=True)
        listed = {entry.path: entry.size for entry in run.files or []}
        gc.collect()
        peak_reset = _reset_peak()
        rss_before = rss_kib()
        peak_before = _peak_kib()
        began, cpu = time.perf_counter(), cpu_self()
        got = await giga.download_file(started.run_id, "large.bin", dest)
        seconds = time.perf_counter() - began
        cpu = cpu_self() - cpu
        peak_after = _peak_kib()
    return {
        "listed_size": listed.get("large.bin"),
        "size": got.size,
        "on_disk": os.stat(got.local_path).st_size,
        "seconds": seconds,
        "cpu": cpu,
        "mib_per_second": got.size / 1024**2 / seconds,
        "rss_before_kib": rss_before,
        "peak_before_kib": peak_before,
        "peak_after_kib": peak_after,
        "growth_kib": peak_after - (rss_before if peak_reset else peak_before),
        "peak_reset": peak_reset,
    }


def main() -> int:
    """Parse ``--url --dest --out``, measure, write the JSON result."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--dest", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = asyncio.run(measure(args.url, os.environ[KEY_ENV], args.dest))
    args.out.write_text(json.dumps(result, indent=2))
    return 0 if result["size"] == GIB else 1


if __name__ == "__main__":
    raise SystemExit(main())
