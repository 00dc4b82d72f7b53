"""From raw scenario records to the ratios the report shows, and the issue's targets."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

__all__ = ["Metrics", "Target", "derive", "targets"]

KEEPS_PACE = 0.9
"""The baseline keeps its nominal pace when it makes at least this share of its requests."""
PEAK_WINDOW = 10.0
"""Seconds over which the server's busiest stretch is measured."""


def peak_share(samples: list[list[float]], window: float = PEAK_WINDOW) -> float:
    """The highest CPU share of one core over any ``window`` seconds of ``samples``.

    Example:
        >>> peak_share([[0, 0], [10, 2], [20, 12]])
        1.0
    """
    best = 0.0
    for i, (start, cpu) in enumerate(samples):
        later = next(((t, c) for t, c in samples[i + 1 :] if t - start >= window), None)
        if later is not None:
            best = max(best, (later[1] - cpu) / (later[0] - start))
    if best == 0.0 and len(samples) > 1:  # shorter than one window: the whole stretch
        (t0, c0), (t1, c1) = samples[0], samples[-1]
        best = (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0
    return best


@dataclass(frozen=True)
class Metrics:
    """One scenario at one size, reduced to what the report compares.

    Attributes:
        scenario: ``sdk``, ``client`` or ``flow``.
        n: Runs.
        ok: Every run completed and was downloaded, and the process exited cleanly.
        completed: Runs completed and downloaded.
        wall: Seconds from the first request to the last byte downloaded.
        ideal: The longest run's duration in real seconds.
        requests: Requests per run, from the emulator's counters.
        by_endpoint: Requests per run for each endpoint.
        minimum: The fewest requests a run can take.
        sdk_nominal: Requests per run the SDK baseline needs at its nominal pace.
        cpu: Client CPU seconds per run in the timed window (the scenario process).
        helper_cpu: CPU seconds per run of the scenario's own child processes in the window
            (Prefect's API server for the flow).
        process_cpu: CPU seconds per run of the whole scenario process tree, start-up and
            imports included.
        peak_rss_mib: The scenario process's peak RSS.
        helper_peak_rss_mib: The largest peak RSS of its child processes.
        rss_growth_mib: The scenario process's peak RSS over its RSS just before the first
            request.
        helper_rss_growth_mib: The same for its child processes (Prefect's API server).
        settlement: Real seconds the emulator took to settle each paid start.
        server_cpu: The emulator's CPU seconds over the scenario.
        server_share: The emulator's CPU as a share of one core over the scenario.
        server_peak_share: The same over its busiest `PEAK_WINDOW` seconds.
        process_wall: Seconds the scenario process lived.
        other_load: CPU cores other processes on the machine kept busy meanwhile.
        prepare: What the untimed set-up reported (Prefect's start-up).
        extra: Scenario-specific numbers.
        errors: The first errors, if any.
    """

    scenario: str
    n: int
    ok: bool
    completed: int
    wall: float
    ideal: float
    requests: float
    by_endpoint: dict[str, float]
    minimum: int
    sdk_nominal: float
    cpu: float
    helper_cpu: float
    process_cpu: float
    peak_rss_mib: float
    helper_peak_rss_mib: float
    rss_growth_mib: float
    helper_rss_growth_mib: float
    settlement: float
    server_cpu: float
    server_share: float
    server_peak_share: float
    process_wall: float
    other_load: float
    prepare: dict[str, Any]
    extra: dict[str, Any]
    errors: list[str]

    @property
    def wall_ratio(self) -> float:
        """Wall time over the ideal."""
        return self.wall / self.ideal

    @property
    def requests_over_minimum(self) -> float:
        """Requests per run over the fewest possible."""
        return self.requests / self.minimum

    @property
    def keeps_pace(self) -> bool:
        """For the baseline: whether it made (nearly) every request its pace calls for."""
        return self.requests >= KEEPS_PACE * self.sdk_nominal


def derive(record: dict[str, Any]) -> Metrics:
    """Reduce one raw record of `benchmarks.runner` to `Metrics`."""
    child = record["child"]
    n = record["n"]
    server = record["server"]
    per_endpoint: dict[str, float] = defaultdict(float)
    for endpoint, _status, count in server["requests"]:
        per_endpoint[endpoint] += count / n
    wall = child.get("last_byte", 0.0) - child.get("wall_start", 0.0)
    completed = int(child.get("completed", 0))
    return Metrics(
        scenario=record["scenario"],
        n=n,
        ok=record["exit_code"] == 0 and completed == n,
        completed=completed,
        wall=wall,
        ideal=record["ideal"],
        requests=sum(per_endpoint.values()),
        by_endpoint=dict(per_endpoint),
        minimum=record["minimum_requests"],
        sdk_nominal=record["sdk_nominal_requests"],
        cpu=child.get("cpu", 0.0) / n,
        helper_cpu=child.get("children_cpu", 0.0) / n,
        process_cpu=record["process_cpu"] / n,
        peak_rss_mib=child.get("peak_rss_kib", 0) / 1024,
        helper_peak_rss_mib=child.get("children_peak_rss_kib", 0) / 1024,
        rss_growth_mib=child.get("rss_growth_kib", 0) / 1024,
        helper_rss_growth_mib=child.get("children_rss_growth_kib", 0) / 1024,
        settlement=float(record.get("settlement", 0.0)),
        server_cpu=server["cpu"],
        server_share=server["cpu"] / record["process_wall"],
        server_peak_share=peak_share(record.get("server_samples", [])),
        process_wall=record["process_wall"],
        other_load=record.get("other_cpu", 0.0) / record["process_wall"],
        prepare=child.get("prepare", {}),
        extra=child.get("extra", {}),
        errors=list(child.get("errors", [])) + ([child["error"]] if "error" in child else []),
    )


@dataclass(frozen=True)
class Target:
    """One of the issue's targets, measured.

    Attributes:
        name: What is promised.
        measured: What was measured, as text.
        passed: Whether it holds (``None``: could not be measured).
    """

    name: str
    measured: str
    passed: bool | None


def _at(metrics: list[Metrics], scenario: str, n: int) -> Metrics | None:
    return next((m for m in metrics if m.scenario == scenario and m.n == n), None)


def _paced_baseline(metrics: list[Metrics], reference: Metrics) -> Metrics | None:
    """The largest baseline that kept its pace, preferring runs as long as ``reference``'s."""
    paced = [m for m in metrics if m.scenario == "sdk" and m.ok and m.keeps_pace]
    alike = [m for m in paced if abs(m.ideal - reference.ideal) < 0.05 * reference.ideal]
    chosen = alike or paced
    return max(chosen, key=lambda m: m.n) if chosen else None


def _check(name: str, value: float | None, limit: float, text: str) -> Target:
    if value is None:
        return Target(name, "not measured", None)
    return Target(name, text, value <= limit)


def targets(metrics: list[Metrics], download: dict[str, Any]) -> list[Target]:
    """The issue's targets at the largest size measured, each with pass or fail."""
    sizes = sorted({m.n for m in metrics})
    if not sizes:
        return []
    top = sizes[-1]
    below = sizes[-2] if len(sizes) > 1 else None
    client, sdk, flow = (_at(metrics, s, top) for s in ("client", "sdk", "flow"))
    client_below = _at(metrics, "client", below) if below is not None else None
    found: list[Target] = []
    if client is not None:
        ratio = client.wall_ratio
        found.append(
            _check(
                f"(b) wall time within 1.10x of ideal at {top} runs", ratio, 1.10, f"{ratio:.3f}x"
            )
        )
        share = client.requests / client.sdk_nominal
        found.append(
            _check(
                f"(b) requests/run at most 1/4 of (a)'s nominal pace at {top} runs",
                share,
                0.25,
                f"{client.requests:.2f} vs {client.sdk_nominal:.1f} nominal = {share:.3f}",
            )
        )
        paced = _paced_baseline(metrics, client)
        if paced is None:
            found.append(
                Target("(b) requests/run at most 1/4 of (a)'s measured", "no paced (a)", None)
            )
        else:
            share = client.requests / paced.requests
            found.append(
                _check(
                    f"(b) requests/run at most 1/4 of (a)'s measured (a kept pace at {paced.n})",
                    share,
                    0.25,
                    f"{client.requests:.2f} vs {paced.requests:.1f} = {share:.3f}",
                )
            )
    if client is not None and sdk is not None and sdk.cpu > 0:
        share = client.cpu / sdk.cpu
        found.append(
            _check(
                f"(b) CPU/run at most 1/10 of (a)'s at {top} runs",
                share,
                0.10,
                f"{client.cpu * 1000:.1f} ms vs {sdk.cpu * 1000:.1f} ms = {share:.3f}",
            )
        )
    paced = _paced_baseline(metrics, client) if client is not None else None
    client_paced = _at(metrics, "client", paced.n) if paced is not None else None
    if client_paced is not None and paced is not None and paced.n != top and paced.cpu > 0:
        share = client_paced.cpu / paced.cpu
        found.append(
            _check(
                f"(b) CPU/run at most 1/10 of (a)'s at {paced.n} runs, where (a) kept its pace",
                share,
                0.10,
                f"{client_paced.cpu * 1000:.1f} ms vs {paced.cpu * 1000:.1f} ms = {share:.3f}",
            )
        )
    if client is not None and client_below is not None and client_below.cpu > 0:
        growth = client.cpu / client_below.cpu
        found.append(
            _check(
                f"(b) CPU/run at {top} runs within 1.2x of its CPU/run at {below}",
                growth,
                1.2,
                f"{client.cpu * 1000:.1f} ms vs {client_below.cpu * 1000:.1f} ms = {growth:.3f}x",
            )
        )
    if flow is not None:
        ratio = flow.wall_ratio
        found.append(
            _check(f"(c) wall time within 1.5x of ideal at {top} runs", ratio, 1.5, f"{ratio:.3f}x")
        )
    growth_kib = download.get("growth_kib")
    found.append(
        _check(
            "1 GiB download: peak RSS grows by less than 64 MiB",
            None if growth_kib is None else growth_kib / 1024,
            64.0 - 1e-9,
            f"{growth_kib / 1024:.1f} MiB" if growth_kib is not None else "",
        )
    )
    return found
