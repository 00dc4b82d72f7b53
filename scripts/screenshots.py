"""Pictures of the Prefect UI for the docs: a real server, the demo batch, headless Chromium.

Run through ``bash scripts/screenshots.sh``. Starts ``prefect server`` with its own
``PREFECT_HOME`` on a free port, runs the demo batch (`run_prompts`) against the emulator,
saves a ``GigaCredentials`` block holding the public Hardhat/Anvil test key #0 (never funded
anywhere real), and screenshots the UI with Chromium driven over the DevTools protocol: each
picture is taken only once the page shows the text it is about (no spinners). Writes the
PNGs and ``manifest.json`` (commit, Prefect version, sha256 of each picture) to
``docs/images/``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
PUBLIC_TEST_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
"""Hardhat/Anvil test account #0: published everywhere, never fund it. The only key shown."""
BLOCK_NAME = "emulator-wallet"
WIDTH, HEIGHT = 1440, 1000


@dataclass(frozen=True)
class Shot:
    """One picture: its file name, the UI path, and texts that must all be on the page first."""

    name: str
    path: str
    wait_for: tuple[str, ...]
    click: str | None = None
    width: int = WIDTH
    height: int = HEIGHT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, deadline_seconds: float) -> None:
    """Wait until ``url`` answers 200 (the server is starting)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer in {deadline_seconds} s")
        time.sleep(0.5)


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A real ``prefect server start`` on a free loopback port; yields the API URL."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_UI_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_http(api + "/health", 180)
        os.environ.update({k: env[k] for k in ("PREFECT_HOME", "PREFECT_API_URL")})
        yield api
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


async def run_demo(dest: Path) -> dict[str, Any]:
    """Save the block, run the demo batch against the emulator; return the ids to picture."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from prefect_giga import GigaCredentials
    from prefect_giga.flows import run_prompts
    from prefect_giga.testing import EmulatorConfig, GigaEmulator

    sys.path.insert(0, str(ROOT / "flows"))
    from demo_batch import PROMPTS

    config = EmulatorConfig(time_scale=200.0, logs_delay_seconds=1.0)
    with GigaEmulator(config).run() as server:
        block = GigaCredentials(
            private_key=PUBLIC_TEST_KEY,
            base_url=server.url,
            max_price_per_run=Decimal("1.00"),
            max_spend_per_day=Decimal("25.00"),
        )
        block_id = await block.save(BLOCK_NAME, overwrite=True)
        items = [*PROMPTS, "Audit the nightly export [fail=agent_crashed]"]
        state = await run_prompts(
            items,
            BLOCK_NAME,
            max_concurrency=5,
            spend_limit=Decimal("10.00"),
            allow_failures=True,
            item_artifacts=True,  # an output artifact per item, for its picture
            dest=str(dest),
            poll_interval=0.2,
            return_state=True,
        )
        await state.result(raise_on_failure=False)
    async with get_client() as client:
        flow_run = await client.read_flow_run(state.state_details.flow_run_id)
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
    by_key = {a.key: a for a in sorted(artifacts, key=lambda a: a.created or 0) if a.key}
    return {
        "block_id": str(block_id),
        "flow_run_id": str(flow_run.id),
        "flow_run_name": flow_run.name,
        "artifacts": {key: str(a.id) for key, a in by_key.items()},
    }


