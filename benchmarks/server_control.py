"""The parent's handle on the emulator process (`benchmarks.emulator_proc`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["EmulatorProcess"]


class EmulatorProcess:
    """Starts the emulator in a child process and talks to it line by line.

    Args:
        time_scale: Agent seconds per real second.
        seed: The emulator's seed (run ids).
        settlement: Real seconds each paid start's settlement takes.
        env: The child's environment.
        log: Where the child's stderr goes.

    Example:
        ```python
        with EmulatorProcess(4.0, seed=6, env=env, log=log) as server:
            server.reset()
            ...
            print(server.stats()["requests"])
        ```
    """

    def __init__(
        self,
        time_scale: float,
        *,
        seed: int,
        env: dict[str, str],
        log: IO[str],
        settlement: float = 0.0,
    ) -> None:
        command = [
            sys.executable,
            "-m",
            "benchmarks.emulator_proc",
            "--time-scale",
            repr(time_scale),
            "--seed",
            str(seed),
            "--settlement-seconds",
            repr(settlement),
        ]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
        hello = self._read()
        self.url: str = str(hello["url"])
        self.pid = self._process.pid

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator process exited ({self._process.wait()})")
        value: dict[str, Any] = json.loads(line)
        if "error" in value:
            raise RuntimeError(f"the emulator process: {value['error']}")
        return value

    def _ask(self, command: str) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return self._read()

    def reset(self) -> None:
        """Fresh state and counters, and a new CPU mark."""
        self._ask("reset")

    def stats(self) -> dict[str, Any]:
        """Request counters and server CPU seconds since the last `reset`."""
        return self._ask("stats")

    def close(self) -> None:
        """Stop the emulator process."""
        if self._process.poll() is None:
            try:
                self._ask("quit")
                self._process.wait(timeout=30)
            except (OSError, RuntimeError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
