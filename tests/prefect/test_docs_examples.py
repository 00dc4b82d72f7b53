"""Every Python example in the docs and the README runs against the emulator.

A fenced block tagged ``python`` in ``README.md`` or ``docs/**/*.md`` is either code (run
here as a script) or only ``--8<-- "docs/snippets/..."`` lines (pymdownx.snippets includes
those files; each file under ``docs/snippets/`` is run here). Shell and YAML blocks are not
run and must carry the ``<!-- not run -->`` marker on the line above (see CONTRIBUTING.md); a
Python block carrying it (one that needs a real PostgreSQL, say) is not run either.
Examples read ``GIGA_BASE_URL`` and ``GIGA_PRIVATE_KEY`` like a user's script would; here
they point at one emulator and a fresh funded wallet, under the suite's real Prefect API.
"""

from __future__ import annotations

import re
import runpy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from prefect_giga import GigaCredentials
from prefect_giga.testing import EmulatorConfig, GigaEmulator

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "snippets"
NOT_RUN = "<!-- not run -->"
"""The marker a shell or YAML block carries on the line above its fence."""
UNRUN_LANGUAGES = {"bash", "sh", "shell", "console", "yaml", "yml", "toml", "dockerfile"}
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>[^\n]*)$")
_INCLUDE = re.compile(r'^\s*--8<--\s+"(?P<path>[^"]+)"\s*$')


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block of a markdown file."""

    doc: Path
    line: int
    language: str
    code: str
    marked_not_run: bool

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def includes(self) -> list[str]:
        """The snippet files a block made only of ``--8<--`` lines includes (else empty)."""
        lines = [line for line in self.code.splitlines() if line.strip()]
        matches = [_INCLUDE.match(line) for line in lines]
        if lines and all(matches):
            return [match.group("path") for match in matches if match]
        return []


def doc_files() -> list[Path]:
    """The markdown files whose examples must run."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def code_blocks(doc: Path) -> list[CodeBlock]:
    """Every fenced block of one markdown file, in order."""
    blocks: list[CodeBlock] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, indent = opening.group("fence"), len(opening.group("indent"))
        language = (opening.group("info").split() or [""])[0].lower()
        body: list[str] = []
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            body.append(lines[end][indent:])
            end += 1
        marked = index > 0 and lines[index - 1].strip() == NOT_RUN
        blocks.append(CodeBlock(doc, index + 1, language, "\n".join(body) + "\n", marked))
        index = end + 1
    return blocks


def python_blocks() -> list[CodeBlock]:
    return [b for doc in doc_files() for b in code_blocks(doc) if b.language in ("python", "py")]


# A python block marked not run needs what the suite does not give it (a real PostgreSQL).
INLINE = [block for block in python_blocks() if not block.includes and not block.marked_not_run]
SNIPPET_FILES = sorted(SNIPPETS.glob("*.py"))


@pytest.fixture(scope="module")
def docs_emulator() -> Iterator[GigaEmulator]:
    """One emulator for every example; agent time runs fast so examples finish quickly."""
    server = GigaEmulator(EmulatorConfig(time_scale=10_000.0, logs_delay_seconds=0.0))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def example_env(
    docs_emulator: GigaEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """What a user has before running an example: the environment, a saved block, a CSV."""
    key = "0x" + bytes(Account.create().key).hex()  # the emulator funds every wallet
    monkeypatch.setenv("GIGA_BASE_URL", docs_emulator.url)
    monkeypatch.setenv("GIGA_PRIVATE_KEY", key)
    monkeypatch.setenv("GIGA_JOURNAL_PATH", str(tmp_path / "journal.sqlite3"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_text("date,amount\n2026-03-02,10\n2026-03-01,7\n")
    GigaCredentials.from_env().save("my-giga-wallet", overwrite=True)
    return tmp_path


def _run_script(path: Path) -> None:
    runpy.run_path(str(path), run_name="__main__")


@pytest.mark.parametrize("block", INLINE, ids=lambda b: b.where)
def test_inline_python_example_runs(block: CodeBlock, example_env: Path) -> None:
    script = example_env / "example.py"
    script.write_text(block.code, encoding="utf-8")
    _run_script(script)


@pytest.mark.parametrize("snippet", SNIPPET_FILES, ids=lambda p: p.name)
def test_snippet_runs(snippet: Path, example_env: Path) -> None:
    _run_script(snippet)


def test_every_included_snippet_exists_and_is_run() -> None:
    included = [(b.where, path) for b in python_blocks() for path in b.includes]
    assert included, "no docs page includes a snippet"
    outside = [(where, p) for where, p in included if (ROOT / p).parent != SNIPPETS]
    missing = [(where, p) for where, p in included if not (ROOT / p).is_file()]
    assert not outside, (
        f"snippets must live in docs/snippets/ (where the test runs them): {outside}"
    )
    assert not missing, f"included snippet files that do not exist: {missing}"


def test_every_snippet_is_shown_somewhere() -> None:
    shown = {ROOT / path for b in python_blocks() for path in b.includes}
    assert not [p.name for p in SNIPPET_FILES if p not in shown]


def test_shell_and_yaml_blocks_are_marked_not_run() -> None:
    unmarked = [
        b.where
        for doc in doc_files()
        for b in code_blocks(doc)
        if b.language in UNRUN_LANGUAGES and not b.marked_not_run
    ]
    assert not unmarked, f"mark these blocks with {NOT_RUN} on the line above: {unmarked}"


def test_a_broken_example_fails(tmp_path: Path) -> None:
    doc = tmp_path / "page.md"
    doc.write_text("Text\n\n```python\nraise RuntimeError('rotted')\n```\n")
    (block,) = code_blocks(doc)
    script = tmp_path / "example.py"
    script.write_text(block.code)
    with pytest.raises(RuntimeError, match="rotted"):
        _run_script(script)