class Browser:
    """Headless Chromium driven over the DevTools protocol (one tab)."""

    def __init__(self, chromium: str, profile: Path) -> None:
        port = free_port()
        self.process = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--hide-scrollbars", f"--remote-debugging-port={port}",
             f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_http(f"http://127.0.0.1:{port}/json/version", 60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json") as reply:
            page = next(t for t in json.load(reply) if t["type"] == "page")
        self.ws: ClientConnection = connect(page["webSocketDebuggerUrl"], max_size=None)
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def text(self) -> str:
        """The page's visible text plus the values of its form fields."""
        reply = self.call("Runtime.evaluate", expression=_PAGE_TEXT)
        return str(reply["result"].get("value", ""))

    def wait_for(self, needles: tuple[str, ...], what: str, deadline_seconds: float) -> str:
        deadline = time.monotonic() + deadline_seconds
        while True:
            text = self.text()
            if all(needle in text for needle in needles):
                return text
            if time.monotonic() > deadline:
                missing = [n for n in needles if n not in text]
                seen = Path(tempfile.gettempdir()) / f"giga-shot-{what}-timeout.png"
                image = self.call("Page.captureScreenshot", format="png")
                seen.write_bytes(base64.b64decode(image["data"]))
                raise TimeoutError(
                    f"{what}: the page never showed {missing} (what it showed: {seen});"
                    f" page text starts: {text[:300]!r}"
                )
            time.sleep(0.5)

    def shoot(self, url: str, shot: Shot, out: Path, deadline_seconds: float = 90) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=shot.width, height=shot.height,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip
        self.call("Page.navigate", url=url)
        if shot.click:
            self.wait_for((shot.click,), shot.name, deadline_seconds)
            self.call("Runtime.evaluate", expression=_CLICK % json.dumps(shot.click))
        text = self.wait_for(shot.wait_for, shot.name, deadline_seconds)
        if PUBLIC_TEST_KEY[2:].lower() in text.lower():
            raise RuntimeError(f"{shot.name}: the page shows the private key")
        time.sleep(1.5)  # let charts and fonts settle after the content is there
        image = self.call("Page.captureScreenshot", format="png")
        out.write_bytes(base64.b64decode(image["data"]))
        print(f"  {out.name}")

    def close(self) -> None:
        self.ws.close()
        self.process.terminate()
        self.process.wait(30)


_PAGE_TEXT = """
(() => {
  if (!document.body) return "";
  const fields = [...document.querySelectorAll("input, textarea")].map((e) => e.value);
  return document.body.innerText + "\\n" + fields.join("\\n");
})()
"""

_CLICK = """
(() => {
  const label = %s;
  const all = [...document.querySelectorAll("button, a, [role=tab], li, span, div")];
  const hit = all.find((e) => e.children.length === 0 && e.textContent.trim() === label);
  if (hit) { hit.click(); return true; }
  return false;
})()
"""


def shots(ids: dict[str, Any]) -> list[Shot]:
    """What to picture, in the order of the docs."""
    run, artifacts = ids["flow_run_id"], ids["artifacts"]
    return [
        Shot("block-form", f"/blocks/block/{ids['block_id']}/edit",
             ("Private key", "********", "Max price per run", BLOCK_NAME)),
        Shot("flow-run-artifacts", f"/runs/flow-run/{run}",
             (ids["flow_run_name"], "giga-batch-summary"), click="Artifacts"),
        Shot("summary-table", f"/artifacts/artifact/{artifacts['giga-batch-summary']}",
             ("giga-batch-summary", "completed", "failed", "agent_crashed"),
             width=1920, height=640),
        Shot("payments-table", f"/artifacts/artifact/{artifacts['giga-batch-payments']}",
             ("giga-batch-payments", "0x", "eip155:8453"),
             width=1920, height=640),
        Shot("output-artifact", f"/artifacts/artifact/{artifacts['giga-batch-output-0']}",
             ("giga-batch-output-0", "Run summary")),
        Shot("events-feed", "/events", ("prefect.flow-run",)),
    ]  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="giga-shots-") as scratch:
        home = Path(scratch) / "prefect-home"
        home.mkdir()
        # A journal of its own: the demo's payments stay out of this machine's journal (and
        # its daily limit).
        os.environ["GIGA_JOURNAL_PATH"] = str(Path(scratch) / "journal.sqlite3")
        with prefect_server(home) as api:
            subprocess.run(
                [sys.executable, "-m", "prefect", "block", "register", "-m", "prefect_giga"],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            ids = asyncio.run(run_demo(Path(scratch) / "outputs"))
            print(f"demo batch done: flow run {ids['flow_run_name']}")
            ui = api.removesuffix("/api")
            browser = Browser(args.chromium, Path(scratch) / "chromium")
            try:
                pictures = []
                for shot in shots(ids):
                    out = IMAGES / f"{shot.name}.png"
                    browser.shoot(ui + shot.path, shot, out)
                    pictures.append(out)
            finally:
                browser.close()
    import prefect

    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    manifest = {
        "about": "Made by scripts/screenshots.sh; tests/repository/test_images.py checks it.",
        "commit": commit,
        "prefect_version": prefect.__version__,
        "pictures": {p.name: {"sha256": sha256(p)} for p in sorted(pictures)},
    }
    (IMAGES / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(pictures)} pictures and docs/images/manifest.json")


if __name__ == "__main__":
    main()
