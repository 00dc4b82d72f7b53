"""The frame every scenario process shares: arguments, the timed window, the result file.

A scenario is two coroutines: ``prepare`` (untimed set-up, such as starting Prefect's API)
and ``work`` (start every run, wait for each, download its files). The result goes to the
JSON file named by ``--out``; the wallet key comes from ``BENCH_WALLET_KEY``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.measure import Window, cpu_self
from benchmarks.plan import Plan, Size, prompts

__all__ = ["Context", "Outcome", "scenario_main"]

KEY_ENV = "BENCH_WALLET_KEY"


@dataclass
class Context:
    """What a scenario gets.

    Attributes:
        url: The emulator.
        n: Runs to start.
        plan: Durations, poll interval, files.
        prompts: The ``n`` prompts.
        key: The scenario's own fresh wallet (funded by the emulator).
        dest: Folder downloads go to.
    """

    url: str
    n: int
    plan: Plan
    prompts: list[str]
    key: str
    dest: Path


@dataclass
class Outcome:
    """What a scenario reports about its runs.

    Attributes:
        completed: Runs that completed and whose files were all downloaded.
        failed: Runs that did not.
        errors: A few error messages (the first ones).
        extra: Scenario-specific numbers (watcher stats, Prefect start-up...).
    """

    completed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def count(self, results: Sequence[object]) -> Outcome:
        """Count ``asyncio.gather(..., return_exceptions=True)`` results."""
        for result in results:
            if isinstance(result, BaseException):
                self.failed += 1
                if len(self.errors) < 5:
                    self.errors.append(f"{type(result).__name__}: {result}"[:500])
            else:
                self.completed += 1
        return self


Prepare = Callable[[Context], Awaitable[dict[str, Any]]]
Work = Callable[[Context], Awaitable[Outcome]]


async def no_preparation(ctx: Context) -> dict[str, Any]:
    """The default ``prepare``: nothing to set up."""
    return {}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--plan", required=True, help="the Plan's fields as JSON")
    parser.add_argument("--dest", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args(argv)


def plan_from_json(text: str) -> Plan:
    """Rebuild a `Plan` from `plan_to_json`'s output.

    Example:
        >>> from benchmarks.plan import QUICK
        >>> plan_from_json(plan_to_json(QUICK)) == QUICK
        True
    """
    data = json.loads(text)
    sizes = []
    for size in data["sizes"]:
        if size.get("scenarios") is not None:
            size["scenarios"] = tuple(size["scenarios"])
        sizes.append(Size(**size))
    data["sizes"] = tuple(sizes)
    return Plan(**data)


def plan_to_json(plan: Plan) -> str:
    """Serialise ``plan`` for a scenario's ``--plan`` argument."""
    return json.dumps(asdict(plan))


async def _measured(ctx: Context, prepare: Prepare, work: Work) -> dict[str, Any]:
    started = time.time()
    cpu_before = cpu_self()
    preparation = await prepare(ctx)
    preparation.setdefault("wall", time.time() - started)
    preparation.setdefault("cpu", cpu_self() - cpu_before)
    window = Window.open()
    try:
        outcome = await work(ctx)
    except Exception as exc:  # report it: a benchmark that fails must say so
        outcome = Outcome(failed=ctx.n, errors=[traceback.format_exc()[-2000:], repr(exc)])
    measures = window.close(ctx.dest)
    return {
        "n": ctx.n,
        "completed": outcome.completed,
        "failed": outcome.failed,
        "errors": outcome.errors,
        "extra": outcome.extra,
        "prepare": preparation,
        **measures,
    }


def scenario_main(name: str, work: Work, prepare: Prepare = no_preparation) -> int:
    """Run one scenario process: parse the arguments, measure ``work``, write the result.

    Args:
        name: The scenario's name in the result.
        work: Starts, awaits and downloads every run.
        prepare: Untimed set-up before the first request.

    Returns:
        The process exit code.
    """
    import_cpu = cpu_self()  # interpreter start-up and imports so far
    args = _parse(None)
    plan = plan_from_json(args.plan)
    ctx = Context(
        url=args.url,
        n=args.n,
        plan=plan,
        prompts=prompts(args.n, plan),
        key=os.environ[KEY_ENV],
        dest=args.dest,
    )
    ctx.dest.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(_measured(ctx, prepare, work))
    result["scenario"] = name
    result["import_cpu"] = import_cpu
    args.out.write_text(json.dumps(result, indent=2))
    return 0 if result["failed"] == 0 else 1
