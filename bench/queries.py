"""`search` and `recent` latency over a large database: p50 / p99.

Run by hand:  .venv/bin/python -m bench.queries [--papers 1000000] [--db PATH]

Builds (once; reused when --db exists) a database of generated papers through the real
`Store`, 10% of them matched, then times the real command layer (`PapersCommand.answer`) for
`search` (relevance with its total, newest, --route, a plural) and `recent`. Baseline:
the same FTS5 search ordered by relevance (`ORDER BY rank`), the usual way to write it,
which SQLite's docs say costs a full sort of every hit.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.models import Incoming, Match, Paper, Parsed, Reason
from bot.papers_command import PapersCommand
from storage.store import Store

VOCAB = [f"w{i}" for i in range(20000)]
COMMON = ["model", "learning", "system", "data"]


def build(path: Path, papers: int, seed: int = 3) -> Store:
    clock = lambda: datetime(2026, 11, 28, tzinfo=UTC)  # noqa: E731
    store = Store.open(path, clock)
    have = store.count_papers()
    if have >= papers:
        return store
    rng = random.Random(seed)
    start = date(2026, 11, 28) - timedelta(days=papers // 2000)
    batch: list[Incoming] = []
    matches: list[Match] = []
    t0 = time.perf_counter()
    for i in range(have, papers):
        words = rng.choices(VOCAB, k=120) + rng.choices(COMMON, k=6)
        day = start + timedelta(days=i // 2000)
        paper = Paper(
            id=f"{day:%y%m}.{i % 100000:05d}x{i // 100000}",
            title=" ".join(words[:10]),
            abstract=" ".join(words[10:]),
            authors=(f"Author {rng.randint(1, 50000)}",),
            categories=("cs.DC",),
        )
        batch.append(Incoming(paper, day, True, "bench"))
        if i % 10 == 0:
            matches.append(Match(paper.id, "bench", (Reason("w1", "title", "w1"),)))
        if len(batch) == 10000:
            store.upsert_papers(batch)
            store.add_matches(matches, "backfill")
            batch, matches = [], []
            done = i + 1
            rate = (done - have) / (time.perf_counter() - t0)
            print(f"  built {done:,} papers ({rate:,.0f}/s)", end="\r", flush=True)
    if batch:
        store.upsert_papers(batch)
        store.add_matches(matches, "backfill")
    print()
    return store


def timed(fn: object, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - t) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--papers", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("bench-queries.db"))
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    store = build(args.db, args.papers)
    commands = PapersCommand(store, lambda: datetime(2026, 11, 28, tzinfo=UTC))
    print(f"{store.count_papers():,} papers in {args.db}")
    rng = random.Random(5)
    cases = {
        "search common word": lambda: commands.answer(
            Parsed("search", words=(rng.choice(COMMON),)), ["bench"]
        ),
        "search rare word": lambda: commands.answer(
            Parsed("search", words=(rng.choice(VOCAB),)), ["bench"]
        ),
        "search two words": lambda: commands.answer(
            Parsed("search", words=(rng.choice(COMMON), rng.choice(VOCAB))), ["bench"]
        ),
        "search absent word": lambda: commands.answer(Parsed("search", words=("zzzz",)), ["bench"]),
        "search common, newest": lambda: commands.answer(
            Parsed("search", words=(rng.choice(COMMON),), sort="newest"), ["bench"]
        ),
        "search common, route": lambda: commands.answer(
            Parsed("search", words=(rng.choice(COMMON),), scoped=True), ["bench"]
        ),
        "search plural (models)": lambda: commands.answer(
            Parsed("search", words=("models",)), ["bench"]
        ),
        "recent 3": lambda: commands.answer(Parsed("recent", days=3), ["bench"]),
        "recent 30": lambda: commands.answer(Parsed("recent", days=30), ["bench"]),
    }
    # Baseline: relevance order, which sorts every hit (SQL here, in the bench only).
    baseline = lambda: list(  # noqa: E731
        store.db.query(
            "select papers.* from papers_fts join papers on papers.rowid = papers_fts.rowid"
            " where papers_fts match ? order by rank limit 20",
            [f'"{rng.choice(COMMON)}"'],
        )
    )
    print(f"{'query':<22} {'p50 ms':>8} {'p99 ms':>8}")
    results = {}
    for name, fn in cases.items():
        times = timed(fn, args.runs)
        results[name] = times
        print(f"{name:<22} {statistics.median(times):8.2f} {pct(times, 0.99):8.2f}")
    base = timed(baseline, max(10, args.runs // 10))
    print(f"{'baseline: by rank':<22} {statistics.median(base):8.2f} {pct(base, 0.99):8.2f}")
    ours = results["search common word"]
    ratio = statistics.median(base) / statistics.median(ours)
    print(f"ratio (baseline p50 / ours p50, common word): {ratio:.0f}x")
    worst = max(pct(t, 0.99) for t in results.values())
    print(f"goal p99 < 50 ms: {'met' if worst < 50 else 'NOT met'} (worst p99 {worst:.2f} ms)")


if __name__ == "__main__":
    main()
