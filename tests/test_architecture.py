"""The shape the code keeps: a pure core, and SQL only in storage/.

Read with `ast`, never imported, so a violation is reported even when the module would fail
to import. A pure module imports nothing that does I/O (chats, storage, the arXiv client,
subprocesses, git, HTTP, SQLite), neither directly nor through the bot modules it imports.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PURE = (
    "bot.matching",
    "bot.paperlist",
    "bot.voting",
    "bot.listing_calendar",
    "bot.models",
    "bot.display",  # checked when it exists
    "bot.posting_policy",
)
# Pure helpers the core may use; they are held to the same rule (see `closure`).
PURE_HELPERS = ("bot.arxiv.ids", "bot.errors", "bot.clock")

FORBIDDEN = (
    "bot.chat",
    "storage",
    "bot.arxiv",  # the client and parsers; bot.arxiv.ids (pure id parsing) is allowed
    "subprocess",
    "git",
    "aiohttp",
    "discord",
)
FORBIDDEN_PREFIXES = ("slack", "sqlite")  # slack_sdk, slack_bolt, sqlite3, sqlite_utils, ...
ALLOWED = {"bot.arxiv.ids"}
SQLITE = ("sqlite3", "sqlite_utils", "sqlite_fts4")


def module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports(path: Path, name: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, nested ones included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x, from ..y import z
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:  # `from bot import chat` imports bot.chat
                if module_path(f"{module}.{alias.name}") is not None:
                    yield node.lineno, f"{module}.{alias.name}"


def forbidden(module: str) -> bool:
    if module in ALLOWED:
        return False
    top = module.split(".")[0]
    return top.startswith(FORBIDDEN_PREFIXES) or any(
        module == f or module.startswith(f + ".") for f in FORBIDDEN
    )


def parents(module: str) -> list[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(name: str) -> list[str]:
    """Every problem in what importing `name` runs: 'path:line imports X (via ...)'."""
    problems: list[str] = []
    seen: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(name, ())]
    while todo:
        current, via = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        path = module_path(current)
        if path is None:
            continue
        for line, module in imports(path, current):
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            if forbidden(module):
                problems.append(where + (f" (via {' -> '.join(via)})" if via else ""))
            elif module.split(".")[0] == "bot":
                for step in [*parents(module), module]:
                    todo.append((step, (*via, current)))
    return problems


@pytest.mark.parametrize("name", PURE + PURE_HELPERS)
def test_pure_modules_import_no_io(name: str) -> None:
    if module_path(name) is None:
        if name in ("bot.display", "bot.posting_policy"):
            pytest.skip(f"{name} does not exist (yet)")
        pytest.fail(f"{name} is listed as pure but there is no such module")
    assert closure(name) == []


def test_the_rule_catches_an_import_of_the_client() -> None:
    assert forbidden("bot.arxiv.client")
    assert forbidden("sqlite_utils.db")
    assert forbidden("slack_bolt")
    assert not forbidden("bot.arxiv.ids")
    assert not forbidden("bot.models")


def python_files(folder: str) -> Iterator[Path]:
    yield from sorted((ROOT / folder).rglob("*.py"))


def test_only_storage_imports_sqlite() -> None:
    offenders = []
    for path in python_files("bot"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for line, module in imports(path, name):
            if module.split(".")[0] in SQLITE:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert offenders == [], "SQL lives in storage/ only"
    assert any(
        module.split(".")[0] in SQLITE
        for path in python_files("storage")
        for _, module in imports(path, "storage." + path.stem)
    ), "storage/ no longer imports sqlite3: update this test"


def test_module_docstrings_are_at_most_five_lines() -> None:
    """Specifications live in docs/ (run by test_docs.py); a module says what it is for."""
    long = []
    for folder in ("bot", "storage"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False)
            if doc and len(doc.splitlines()) > 5:
                long.append(f"{path.relative_to(ROOT)}: {len(doc.splitlines())} lines")
    assert long == []


def test_the_readme_architecture_block_matches_the_tree() -> None:
    """Every module of bot/ and storage/ is named in the README's tree, and nothing else is."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Architecture")
    block = readme[start : readme.index("```\n\n", start)]
    named = set(re.findall(r"\b([a-z_]+\.py)\b", block))
    modules = {
        path.name
        for folder in ("bot", "bot/arxiv", "bot/chat", "bot/site", "storage")
        for path in (ROOT / folder).glob("*.py")
        if path.name != "__init__.py"
    }
    assert sorted(modules - named) == [], "modules missing from the README's tree"
    assert sorted(named - modules) == [], "the README's tree names files that do not exist"
