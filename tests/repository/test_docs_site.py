"""The docs site builds with ``mkdocs build --strict`` and has a page for every public module."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_docs_modules() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_modules", ROOT / "scripts/docs_modules.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


docs_modules = _load_docs_modules()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for this module exactly as CI builds it."""
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "DISABLE_MKDOCS_2_WARNING": "true"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return out


def test_every_public_module_has_a_reference_page(site: Path) -> None:
    modules = docs_modules.public_modules()
    missing = []
    for module in modules:
        page = site / module.url / "index.html"
        if not page.is_file() or f'id="{module.name}"' not in page.read_text(encoding="utf-8"):
            missing.append(module.name)
    assert modules
    assert not missing, f"no reference page (or an empty one) for: {missing}"


def test_shims_and_private_modules_get_no_page_but_real_modules_do() -> None:
    names = {module.name for module in docs_modules.public_modules()}
    assert {"prefect_giga.tasks", "prefect_giga.core.models", "prefect_giga.client"} <= names
    assert "prefect_giga.models" not in names  # re-export shim for an old import path
    assert "prefect_giga.testing.__main__" not in names
    assert not [name for name in names if any(p.startswith("_") for p in name.split("."))]


def test_a_module_with_code_is_not_a_shim() -> None:
    assert docs_modules.is_reexport_shim('"""Moved."""\n\nfrom .a import b as b\n')
    assert not docs_modules.is_reexport_shim('"""Real."""\n\nfrom .a import b\n\nX = b()\n')
