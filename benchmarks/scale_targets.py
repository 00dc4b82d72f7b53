"""Issue 11's targets (the Prefect layer at scale), and the per-row memory and time table."""

from __future__ import annotations

from benchmarks.metrics import Metrics, Target

__all__ = ["rows_table", "scale_targets"]


def _at(metrics: list[Metrics], scenario: str, n: int) -> Metrics | None:
    return next((m for m in metrics if m.scenario == scenario and m.n == n), None)


def _limit(name: str, value: float | None, limit: float, text: str) -> Target:
    if value is None:
        return Target(name, "not measured", None)
    return Target(name, text, value <= limit)


def _flow_cpu(m: Metrics) -> float:
    """Seconds of CPU per item: the flow process plus Prefect's API server."""
    return m.cpu + m.helper_cpu


def scale_targets(metrics: list[Metrics]) -> list[Target]:
    """Every issue 11 target that the measured rows allow, each with pass or fail.

    Example:
        >>> scale_targets([])[0].passed is None
        True
    """
    found: list[Target] = []
    flow, client, sdk = (_at(metrics, s, 200) for s in ("flow", "client", "sdk"))
    if flow is not None and client is not None:
        ratio = flow.wall / client.wall if client.wall else None
        found.append(
            _limit(
                "200 items: run_prompts wall within 1.15x of the client's",
                ratio,
                1.15,
                f"{flow.wall:.1f} s vs {client.wall:.1f} s = {ratio:.3f}x" if ratio else "",
            )
        )
        extra = flow.requests - client.requests
        found.append(
            _limit(
                "200 items: run_prompts requests/item at most the client's + 0.2",
                extra,
                0.2,
                f"{flow.requests:.2f} vs {client.requests:.2f} (+{extra:.2f})",
            )
        )
    else:
        found.append(Target("200 items: run_prompts against the client", "not measured", None))
    if flow is not None:
        cpu = _flow_cpu(flow) * 1000
        found.append(
            _limit(
                "200 items: CPU of the flow process + API server at most 60 ms/item",
                cpu,
                60.0,
                f"{flow.cpu * 1000:.1f} + {flow.helper_cpu * 1000:.1f} = {cpu:.1f} ms",
            )
        )
        found.append(
            _limit(
                "200 items: flow-process RSS growth at most 80 MiB",
                flow.rss_growth_mib,
                80.0,
                f"{flow.rss_growth_mib:.0f} MiB (API server {flow.helper_rss_growth_mib:.0f})",
            )
        )
    flow_1k, flow_10k = _at(metrics, "flow", 1000), _at(metrics, "flow", 10000)
    if flow_1k is not None:
        found.append(
            _limit(
                "1,000 items: flow-process RSS growth at most 250 MiB",
                flow_1k.rss_growth_mib,
                250.0,
                f"{flow_1k.rss_growth_mib:.0f} MiB ({flow_1k.completed}/{flow_1k.n} completed)",
            )
        )
    if flow_10k is not None:
        found.append(
            Target(
                "10,000 items: completes",
                f"{flow_10k.completed}/{flow_10k.n} completed",
                flow_10k.ok,
            )
        )
        found.append(
            _limit(
                "10,000 items: flow-process RSS growth at most 600 MiB",
                flow_10k.rss_growth_mib,
                600.0,
                f"{flow_10k.rss_growth_mib:.0f} MiB",
            )
        )
        if flow_1k is not None and _flow_cpu(flow_1k) > 0:
            growth = _flow_cpu(flow_10k) / _flow_cpu(flow_1k)
            found.append(
                _limit(
                    "10,000 items: CPU/item within 1.2x of the 1,000-item figure",
                    growth,
                    1.2,
                    f"{_flow_cpu(flow_10k) * 1000:.1f} vs {_flow_cpu(flow_1k) * 1000:.1f} ms"
                    f" = {growth:.3f}x",
                )
            )
    if client is not None:
        over = client.requests - client.minimum
        found.append(
            _limit(
                "200 items: client requests/run within 0.3 of the minimum",
                over,
                0.3,
                f"{client.requests:.2f} vs {client.minimum} (+{over:.2f})",
            )
        )
        if sdk is not None and sdk.cpu > 0:
            share = client.cpu / sdk.cpu
            found.append(
                _limit(
                    "200 items: client CPU/run at most 0.15x the SDK script's",
                    share,
                    0.15,
                    f"{client.cpu * 1000:.1f} ms vs {sdk.cpu * 1000:.1f} ms = {share:.3f}",
                )
            )
    return found


def rows_table(metrics: list[Metrics]) -> list[list[str]]:
    """Per row: how long it took, the settlement delay, RSS growth per process, CPU split.

    Example:
        >>> rows_table([])
        []
    """
    return [
        [
            str(m.n),
            m.scenario,
            f"{m.process_wall:.1f}",
            f"{m.settlement:g}",
            f"{m.rss_growth_mib:.0f}",
            f"{m.helper_rss_growth_mib:.0f}" if m.scenario == "flow" else "-",
            f"{m.cpu * 1000:.1f}",
            f"{m.helper_cpu * 1000:.1f}" if m.scenario == "flow" else "-",
        ]
        for m in metrics
    ]


ROWS_HEADER = [
    "runs",
    "scenario",
    "row took s",
    "settlement s",
    "RSS growth MiB (scenario process)",
    "RSS growth MiB (API server)",
    "CPU ms/run (scenario process)",
    "CPU ms/run (API server)",
]
"""The header of `rows_table`."""
