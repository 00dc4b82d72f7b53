"""The package's shape: rooms layered core <- payments <- client <- Prefect layer, no import
cycles (counting imports under TYPE_CHECKING and inside functions), short modules, and the
documented public names and old import paths still there."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "prefect_giga"
MAX_LINES = 450

# Rank of each room: a module may import from its own room or a lower rank only. The emulator
# (testing) stands on the core alone; only the Prefect layer (top level) may import it.
RANKS = {"core": 0, "payments": 1, "client": 2, "testing": 2, "top": 3}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def room(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in RANKS and (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return "top"


def imports_of(module: str) -> set[str]:
    """Every package module ``module`` imports, wherever the import statement stands."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # `from pkg import submodule` imports the submodule; other names come from pkg.
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                for alias in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_no_module_imports_a_higher_room() -> None:
    upward = [
        f"{module} ({room(module)}) imports {target} ({room(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if RANKS[room(target)] > RANKS[room(module)]
        or (room(target) != room(module) and RANKS[room(target)] == RANKS[room(module)])
    ]
    assert upward == []


def test_the_module_graph_has_no_cycles() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_walker_sees_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    # The graph is only as good as the walker: it must count the imports that hide.
    assert "prefect_giga.core.exchange" in GRAPH["prefect_giga.client.async_client"]
    assert "prefect_giga.payments.host" in GRAPH["prefect_giga.payments.paid_start"]
    assert GRAPH["prefect_giga.core.models"] == {"prefect_giga.core.ids"}  # run-id grammar


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_longer_than_the_limit(module: str) -> None:
    lines = MODULES[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{module} has {lines} lines"


PUBLIC_NAMES = {
    "prefect_giga": [
        "AttachmentError",
        "AuthenticationError",
        "BatchItemResult",
        "BatchResult",
        "BudgetExceededError",
        "DownloadedFile",
        "FileAttachment",
        "FileEntry",
        "FileTooLargeError",
        "GigaClient",
        "GigaConfigError",
        "GigaCredentials",
        "GigaError",
        "GigaProtocolError",
        "GigaServerError",
        "GigaTimeoutError",
        "GigaTransportError",
        "HarvestedFile",
        "IdempotencyKeyConflictError",
        "InsufficientFundsError",
        "ItemOutcome",
        "ItemsFileError",
        "LinkExpiredError",
        "OutcomeUnknownError",
        "PaymentError",
        "PaymentReceipt",
        "PaymentRejectedError",
        "PresignedURL",
        "PromptItem",
        "Quote",
        "QuoteRefusedError",
        "RateLimitedError",
        "RequestNotSentError",
        "ResumeBodyRefusedError",
        "RetryPolicy",
        "Run",
        "RunFailedError",
        "RunFileNotFoundError",
        "RunLogs",
        "RunNotFoundError",
        "RunOutput",
        "RunStatus",
        "RunSummary",
        "ServerTiers",
        "SettlementFailedError",
        "SiwxChallengeError",
        "SpendBudget",
        "StartedRun",
        "SyncGigaClient",
        "TierNotOfferedError",
        "UnsafeLinkError",
        "UnsafePathError",
        "Wallet",
        "aharvest_run",
        "aresume_run",
        "astart_run",
        "await_run",
        "harvest_run",
        "load_items",
        "resume_run",
        "run_prompt",
        "run_prompts",
        "save_items",
        "start_run",
        "wait_for_run",
    ],
    "prefect_giga.client.tiers": ["ServerTiers", "TierBook"],
    "prefect_giga.flows": ["run_prompt", "run_prompts"],
    "prefect_giga.tasks": [
        "aharvest_run",
        "aresume_run",
        "astart_run",
        "await_run",
        "harvest_run",
        "resume_run",
        "start_key",
        "start_run",
        "wait_for_run",
    ],
    "prefect_giga.credentials": ["GigaCredentials"],
    "prefect_giga.results": [
        "BatchItemResult",
        "BatchResult",
        "HarvestedFile",
        "ItemOutcome",
        "PromptItem",
        "RunOutput",
    ],
    "prefect_giga.testing": [
        "DEFAULT_PAYEE",
        "DEFAULT_TIERS",
        "SEED_TIERS",
        "TODAY_TIERS",
        "tier_table",
        "EmulatorConfig",
        "EmulatorServer",
        "GigaEmulator",
    ],
    # Old paths, from before the package had rooms: users' imports and Prefect's persisted
    # results name them.
    "prefect_giga.client": ["DEFAULT_BASE_URL", "GigaClient", "normalize_base_url"],
    "prefect_giga.sync": ["SyncGigaClient"],
    "prefect_giga.models": ["PaymentReceipt", "Quote", "Run", "RunStatus", "StartedRun"],
    "prefect_giga.exceptions": ["GigaError", "OutcomeUnknownError", "QuoteRefusedError"],
    "prefect_giga.journal": ["Journal", "JournalEntry", "StartRef", "StartState"],
    "prefect_giga.payments": ["PaymentPolicy", "SignedPayment", "sign_payment"],
    "prefect_giga.paid_start": ["PaidStart", "ReconcilePolicy"],
    "prefect_giga.budget": ["SpendBudget"],
    "prefect_giga.quotes": ["QuoteCache"],
    "prefect_giga.wallet": ["Wallet"],
    "prefect_giga.money": ["format_usd", "parse_usd"],
    "prefect_giga.networks": ["BASE", "BASE_SEPOLIA", "get_network"],
    "prefect_giga.siwx": ["format_siwe_message", "sign_in"],
    "prefect_giga.files": ["DownloadedFile", "safe_destination"],
    "prefect_giga.pagination": ["PageWalker"],
    "prefect_giga.watcher": ["RunWatcher"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC_NAMES))
def test_documented_names_are_still_importable(module: str) -> None:
    loaded = importlib.import_module(module)
    missing = [name for name in PUBLIC_NAMES[module] if not hasattr(loaded, name)]
    assert missing == []


def test_the_package_exports_exactly_the_documented_names() -> None:
    import prefect_giga

    assert sorted(set(prefect_giga.__all__) - {"__version__"}) == sorted(
        PUBLIC_NAMES["prefect_giga"]
    )


def test_old_paths_name_the_same_objects_as_the_new_ones() -> None:
    from prefect_giga.client.async_client import GigaClient
    from prefect_giga.core.models import StartedRun
    from prefect_giga.payments.journal import Journal

    assert importlib.import_module("prefect_giga.client").GigaClient is GigaClient
    assert importlib.import_module("prefect_giga.models").StartedRun is StartedRun
    assert importlib.import_module("prefect_giga.journal").Journal is Journal
