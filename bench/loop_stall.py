"""Event-loop stall while a poll parses a large listing: parse on the loop vs in a thread.

Run by hand:  .venv/bin/python -m bench.loop_stall [--items 2000] [--rounds 3]

A ticker coroutine wakes every millisecond and records the largest gap between wake-ups while
the ArxivClient fetches and parses a listing of `--items` papers from a local fake arXiv. The
same run measures both: "before" parses on the event loop (as the client did), "after" lets the
client run the parser in a worker thread (asyncio.to_thread, as it does now). A stall is time
in which votes, commands and chat heartbeats could not be served.

Goal: the largest stall with a 2000-item listing under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import feedparser

from bot.arxiv.client import ArxivClient, Pacer
from bot.arxiv.feeds import parse_listing
from tests.fakes.arxiv import Answer, FakeArxiv
from tests.fakes.feeds import Item, rss


async def _no_wait(_seconds: float) -> None:
    return None


async def largest_stall(
    url: str, lock: Path, parse: Callable[[bytes], Any], on_loop: bool
) -> float:
    """The largest gap (seconds) a 1 ms ticker saw during one fetch and parse."""
    client = ArxivClient(
        pacer=Pacer(lock, 0, sleep=_no_wait),
        user_agent="paperbot-bench/1.0",
        timeout=60,
        retries=0,
        retry_wait=0,
        sleep=_no_wait,
    )
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    real_to_thread = asyncio.to_thread

    async def on_the_loop(func: Callable[..., Any], /, *args: Any) -> Any:
        return func(*args)  # the old behaviour: parse right here, on the loop

    async with client:
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        if on_loop:
            asyncio.to_thread = on_the_loop  # type: ignore[assignment]
        try:
            got = await client.get(url, parse)
        finally:
            asyncio.to_thread = real_to_thread
        done.set()
        await task
    assert got.value is not None
    return max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    items = [
        Item(f"2611.{n:05d}", f"Paper {n} on large language model serving", "We study. " * 60)
        for n in range(1, args.items + 1)
    ]
    body = rss(date(2026, 11, 24), items)
    fake = FakeArxiv(record=False).start()
    fake.serve("/rss/cs.DC", Answer(body))
    url = f"{fake.url}/rss/cs.DC"
    print(
        f"Python {platform.python_version()}, feedparser {feedparser.__version__}; "
        f"{args.items} items, {len(body) / 1e6:.1f} MB; largest ticker gap per poll, "
        f"best and worst of {args.rounds}"
    )
    results: dict[str, list[float]] = {"before (parse on loop)": [], "after (parse in thread)": []}
    with tempfile.TemporaryDirectory() as tmp:
        lock = Path(tmp) / "pace.lock"
        for _ in range(args.rounds):
            for name, on_loop in zip(results, (True, False), strict=True):
                results[name].append(asyncio.run(largest_stall(url, lock, parse_listing, on_loop)))
    fake.stop()
    for name, stalls in results.items():
        print(f"  {name:<25} {min(stalls) * 1000:7.1f} ms .. {max(stalls) * 1000:7.1f} ms")
    before = max(results["before (parse on loop)"])
    after = max(results["after (parse in thread)"])
    print(
        f"before / after (worst): {before / after:.1f}x; goal (under 100 ms): "
        f"{'met' if after < 0.1 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
