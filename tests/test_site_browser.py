"""The site's page in a real headless Chromium (Debian's, driven by Playwright): built from the
imported shared list, it shows every paper, filters by words, tag and dates, fits a phone, and
reads with scripts off. With CI=true a missing Chromium fails instead of skipping."""

from __future__ import annotations

import os
import shutil
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot import paperlist
from bot.models import Route, SiteTarget
from bot.publish import import_list
from bot.site import SitePaper, render_site, site_papers, write_site
from storage.store import Store
from tests.conftest import ROOT, FakeClock

pytestmark = pytest.mark.slow  # `make full` (and CI) run these; `make test` stays fast

CHROMIUM = Path(os.environ.get("PAPERBOT_CHROMIUM", "/usr/bin/chromium"))
INSTALL = "apt-get install -y --no-install-recommends chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LIST = "lists/daily-arxiv-llm.2026-03-30.md"
ARTIFACTS = ROOT / "test-artifacts"


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}; CI needs it: {INSTALL} (.ci/run does this)")
    pytest.skip(f"{why}; to run the browser tests: {INSTALL}")


@pytest.fixture(scope="module")
def browser_kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A function opening a page in a fresh Chromium profile: open(url, **context options)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.is_file() and shutil.which("chromium") is None:
        _missing(f"Chromium is not installed at {CHROMIUM}")
    executable = str(CHROMIUM if CHROMIUM.is_file() else shutil.which("chromium"))
    with sync_playwright() as pw:
        contexts = []

        def open_page(url: str, **options: Any) -> Any:
            profile = tmp_path_factory.mktemp("chromium-profile")
            context = pw.chromium.launch_persistent_context(
                str(profile), executable_path=executable, headless=True, args=ARGS, **options
            )
            contexts.append(context)
            page = context.pages[0] if context.pages else context.new_page()
            page.route(  # the page must not reach out: anything not file:// is refused
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith("file://")
                    else (outside.append(route.request.url), route.abort())
                ),
            )
            page.goto(url)
            return page

        outside: list[str] = []
        open_page.outside = outside  # type: ignore[attr-defined]
        yield open_page
        for context in contexts:
            context.close()


@pytest.fixture(scope="module")
def shared_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SitePaper]]:
    source = ROOT.parent / "shared" / "fixtures" / LIST
    if not source.is_file():
        pytest.skip(f"../shared/fixtures/{LIST} is not present")
    tmp = tmp_path_factory.mktemp("site")
    text = source.read_text(encoding="utf-8")
    store = Store.open(tmp / "paperbot.db", FakeClock(datetime(2026, 3, 31, 8, tzinfo=UTC)))
    import_list(store, "llm", text)
    route = Route("llm", ("cs.DC",), site=SiteTarget(title="Daily arXiv papers"))
    papers = site_papers(store, route, text)
    assert len(papers) == len(set(paperlist.ids_in(text)))  # every paper the list holds
    write_site(tmp / "out", render_site(papers, route, datetime(2026, 3, 31, tzinfo=UTC)))
    return tmp / "out", papers


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _visible(page: Any) -> set[str]:
    ids = page.eval_on_selector_all(
        "section.day:not([hidden]) article.paper:not([hidden])", "els => els.map(e => e.id)"
    )
    return {i.removeprefix("p-") for i in ids}


def test_page_shows_every_paper_and_filters(
    browser_kit: Any, shared_site: tuple[Path, list[SitePaper]]
) -> None:
    folder, papers = shared_site
    page = browser_kit((folder / "index.html").as_uri(), viewport={"width": 1280, "height": 900})
    page.wait_for_selector("#filters:not([hidden])")
    assert _visible(page) == {p.id for p in papers}
    assert page.text_content("#shown") == f"{len(papers)} papers"

    word = "speculative"
    page.type("#q", word)
    haystack = {
        p.id: _fold(" ".join([p.title, ", ".join(p.authors), p.tldr or "", " ".join(p.tags)]))
        for p in papers
    }
    wanted = {pid for pid, text in haystack.items() if word in text}
    assert 0 < len(wanted) < len(papers)
    assert _visible(page) == wanted
    assert page.text_content("#shown") == f"{len(wanted)} of {len(papers)} papers"

    page.fill("#q", "")
    page.select_option("#tag", "moe")
    moe = {p.id for p in papers if "moe" in {t.casefold() for t in p.tags}}
    assert 0 < len(moe) < len(papers) and _visible(page) == moe

    page.select_option("#tag", "")
    page.fill("#from", "2026-03-01")
    page.fill("#to", "2026-03-15")
    march = {p.id for p in papers if p.date and "2026-03-01" <= p.date.isoformat() <= "2026-03-15"}
    assert 0 < len(march) < len(papers) and _visible(page) == march
    assert browser_kit.outside == []


def test_phone_viewport_has_no_horizontal_scroll(
    browser_kit: Any, shared_site: tuple[Path, list[SitePaper]], tmp_path: Path
) -> None:
    folder, _ = shared_site
    page = browser_kit((folder / "index.html").as_uri(), viewport={"width": 375, "height": 812})
    page.wait_for_selector("#filters:not([hidden])")
    page.type("#q", "serving")
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
    ARTIFACTS.mkdir(exist_ok=True)
    for where in (tmp_path / "site-phone.png", ARTIFACTS / "site-phone.png"):
        page.screenshot(path=str(where))
        assert where.stat().st_size > 0


def test_page_is_whole_with_scripts_off(
    browser_kit: Any, shared_site: tuple[Path, list[SitePaper]]
) -> None:
    folder, papers = shared_site
    page = browser_kit((folder / "index.html").as_uri(), java_script_enabled=False)
    assert page.is_hidden("#filters")  # the controls need the script; the list does not
    assert _visible(page) == {p.id for p in papers}
    first = papers[0]
    assert page.get_attribute(f'[id="p-{first.id}"] h3 a', "href") == first.url
