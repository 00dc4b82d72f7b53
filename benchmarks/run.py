"""``python -m benchmarks [--plan scale|full|quick]``: every scenario, then the results file.

Writes ``benchmarks/results.md`` (the one results file; ``docs/performance.md`` links to it)
only when the whole run measured one commit: the commit is recorded before measuring, and
nothing is written when the working tree was not clean or changed during the run. The raw
numbers go to ``benchmarks/.work/results-<plan>.json`` and every child's output to
``benchmarks/.work/<plan>.log`` either way.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/run.py``: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import plan_from_json
from benchmarks.machine import describe, source_digest
from benchmarks.metrics import derive, targets
from benchmarks.plan import PLANS, QUICK, Plan, Size
from benchmarks.report import details, summary
from benchmarks.runner import SCENARIOS, Workspace, run_download, run_signatures, run_size
from benchmarks.scale_targets import scale_targets

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results.md"
WORK = REPO / "benchmarks" / ".work"

METHOD = """\
## How to read this

- **Scenarios**, each a child process against an emulator in a process of its own, one
  after the other, with a fresh funded wallet and a fresh payment journal each: (a) the
  baseline a user writes with the x402 SDK alone (`benchmarks/scenario_sdk.py`); (b)
  `GigaClient` with one `RunWatcher` (`benchmarks/scenario_client.py`); (c) the
  `run_prompts` flow under Prefect's temporary local API (`benchmarks/scenario_flow.py`,
  `max_concurrency` = the batch size; up to 5,000 items passed as flow-run parameters,
  bigger batches as a JSON Lines file through `items_from`, under Prefect's default
  parameter-size limit). Every run pays the `$0.50` tier and leaves `output.md` plus one
  more file to download.
- **Ideal**: the longest run's duration in real seconds (agent seconds over the emulator's
  time scale). **Wall**: from just before the first request to the newest downloaded
  file's last write.
- **Requests/run**: every request the emulator answered during the scenario (402s
  included) over the number of runs. **Minimum**: 1 paid start + 1 file listing + 2 per
  file. **(a) nominal**: what the baseline needs at its pace: 2 for the start, 2 per poll
  (a read right after the start, then one every poll interval until the run is done), 2
  for the file listing, 3 per file.
- **Client CPU/run**: user + system CPU of the scenario process in the timed window (not
  its start-up and imports), over the runs; the process tree's whole CPU is in the
  absolute table. For (c), Prefect's API server runs in a child process of the flow
  process; its CPU is shown apart. **Peak RSS**: the scenario process's `ru_maxrss`.
- **Server CPU**: the emulator process's CPU over the scenario as a share of one core (it
  serves from one event loop, so near 100 % means the server was the bottleneck).
"""


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--plan", choices=sorted(PLANS), default="full", help="the profile")
    parser.add_argument("--quick", action="store_true", help="--plan quick")
    parser.add_argument("--sizes", help="comma-separated batch sizes (default: the plan's)")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated: sdk,client,flow"
    )
    parser.add_argument("--seconds", type=float, help="the longest run's real seconds, all sizes")
    parser.add_argument(
        "--spread", type=float, help="runs last (1 - spread) to 1 of the longest (default 0.5)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the results go")
    parser.add_argument("--no-extras", action="store_true", help="skip the 1 GiB and signatures")
    parser.add_argument(
        "--settlement", type=float, help="seconds each paid start takes to settle (all sizes)"
    )
    parser.add_argument(
        "--from-json", type=Path, help="only rewrite the documents from a run's raw .json"
    )
    return parser.parse_args(argv)


def _plan(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else PLANS[args.plan]
    if args.sizes:
        wanted = [int(s) for s in args.sizes.split(",")]
        known = {size.n: size for size in plan.sizes}
        default = plan.sizes[-1].real_seconds
        sizes = tuple(known.get(n, Size(n, default)) for n in wanted)
        plan = dataclasses.replace(plan, sizes=sizes)
    if args.settlement is not None:
        plan = dataclasses.replace(plan, settlement=args.settlement)
    if args.seconds is not None:
        sizes = tuple(Size(size.n, args.seconds) for size in plan.sizes)
        plan = dataclasses.replace(plan, sizes=sizes)
    if args.spread is not None:
        plan = dataclasses.replace(plan, spread=args.spread)
    return plan


def _describe(plan: Plan) -> str:
    sizes = ", ".join(
        f"{s.n} runs of up to {s.real_seconds:g} s"
        + (f" ({', '.join(s.scenarios)})" if s.scenarios else "")
        for s in plan.sizes
    )
    return (
        f"{sizes} (each run {plan.agent_seconds * (1 - plan.spread):g} to {plan.agent_seconds:g} "
        f"agent seconds, time-scaled; seed {plan.seed}); polls every {plan.poll:g} s; "
        f"{plan.files_per_run} files per run; each paid start settles in {plan.settlement:g} s."
    )


def _tree_state() -> dict[str, str]:
    """The commit checked out and what ``git status`` says differs from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else f"git failed: {done.stderr}"

    return {"commit": git("rev-parse", "HEAD"), "status": git("status", "--porcelain")}


