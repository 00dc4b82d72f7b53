"""What a benchmark run does: sizes, durations, poll interval, and the runs' prompts."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = [
    "FULL",
    "PLANS",
    "QUICK",
    "SCALE",
    "TIER",
    "Plan",
    "Size",
    "durations",
    "prompts",
]

TIER = "$0.50"
"""The tier every benchmark run pays: the default of the seed tier table the benchmark emulator
publishes (`tier_table("seed")`, see `emulator_proc.py`), as in earlier results."""


@dataclass(frozen=True)
class Size:
    """One batch size and how long its longest run lasts in real seconds.

    Attributes:
        n: Runs started at once.
        real_seconds: The longest run's duration in real seconds (the ideal wall time).
        scenarios: The scenarios measured at this size (``None``: all asked for).
    """

    n: int
    real_seconds: float
    scenarios: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Plan:
    """A benchmark profile.

    Every run lasts ``agent_seconds`` agent seconds at most (uniformly down to
    ``1 - spread`` of that, from ``seed``); the emulator's time scale makes the longest run
    last ``Size.real_seconds`` real seconds. Polls are in real seconds.

    The spread keeps the emulator from being the bottleneck when runs finish: each finished
    run needs three signed requests (its file listing and a file-url per file), and the
    emulator verifies a SIWX proof in about 23 ms of CPU (the x402 SDK's SIWE parser), so
    1000 runs finishing within seconds of each other would queue about 70 s of server work.

    Attributes:
        name: ``"full"`` or ``"quick"``.
        sizes: The batch sizes, smallest first.
        poll: Seconds between polls (Giga recommends about 5).
        agent_seconds: The longest run's duration in agent seconds.
        spread: Runs last between ``(1 - spread) * agent_seconds`` and ``agent_seconds``.
        extra_files: The ``[files=N]`` directive: each run writes ``output.md`` and N more.
        seed: Seeds the durations (and the emulator's run ids).
        settlement: Real seconds the emulator takes to settle each paid start.

    Example:
        >>> QUICK.time_scale(QUICK.sizes[0])
        400.0
    """

    name: str
    sizes: tuple[Size, ...]
    poll: float
    agent_seconds: float = 1200.0
    spread: float = 0.5
    extra_files: int = 1
    seed: int = 6
    settlement: float = 0.0

    @property
    def files_per_run(self) -> int:
        """Files each run leaves to download (``output.md`` plus the extra ones)."""
        return 1 + self.extra_files

    def time_scale(self, size: Size) -> float:
        """Agent seconds per real second for ``size``."""
        return self.agent_seconds / size.real_seconds

    def real_durations(self, size: Size) -> list[float]:
        """Each run's duration in real seconds."""
        scale = self.time_scale(size)
        return [d / scale for d in durations(size.n, self)]

    def sdk_nominal_requests(self, size: Size) -> float:
        """Requests per run the SDK-only baseline needs at its nominal pace.

        2 for the paid start (402 probe, paid retry), 2 per poll (challenge, signed read),
        2 for the file listing, and 3 per file (challenge, signed file-url, GET). It reads
        right after the start and then every ``poll`` seconds; the first read at or after
        the run's end sees it done, so a run of ``r`` seconds takes ``ceil(r / poll) + 1``
        polls.
        """
        per_run = [
            2 + 2 * (math.ceil(r / self.poll) + 1) + 2 + 3 * self.files_per_run
            for r in self.real_durations(size)
        ]
        return sum(per_run) / len(per_run)

    def minimum_requests(self) -> int:
        """The fewest requests one run can take: a paid start that pays on its first
        request, one read listing the files, and a file-url and a GET per file (polling
        ``/api/list`` for many runs at once is shared, so it is left out)."""
        return 1 + 1 + 2 * self.files_per_run


FULL = Plan(
    name="full",
    sizes=(Size(10, 60.0), Size(100, 300.0), Size(1000, 300.0)),
    poll=5.0,
)
"""Giga's recommended 5 s polls; the 1000-run batch lasts about 5 minutes of real time."""

SCALE = Plan(
    name="scale",
    sizes=(
        Size(200, 20.0),
        Size(1000, 20.0, ("client", "flow")),
        Size(10000, 5.0, ("flow",)),
    ),
    poll=2.0,
    settlement=2.0,
)
"""Issue 11: the Prefect layer at scale: 200 runs of 20 s (every scenario), 1000 runs
(client and flow) and 10,000 short runs (the flow), 2 s polls, 2 s settlement (as on Base)."""

QUICK = Plan(
    name="quick",
    sizes=(Size(10, 3.0), Size(100, 3.0)),
    poll=1.0,
)
"""A smoke run: 3 s runs and 1 s polls (the shape of the baseline measured in issue 6)."""


PLANS = {"full": FULL, "scale": SCALE, "quick": QUICK}
"""Every plan by name."""


def durations(n: int, plan: Plan) -> list[float]:
    """Each run's duration in agent seconds: deterministic from ``plan.seed``.

    The first run always takes the full ``agent_seconds``, so the longest is known.

    Example:
        >>> durations(3, FULL)[0]
        1200.0
    """
    rng = random.Random(plan.seed)  # benchmark data, not crypto
    values = [round(plan.agent_seconds * (1 - plan.spread * rng.random()), 3) for _ in range(n)]
    if values:
        values[0] = plan.agent_seconds
    return values


def prompts(n: int, plan: Plan) -> list[str]:
    """The ``n`` prompts of one batch, each with its duration and files directives.

    Example:
        >>> prompts(1, QUICK)
        ['Benchmark run 0 of 1 [duration=1200.0] [files=1]']
    """
    return [
        f"Benchmark run {i} of {n} [duration={d}] [files={plan.extra_files}]"
        for i, d in enumerate(durations(n, plan))
    ]
