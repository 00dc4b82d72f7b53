"""The machine and software a benchmark ran on, for the report."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["describe", "source_digest"]

PACKAGES = (
    "prefect",
    "x402",
    "httpx",
    "eth-account",
    "eth-keys",
    "coincurve",
    "pydantic",
    "starlette",
    "uvicorn",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return 0.0


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _commit(repo: Path) -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip()


def source_digest(repo: Path) -> str:
    """A short digest of the package's source, to tell whether it changed during a run."""
    digest = hashlib.sha256()
    for path in sorted((repo / "prefect_giga").rglob("*.py")):
        digest.update(path.relative_to(repo).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def describe(repo: Path) -> dict[str, Any]:
    """nproc, the CPU model, memory, OS, Python, package versions and the commit.

    Example:
        >>> describe(Path("."))["nproc"] >= 1
        True
    """
    import prefect_giga

    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gib": round(_memory_gib(), 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "prefect_giga": prefect_giga.__version__,
        "commit": _commit(repo),
        "source": source_digest(repo),
        "packages": {name: _version(name) for name in PACKAGES},
    }
