"""CPU cost of one 2000-entry API page: parse, store and match.

Run by hand:  .venv/bin/python -m bench.ingest [--entries N] [--repeat R]

The goal is under 0.3 s of CPU, so that arXiv's 3-second pacing, not paperbot, bounds a
backfill. Baseline in the same run: the same page parsed with feedparser, as a generic feed
reader would (parsing only, so the ratio is conservative).
"""

from __future__ import annotations

import argparse
import platform
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser

from bot.arxiv.api import parse_api_page
from bot.matching import Matcher
from bot.models import Incoming, Route
from storage.store import Store
from tests.fakes.feeds import Item, api_page

# Words that matter to the routes below, and words that contain them ("average" has "rag").
TOPICAL = [
    "llm",
    "LLMs",
    "inference",
    "RAG",
    "decoding",
    "decoder",
    "large language model",
    "average",
    "storage",
    "leverage",
    "federated",
    "rdma",
    "network",
    "cache",
    "kernel",
]


def _filler(rng: random.Random, size: int = 3000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(size)]


def _text(rng: random.Random, filler: list[str], words: int) -> str:
    """Mostly filler, about 3 in 100 words topical: the density of real abstracts."""
    return " ".join(
        rng.choice(TOPICAL) if rng.random() < 0.03 else rng.choice(filler) for _ in range(words)
    )


def make_page(entries: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    filler = _filler(rng)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = [
        Item(
            id=f"2611.{i:05d}",
            title=_text(rng, filler, 10).capitalize(),
            abstract=_text(rng, filler, rng.randint(150, 250)),
            authors=tuple(f"Author {rng.randint(1, 5000)}" for _ in range(rng.randint(1, 8))),
            categories=tuple(rng.sample(["cs.DC", "cs.OS", "cs.LG", "cs.NI", "cs.AR"], 2)),
            published=start + timedelta(minutes=i),
        )
        for i in range(entries)
    ]
    return api_page(items)


def routes() -> list[Route]:
    return [
        Route(
            name="llm-systems",
            categories=("cs.DC", "cs.OS"),
            accept=("llm", "inference", "rag", "large language model", "decod*"),
            reject=("federated", "blockchain"),
        ),
        Route(name="networks", categories=("cs.NI",), accept=("rdma", "network", "cache")),
    ]


def cpu(fn: object) -> float:
    start = time.process_time()
    fn()  # type: ignore[operator]
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    body = make_page(args.entries)
    matcher = Matcher(routes())
    print(
        f"page: {args.entries} entries, {len(body) / 1e6:.1f} MB; "
        f"{platform.machine()}, Python {platform.python_version()}"
    )

    best = dict.fromkeys(("parse", "store", "match", "record", "total", "feedparser"), 1e9)
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open(Path(tmp) / "bench.db", lambda: datetime.now(UTC))
            t0 = time.process_time()
            page = parse_api_page(body)
            t1 = time.process_time()
            result = store.upsert_papers(
                [
                    Incoming(p, p.published.date() if p.published else None, True, "api:bench")
                    for p in page.papers
                ]
            )
            t2 = time.process_time()
            matches = matcher.match_many(list(page.papers))
            t3 = time.process_time()
            store.add_matches(matches, "backfill")
            t4 = time.process_time()
            store.close()
        assert len(result.new_ids) == args.entries
        best["parse"] = min(best["parse"], t1 - t0)
        best["store"] = min(best["store"], t2 - t1)
        best["match"] = min(best["match"], t3 - t2)
        best["record"] = min(best["record"], t4 - t3)
        best["total"] = min(best["total"], t4 - t0)
        best["feedparser"] = min(best["feedparser"], cpu(lambda: feedparser.parse(body)))

    print(f"matches: {len(matches)}")
    for name in ("parse", "store", "match", "record", "total"):
        print(f"  {name:<10} {best[name] * 1000:8.1f} ms CPU")
    print(f"baseline: feedparser parse alone {best['feedparser'] * 1000:8.1f} ms CPU")
    print(
        f"ratio: paperbot parse+store+match is {best['feedparser'] / best['total']:.1f}x "
        "faster than feedparser's parse alone"
    )
    print(f"goal < 300 ms: {'met' if best['total'] < 0.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
