"""What a scenario process measures about itself: CPU, peak memory, its descendants, files.

Linux only: descendants (Prefect's API server process) are found through ``/proc``.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Window", "cpu_self", "descendant_pids", "last_write", "peak_rss_kib", "rss_kib"]

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_self() -> float:
    """User plus system CPU seconds of this process (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_kib() -> int:
    """This process's peak resident set size so far, in KiB."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _status_kib(pid: int | str, field_name: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def rss_kib(pid: int | str = "self") -> int:
    """Current resident set size in KiB (``VmRSS``)."""
    return _status_kib(pid, "VmRSS")


def reset_peak(pid: int | str = "self") -> bool:
    """Reset a process's peak RSS (``VmHWM``) to its current RSS; whether Linux allowed it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields after "pid (comm) "


def descendant_pids(root: int | None = None) -> list[int]:
    """Every live process below ``root`` (default: this process)."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                parent_of[int(entry)] = int(fields[1])
    wanted = {root or os.getpid()}
    found: list[int] = []
    grew = True
    while grew:
        grew = False
        for pid, parent in parent_of.items():
            if parent in wanted and pid not in wanted:
                wanted.add(pid)
                found.append(pid)
                grew = True
    return found


def _process_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and of its children it has reaped."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + cutime + cstime) / _TICKS


def _descendants_cpu() -> dict[int, float]:
    return {pid: _process_cpu(pid) for pid in descendant_pids()}


def last_write(folder: Path) -> float:
    """The newest modification time of a file under ``folder`` (0 when empty)."""
    newest = 0.0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime)
    return newest


@dataclass
class Window:
    """The timed part of a scenario: from its first request to its last byte downloaded.

    Example:
        ```python
        window = Window.open()
        await work()
        measures = window.close(downloads)
        ```
    """

    wall_start: float
    cpu_start: float
    children_start: dict[int, float] = field(default_factory=dict)
    rss_start: dict[int | str, int] = field(default_factory=dict)
    peaks_reset: bool = False

    @classmethod
    def open(cls) -> Window:
        """Start timing now: note each process's RSS and reset its peak, just before the
        first request."""
        children = _descendants_cpu()
        rss: dict[int | str, int] = {"self": rss_kib()}
        rss.update({pid: rss_kib(pid) for pid in children})
        reset = all([reset_peak(pid) for pid in rss])
        return cls(
            wall_start=time.time(),
            cpu_start=cpu_self(),
            children_start=children,
            rss_start=rss,
            peaks_reset=reset,
        )

    def _growth_kib(self, pid: int | str) -> int:
        return max(0, _status_kib(pid, "VmHWM") - self.rss_start.get(pid, 0))

    def close(self, downloads: Path) -> dict[str, Any]:
        """Stop timing; the last byte's time is the newest downloaded file's mtime."""
        wall_end = time.time()
        cpu = cpu_self() - self.cpu_start
        children_now = _descendants_cpu()
        children_cpu = sum(
            now - self.children_start.get(pid, 0.0) for pid, now in children_now.items()
        )
        children_peak = max((_status_kib(pid, "VmHWM") for pid in children_now), default=0)
        children_growth = max((self._growth_kib(pid) for pid in children_now), default=0)
        last = last_write(downloads)
        return {
            "rss_start_kib": self.rss_start.get("self", 0),
            "rss_growth_kib": self._growth_kib("self"),
            "children_rss_growth_kib": children_growth,
            "peaks_reset": self.peaks_reset,
            "wall_start": self.wall_start,
            "wall_end": wall_end,
            "last_byte": last if last else wall_end,
            "cpu": cpu,
            "children_cpu": children_cpu,
            "children_peak_rss_kib": children_peak,
            "peak_rss_kib": peak_rss_kib(),
        }
