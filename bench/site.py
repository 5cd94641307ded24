"""The static site: building it for 100,000 accepted papers, and the page's search at 10,000
papers in Chromium. Run: .venv/bin/python -m bench.site [--papers N] [--page N]

Build baseline: merging the same papers into an empty markdown list (bot.paperlist.merge), what
publishing the list itself costs. Search baseline: a naive filter that re-reads every paper's
text from the DOM and sets style.display on all of them at each keystroke.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot import paperlist
from bot.models import Reason, Route, SiteTarget
from bot.site import SitePaper, render_site, write_site

ROUTE = Route("llm", ("cs.DC",), site=SiteTarget(title="Bench papers"))
START = datetime(2026, 3, 1, tzinfo=UTC)
TAGS = (("serving", "MoE"), ("training",), (), ("kernel", "quantization"), ("RAG",))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NAIVE = """() => {
  const q = document.getElementById("q").value.toLowerCase();
  for (const el of document.querySelectorAll("article.paper")) {
    el.style.display = el.textContent.toLowerCase().includes(q) ? "" : "none";
  }
}"""


def papers(count: int) -> list[SitePaper]:
    """Papers like the real list's: 10 a day, 5 authors, tags on most, a TL;DR on half."""
    out = []
    for n in range(count):
        pid = f"{24 - n // 1_000_000:02d}{n // 90_000 % 12 + 1:02d}.{n % 90_000:05d}"
        out.append(
            SitePaper(
                id=pid,
                title=f"Paper {n}: speculative decoding for LLM serving at scale, part {n % 97}",
                accepted_at=START + timedelta(minutes=n),
                seq=n,
                date=date(2026, 3, 1) - timedelta(days=n // 10),
                authors=tuple(f"Author{n % 1000} Surname{i}" for i in range(5)),
                abstract="",
                categories=("cs.DC",),
                tags=TAGS[n % len(TAGS)],
                tldr=f"Makes paper {n}'s KV cache {n % 7}x smaller with no loss."
                if n % 2
                else None,
                reasons=(Reason("llm", "title", "LLM"),),
                ups=n % 4,
                downs=n % 2,
            )
        )
    return out


def timed(fn: object, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def build(count: int, repeat: int) -> None:
    many = papers(count)
    site = timed(lambda: render_site(many, ROUTE, START), repeat)
    entries = [paperlist.NewEntry(p.id, p.title, p.date or START.date()) for p in many]
    merge = timed(lambda: paperlist.merge("", entries), repeat)
    files = render_site(many, ROUTE, START)
    size = sum(len(b) for b in files.values()) / 1e6
    print(f"build {count:,} papers ({size:.0f} MB, median of {repeat})")
    print(f"  render_site                   {site:7.2f} s  (goal: under 2 s)")
    print(f"  baseline paperlist.merge      {merge:7.2f} s")
    print(f"  ratio site / list merge       {site / merge:7.1f}x")


def search(count: int) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        write_site(Path(tmp) / "site", render_site(papers(count), ROUTE, START))
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(Path(tmp) / "profile"),
                executable_path="/usr/bin/chromium",
                headless=True,
                args=ARGS,
            )
            page = context.new_page()
            page.goto((Path(tmp) / "site" / "index.html").as_uri())
            page.wait_for_selector("#filters:not([hidden])")
            ours = keystrokes(page, "() => window.paperbotFilter()")
            naive = keystrokes(page, NAIVE)
            context.close()
    print(f"search at {count:,} papers: ms a keystroke typing 'speculative kv', then deleting it")
    rows = (
        ("paperbot filter", ours[0]),
        ("  + forced layout", ours[1]),
        ("baseline naive filter", naive[0]),
        ("  + forced layout", naive[1]),
    )
    for name, times in rows:
        times.sort()
        p50, p95 = times[len(times) // 2], times[int(len(times) * 0.95)]
        print(f"  {name:24s} p50 {p50:6.1f}  p95 {p95:6.1f}  max {times[-1]:6.1f}")
    ratio = statistics.median(naive[1]) / statistics.median(ours[1])
    print(f"  ratio naive / paperbot (p50, with layout)  {ratio:.1f}x")


def keystrokes(page: object, filter_js: str) -> tuple[list[float], list[float]]:
    """(filter alone, filter + the layout it causes) in ms, for each keystroke."""
    word = "speculative kv"
    states = [word[:i] for i in range(1, len(word) + 1)] + [
        word[:i] for i in range(len(word) - 1, -1, -1)
    ]
    return page.evaluate(  # type: ignore[attr-defined, no-any-return]
        """([states, source]) => {
          const filter = eval(source);
          const q = document.getElementById("q");
          const alone = [], laid = [];
          for (const s of states) {
            q.value = s;
            const t0 = performance.now();
            filter();
            const t1 = performance.now();
            document.body.offsetHeight;  // the layout the change causes, forced now
            alone.push(t1 - t0);
            laid.push(performance.now() - t0);
          }
          return [alone, laid];
        }""",
        [states, filter_js],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    build(args.papers, args.repeat)
    search(args.page)