def _one_commit(before: dict[str, str], after: dict[str, str]) -> str | None:
    """Why the run did not measure one clean commit, or ``None`` when it did."""
    if before["status"]:
        return f"the working tree was not clean when the run began:\n{before['status']}"
    if after != before:
        return (
            f"the tree changed during the run (commit {before['commit'][:12]} to "
            f"{after['commit'][:12]}; status now:\n{after['status'] or 'clean'})"
        )
    return None


def _measure(
    plan: Plan, args: argparse.Namespace, log_path: Path
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    scenarios = [s for s in args.scenarios.split(",") if s]
    root = Path(tempfile.mkdtemp(prefix="giga-bench-"))
    records: list[dict[str, Any]] = []
    download: dict[str, Any] = {}
    signatures: dict[str, Any] = {}
    with log_path.open("w") as log:
        ws = Workspace(root=root, log=log)
        ws.say(f"plan {plan.name}: {_describe(plan)} Log: {log_path}")
        try:
            for size in plan.sizes:
                records += run_size(plan, size, scenarios, ws)
            if not args.no_extras and plan.name != "scale":
                signatures = run_signatures(ws)
                download = run_download(ws)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return records, download, signatures


def _render(raw: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Write the results documents from the raw numbers; returns what was written."""
    plan = plan_from_json(json.dumps(raw["plan"]))
    for record in raw["records"]:  # recomputed, so a fixed formula applies to old numbers too
        size = Size(record["n"], record["real_seconds"])
        record["sdk_nominal_requests"] = plan.sdk_nominal_requests(size)
        record["minimum_requests"] = plan.minimum_requests()
    metrics = [derive(r) for r in raw["records"]]
    download, signatures = raw["download"], raw["signatures"]
    context = {"plan": plan.name, "date": raw["date"], "describe": _describe(plan)}
    if plan.name == "scale":
        found = scale_targets(metrics)
        context["targets_title"] = "Targets (issue 11)"
    else:
        found = targets(metrics, download)
    shared = summary(metrics, found, download, signatures, raw["machine"], context)
    args.results.write_text(
        f"# Benchmark results\n\nProduced by `{raw['command']}` (see `benchmarks/README.md`); "
        "ratios first, absolute numbers below.\n\n"
        + shared
        + "\n"
        + details(metrics)
        + "\n"
        + METHOD
    )
    return [str(args.results)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and write the results; returns 0 when every run succeeded."""
    args = _parse(argv)
    if args.from_json is not None:
        raw = json.loads(args.from_json.read_text())
    else:
        plan = _plan(args)
        WORK.mkdir(parents=True, exist_ok=True)
        stem = f"{args.results.stem}-{plan.name}"
        tree = _tree_state()  # the commit measured, recorded before measuring
        machine = describe(REPO)
        records, download, signatures = _measure(plan, args, WORK / f"{stem}.log")
        machine["source_after"] = source_digest(REPO)
        problem = _one_commit(tree, _tree_state())
        raw = {
            "command": " ".join(
                ["python -m benchmarks", *(sys.argv[1:] if argv is None else argv)]
            ),
            "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "plan": dataclasses.asdict(plan),
            "machine": machine,
            "records": records,
            "download": download,
            "signatures": signatures,
        }
        (WORK / f"{stem}.json").write_text(json.dumps(raw, indent=2))
        if problem is not None:
            print(
                f"NOT writing {args.results}: {problem}\nThe raw numbers are in "
                f"{WORK / (stem + '.json')}; commit, then run again.",
                file=sys.stderr,
            )
            return 2
    print("wrote " + " and ".join(_render(raw, args)))
    return 0 if all(derive(r).ok for r in raw["records"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
