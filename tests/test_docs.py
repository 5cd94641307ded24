"""The docs say what the code does.

The README names only commands that exist, and every command; the specification pages in
docs/ (list format, voting, terms) have examples that run here for real: ```python blocks
as doctests, ```toml blocks through `load_config`, and the terms table through the matcher.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import click
import pytest

from bot.cli import cli
from bot.config import load_config
from bot.errors import ConfigError
from bot.matching import Matcher
from bot.models import Paper, Route

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def documented() -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    blocks = "\n".join(re.findall(r"^```sh\n(.*?)^```", README, flags=re.M | re.S))
    for line in re.findall(r"^paperbot ([^#\n]+)", blocks, flags=re.M):
        for alternative in line.split("|"):
            words = [w for w in alternative.split() if re.fullmatch(r"[a-z][a-z-]*", w)]
            if words:
                found.add(tuple(words[:2]))
    return found


def test_every_documented_command_exists() -> None:
    for words in documented():
        command: click.Command | None = cli.commands.get(words[0])
        assert command is not None, f"README names 'paperbot {words[0]}', which does not exist"
        if isinstance(command, click.Group) and len(words) > 1:
            assert words[1] in command.commands, f"README names 'paperbot {' '.join(words)}'"


def test_every_command_is_documented() -> None:
    named = {words[0] for words in documented()}
    missing = set(cli.commands) - named
    assert missing == set(), f"commands missing from the README: {sorted(missing)}"


# --- the specification pages in docs/: their examples run ------------------------------------

DOCS = ROOT / "docs"
SPEC_PAGES = ("list-format.md", "voting.md", "terms.md")
FENCE = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", flags=re.M | re.S)


def fenced(text: str, lang: str) -> list[tuple[int, str]]:
    """(line number of the first body line, body) of every ```lang block."""
    return [
        (text.count("\n", 0, m.start("body")) + 1, m["body"])
        for m in FENCE.finditer(text)
        if m["lang"] == lang
    ]


@pytest.mark.parametrize("page", SPEC_PAGES)
def test_page_examples_run_as_doctests(page: str) -> None:
    path = DOCS / page
    text = path.read_text(encoding="utf-8")
    blocks = fenced(text, "python")
    assert blocks, f"docs/{page} has no ```python examples"
    globs: dict[str, object] = {"__name__": f"docs.{page}"}  # shared by the page's blocks
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS, verbose=False)
    report: list[str] = []
    attempted = 0
    for line, body in blocks:
        test = parser.get_doctest(body, globs, f"docs/{page}:{line}", str(path), line - 1)
        attempted += runner.run(test, out=report.append, clear_globs=False).attempted
        globs = test.globs  # the next block sees this one's names (get_doctest copies them)
    assert attempted, f"docs/{page} has no >>> examples"
    assert runner.failures == 0, "".join(report)


@pytest.mark.parametrize("page", [*SPEC_PAGES, "../README.md"])
def test_toml_examples_load(page: str, tmp_path: Path) -> None:
    """Every ```toml block of the pages is a routes file paperbot accepts."""
    for line, body in fenced((DOCS / page).read_text(encoding="utf-8"), "toml"):
        path = tmp_path / "paperbot.toml"
        path.write_text(body, encoding="utf-8")
        try:
            load_config(path)
        except ConfigError as exc:
            pytest.fail(f"docs/{page}, the toml block at line {line}: {exc}")


def test_example_config_loads() -> None:
    config = load_config(ROOT / "paperbot.example.toml")
    assert config.routes


TABLE_ROW = re.compile(r"^\|(?P<cells>.*)\|\s*$", flags=re.M)


def term_rows() -> list[tuple[int, str, str, bool]]:
    """(line, term, title, matches) of the rows of docs/terms.md's term | title | matches table."""
    text = (DOCS / "terms.md").read_text(encoding="utf-8")
    rows: list[tuple[int, str, str, bool]] = []
    header: list[str] = []
    for m in TABLE_ROW.finditer(text):
        cells = [c.strip() for c in m["cells"].split("|")]
        if set("".join(cells)) <= set("-: "):
            continue  # the rule under the header
        if cells[0] == "term":
            header = cells
            continue
        if header == ["term", "title", "matches"]:
            term, title = (c[1:-1] if c[:1] == c[-1:] == "`" else c for c in cells[:2])
            assert cells[2] in ("yes", "no"), f"docs/terms.md: {cells[2]!r} is not yes or no"
            rows.append((text.count("\n", 0, m.start()) + 1, term, title, cells[2] == "yes"))
    return rows


def test_terms_table_matches_the_matcher() -> None:
    rows = term_rows()
    assert len(rows) >= 10, "docs/terms.md lost its term | title | matches table"
    wrong = []
    for line, term, title, expected in rows:
        route = Route(name="doc", categories=("cs.DC",), accept=(term,))
        paper = Paper(id="2611.00001", title=title, categories=("cs.DC",))
        if bool(Matcher([route]).match(paper)) != expected:
            wrong.append(f"docs/terms.md:{line}: {term!r} in {title!r} should be {expected}")
    assert wrong == []


def test_spec_pages_are_linked_from_the_readme() -> None:
    for page in SPEC_PAGES:
        assert f"docs/{page}" in README, f"README does not point to docs/{page}"
