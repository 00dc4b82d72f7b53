"""Runs each scenario as a child process against an emulator process, and the extras.

The parent measures each scenario child's whole CPU (``RUSAGE_CHILDREN`` deltas) and wall
time; the child measures its own timed window (`benchmarks.measure.Window`); the emulator
process counts the requests and its own CPU, reset before each scenario.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from benchmarks.harness import KEY_ENV, plan_to_json
from benchmarks.plan import Plan, Size
from benchmarks.server_control import EmulatorProcess

__all__ = ["SCENARIOS", "Workspace", "run_download", "run_signatures", "run_size"]

REPO = Path(__file__).resolve().parents[1]

SCENARIOS = {
    "sdk": "benchmarks.scenario_sdk",
    "client": "benchmarks.scenario_client",
    "flow": "benchmarks.scenario_flow",
}
"""Scenario name to module: (a) the x402 SDK alone, (b) GigaClient + RunWatcher, (c) the flow."""

NATIVE_BACKEND = "eth_keys.backends.NativeECCBackend"
SAMPLE_EVERY = 1.0
"""Seconds between samples of the server's CPU while a scenario runs."""


@dataclass
class Workspace:
    """Scratch space (downloads, journals, Prefect homes) and the log file.

    Attributes:
        root: A temporary folder, deleted at the end.
        log: Every child's stdout and stderr, and the runner's progress lines.
    """

    root: Path
    log: IO[str]

    def env(self, **extra: str) -> dict[str, str]:
        """The children's environment: ours, the repository on the path, and ``extra``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GIGA_"))}
        path = os.environ.get("PYTHONPATH")
        env["PYTHONPATH"] = str(REPO) + (os.pathsep + path if path else "")
        env.update(extra)
        return env

    def say(self, message: str) -> None:
        """A progress line, on the terminal and in the log."""
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        print(line, flush=True)
        self.log.write(line + "\n")
        self.log.flush()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _sample_until_exit(
    child: subprocess.Popen[bytes], server: EmulatorProcess, *, deadline: float
) -> list[tuple[float, float]]:
    """Wait for ``child``, sampling the server's CPU every `SAMPLE_EVERY` seconds.

    Returns ``(seconds since the start, server CPU seconds)`` pairs; kills the child at
    ``deadline``.
    """
    began = time.time()
    samples = [(0.0, 0.0)]
    while child.poll() is None:
        if time.time() > deadline:
            child.kill()
            child.wait()
            break
        time.sleep(SAMPLE_EVERY)
        samples.append((time.time() - began, float(server.stats()["cpu"])))
    return samples


def _machine_busy() -> float:
    """CPU seconds every process on the machine has used since boot (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _fresh_key() -> str:
    """A throwaway wallet for one scenario; the emulator funds every wallet it meets."""
    return "0x" + secrets.token_hex(32)


def _run_scenario(
    name: str, server: EmulatorProcess, plan: Plan, size: Size, ws: Workspace
) -> dict[str, Any]:
    scratch = ws.root / f"{name}-{size.n}"
    dest, out = scratch / "downloads", scratch / "result.json"
    scratch.mkdir(parents=True)
    env = ws.env(
        **{KEY_ENV: _fresh_key()},
        GIGA_JOURNAL_PATH=str(scratch / "journal.sqlite3"),
        PREFECT_HOME=str(scratch / "prefect-home"),
        PREFECT_SERVER_EPHEMERAL_ENABLED="true",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",  # no telemetry: nothing leaves 127.0.0.1
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300",  # a busy machine starts slowly
    )
    command = [sys.executable, "-m", SCENARIOS[name], "--url", server.url, "--n", str(size.n)]
    command += ["--plan", plan_to_json(plan), "--dest", str(dest), "--out", str(out)]
    ideal = max(plan.real_durations(size))
    server.reset()
    cpu, began, busy, own = _children_cpu(), time.time(), _machine_busy(), _own_cpu()
    ws.log.write(f"--- {name} n={size.n}\n")
    ws.log.flush()
    child = subprocess.Popen(command, env=env, cwd=REPO, stdout=ws.log, stderr=ws.log)
    settling = size.n * plan.settlement  # a paid lane that settles one start at a time
    samples = _sample_until_exit(child, server, deadline=began + ideal * 6 + settling + 900)
    wall, cpu = time.time() - began, _children_cpu() - cpu
    stats = server.stats()
    others = _machine_busy() - busy - cpu - stats["cpu"] - (_own_cpu() - own)
    result = json.loads(out.read_text()) if out.exists() else {"error": "no result file"}
    shutil.rmtree(scratch, ignore_errors=True)
    return {
        "scenario": name,
        "n": size.n,
        "real_seconds": size.real_seconds,
        "time_scale": plan.time_scale(size),
        "poll": plan.poll,
        "settlement": plan.settlement,
        "ideal": ideal,
        "sdk_nominal_requests": plan.sdk_nominal_requests(size),
        "minimum_requests": plan.minimum_requests(),
        "exit_code": child.returncode,
        "process_wall": wall,
        "process_cpu": cpu,
        "server": stats,
        "server_samples": samples,
        "other_cpu": max(0.0, others),
        "child": result,
    }


def run_size(plan: Plan, size: Size, scenarios: list[str], ws: Workspace) -> list[dict[str, Any]]:
    """Every scenario at one size, one after the other, against one emulator process."""
    records = []
    wanted = [name for name in scenarios if size.scenarios is None or name in size.scenarios]
    with EmulatorProcess(
        plan.time_scale(size),
        seed=plan.seed,
        env=ws.env(),
        log=ws.log,
        settlement=plan.settlement,
    ) as server:
        for name in wanted:
            ws.say(f"{name} n={size.n}: about {size.real_seconds:.0f} s of runs")
            record = _run_scenario(name, server, plan, size, ws)
            child = record["child"]
            ws.say(
                f"{name} n={size.n}: exit {record['exit_code']}, "
                f"{child.get('completed', 0)} completed, {child.get('failed', '?')} failed, "
                f"{record['process_wall']:.1f} s"
            )
            records.append(record)
    return records


def run_download(ws: Workspace) -> dict[str, Any]:
    """Download one 1 GiB file through `GigaClient` and report its memory growth."""
    scratch = ws.root / "download-1gib"
    scratch.mkdir(parents=True)
    out = scratch / "result.json"
    ws.say("1 GiB download")
    with EmulatorProcess(1.0, seed=0, env=ws.env(), log=ws.log) as server:
        env = ws.env(**{KEY_ENV: _fresh_key()}, GIGA_JOURNAL_PATH=str(scratch / "journal.db"))
        command = [sys.executable, "-m", "benchmarks.download_1gib", "--url", server.url]
        command += ["--dest", str(scratch / "downloads"), "--out", str(out)]
        done = subprocess.run(
            command, env=env, cwd=REPO, stdout=ws.log, stderr=ws.log, timeout=900, check=False
        )
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    result["exit_code"] = done.returncode
    shutil.rmtree(scratch, ignore_errors=True)
    return result


def run_signatures(ws: Workspace) -> dict[str, Any]:
    """Signatures per second with the coincurve backend and with the native one."""
    ws.say("signatures per second: coincurve vs native backend")
    results: dict[str, Any] = {}
    for label, extra in (("default", {}), ("native", {"ECC_BACKEND_CLASS": NATIVE_BACKEND})):
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.signatures"],
            env=ws.env(**extra),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        ws.log.write(done.stderr)
        lines = done.stdout.strip().splitlines()
        results[label] = json.loads(lines[-1]) if done.returncode == 0 and lines else {}
    return results
