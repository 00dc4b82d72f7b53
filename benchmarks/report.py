"""Markdown for ``benchmarks/results.md`` and the results section of ``docs/performance.md``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.metrics import Metrics, Target
from benchmarks.scale_targets import ROWS_HEADER, rows_table

__all__ = ["details", "summary"]

LABELS = {
    "sdk": "(a) x402 SDK alone",
    "client": "(b) GigaClient + RunWatcher",
    "flow": "(c) run_prompts flow",
}
ENDPOINTS = ("start", "read", "list", "file-url", "file")
WATCHER_STATS = ("polls", "list_requests", "read_requests", "fallbacks")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _sdk(metrics: list[Metrics], n: int) -> Metrics | None:
    return next((m for m in metrics if m.scenario == "sdk" and m.n == n), None)


def _ratio(value: float, reference: float | None) -> str:
    return f"{value / reference:.3f}" if reference else "-"


def _headline(metrics: list[Metrics]) -> str:
    rows = []
    for m in metrics:
        sdk = _sdk(metrics, m.n)
        rows.append(
            [
                str(m.n),
                LABELS[m.scenario],
                f"{m.wall_ratio:.3f}",
                f"{m.requests:.2f}",
                f"{m.requests_over_minimum:.2f}",
                f"{m.requests / m.sdk_nominal:.3f}",
                _ratio(m.cpu, sdk.cpu if sdk else None),
                f"{m.peak_rss_mib:.0f}",
                f"{100 * m.server_share:.0f} % / {100 * m.server_peak_share:.0f} %",
                f"{m.other_load:.2f}",
                f"{m.completed}/{m.n}",
            ]
        )
    header = [
        "runs",
        "scenario",
        "wall ÷ ideal",
        "requests/run",
        "÷ minimum",
        "÷ (a) nominal",
        "client CPU/run ÷ (a)",
        "peak RSS MiB",
        "server CPU, mean / peak 10 s",
        "other load, cores",
        "runs ok",
    ]
    return _table(header, rows)


def _targets(found: list[Target]) -> str:
    verdict = {True: "**pass**", False: "**FAIL**", None: "not measured"}
    return _table(
        ["target", "measured", "result"], [[t.name, t.measured, verdict[t.passed]] for t in found]
    )


def _caveat(metrics: list[Metrics]) -> str:
    if max((m.n for m in metrics), default=0) >= 1000 and min(m.ideal for m in metrics) >= 30:
        return ""
    return (
        "Indicative only: the issue sets these targets for 1000 runs of about 5 minutes with "
        "5 s polls (the full run); here they are checked at the largest size measured.\n\n"
    )


def _prefect(metrics: list[Metrics]) -> str:
    rows = []
    start_wall = start_cpu = None
    for m in metrics:
        if m.scenario != "flow":
            continue
        start_wall = m.prepare.get("prefect_startup_wall", start_wall)
        start_cpu = m.prepare.get("prefect_startup_cpu", start_cpu)
        client = next((c for c in metrics if c.scenario == "client" and c.n == m.n), None)
        total = m.cpu + m.helper_cpu
        overhead = f"{(total - client.cpu) * 1000:.1f}" if client else "-"
        wall = f"{m.wall / client.wall:.3f}" if client and client.wall else "-"
        rows.append(
            [
                str(m.n),
                f"{m.cpu * 1000:.1f}",
                f"{m.helper_cpu * 1000:.1f}",
                f"{client.cpu * 1000:.1f}" if client else "-",
                overhead,
                wall,
                f"{m.helper_peak_rss_mib:.0f}",
            ]
        )
    if not rows:
        return "(not run)"
    header = [
        "runs",
        "flow process CPU ms/run",
        "Prefect API server CPU ms/run",
        "(b) CPU ms/run",
        "Prefect overhead ms/run",
        "(c) wall ÷ (b) wall",
        "API server peak RSS MiB",
    ]
    start = (
        f"Prefect's start-up (its temporary API server and database, once per process, not "
        f"counted per run): {start_wall or 0:.1f} s wall, {start_cpu or 0:.2f} s CPU in the flow "
        "process (the API server's own start-up CPU comes on top).\n\n"
    )
    return start + _table(header, rows)


def _download(result: dict[str, Any]) -> str:
    if not result.get("size"):
        return f"(failed: exit code {result.get('exit_code')})"
    growth = result["growth_kib"] / 1024
    return (
        f"One `[size=1GB]` file ({result['size']:,} bytes, listed {result['listed_size']:,}) "
        f"through `GigaClient.download_file`: peak RSS grew by **{growth:.1f} MiB** "
        f"(RSS {result['rss_before_kib'] / 1024:.0f} MiB before, peak "
        f"{result['peak_after_kib'] / 1024:.0f} MiB during; peak reset before the download: "
        f"{'yes' if result['peak_reset'] else 'no'}), at {result['mib_per_second']:.0f} MiB/s "
        f"with {result['cpu']:.2f} s of client CPU."
    )


def _signatures(result: dict[str, Any]) -> str:
    fast, slow = result.get("default", {}), result.get("native", {})
    if not fast or not slow:
        return "(failed)"
    rows = []
    for key, label in (
        ("siwx_per_second", "SIWX proof (EIP-191)"),
        ("eip712_per_second", "EIP-712 payment"),
    ):
        rows.append(
            [label, f"{fast[key]:.0f}", f"{slow[key]:.0f}", f"**{fast[key] / slow[key]:.1f}x**"]
        )
    header = [
        "signature",
        f"{fast['backend']} /s",
        f"{slow['backend']} /s",
        "ratio",
    ]
    return _table(header, rows)


def _machine(machine: dict[str, Any]) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    after = machine.get("source_after")
    changed = (
        f" **The package's source changed during the run** ({machine['source']} to {after}): "
        "later scenarios measured newer code."
        if after and after != machine.get("source")
        else ""
    )
    return (
        f"{machine['nproc']} CPUs ({machine['cpu_model']}), {machine['memory_gib']} GiB, "
        f"{machine['os']}; Python {machine['python']}; prefect-giga {machine['prefect_giga']} "
        f"(commit {machine['commit']}); {packages}.{changed}"
    )


def summary(
    metrics: list[Metrics],
    found: list[Target],
    download: dict[str, Any],
    signatures: dict[str, Any],
    machine: dict[str, Any],
    context: dict[str, Any],
) -> str:
    """The shared results: headline ratios, targets, Prefect, 1 GiB, signatures, machine."""
    title = context.get("targets_title", "Targets (issue 6)")
    caveat = "" if context.get("plan") == "scale" else _caveat(metrics)
    parts = [
        f"Plan **{context['plan']}**, {context['date']}: {context['describe']}",
        f"Machine: {_machine(machine)}",
        "### Ratios\n\n" + _headline(metrics),
        f"### {title}\n\n" + caveat + _targets(found),
        "### Time, memory and CPU per row\n\nRSS growth: each process's peak RSS over its "
        "RSS just before the first request (peaks reset then).\n\n"
        + _table(ROWS_HEADER, rows_table(metrics)),
        "### Prefect overhead\n\n" + _prefect(metrics),
    ]
    if download:
        parts.append("### 1 GiB download\n\n" + _download(download))
    if signatures:
        parts.append("### Signatures per second (eth-keys backends)\n\n" + _signatures(signatures))
    return "\n\n".join(parts) + "\n"


def details(metrics: list[Metrics]) -> str:
    """Absolute numbers and requests by endpoint, for ``results.md`` only."""
    absolute = [
        [
            str(m.n),
            LABELS[m.scenario],
            f"{m.ideal:.1f}",
            f"{m.wall:.1f}",
            f"{m.cpu * 1000:.1f}",
            f"{m.process_cpu * 1000:.1f}",
            f"{m.server_cpu:.1f}",
            f"{m.process_wall:.1f}",
            f"{m.other_load:.2f}",
        ]
        for m in metrics
    ]
    endpoints = [
        [str(m.n), LABELS[m.scenario]]
        + [f"{m.by_endpoint.get(e, 0.0):.2f}" for e in ENDPOINTS]
        + [f"{m.requests:.2f}", f"{m.sdk_nominal:.1f}", str(m.minimum)]
        for m in metrics
    ]
    parts = [
        "### Absolute numbers\n\n"
        + _table(
            [
                "runs",
                "scenario",
                "ideal s",
                "wall s",
                "client CPU ms/run (window)",
                "process tree CPU ms/run (all)",
                "server CPU s",
                "process lifetime s",
                "other processes, cores",
            ],
            absolute,
        ),
        "### Requests per run by endpoint (emulator counters)\n\n"
        + _table(
            ["runs", "scenario", *ENDPOINTS, "total", "(a) nominal", "minimum"],
            endpoints,
        ),
    ]
    watched = [m for m in metrics if "watcher" in m.extra]
    if watched:
        rows = [
            [str(m.n)]
            + [
                str(m.extra["watcher"].get(k, ""))
                for k in ("polls", "list_requests", "read_requests", "fallbacks")
            ]
            for m in watched
        ]
        parts.append(
            "### RunWatcher (b)\n\n"
            + _table(["runs", "polls", "list requests", "read requests", "fallbacks"], rows)
        )
    failures = [m for m in metrics if m.errors or not m.ok]
    if failures:
        lines = [
            f"- {LABELS[m.scenario]} at {m.n}: {'; '.join(m.errors[:3]) or 'see the log'}"
            for m in failures
        ]
        parts.append("### Errors\n\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"
