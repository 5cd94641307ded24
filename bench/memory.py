"""Resident memory of the poll loop over many cycles: it must stay flat.

Run by hand:  .venv/bin/python -m bench.memory [--cycles 10000]

The real pipeline (settings, SQLite file, paced client, matcher) polls a local arXiv in a
loop. Most cycles get 304 Not Modified, as in production; every 100th cycle a new listing
with 30 new papers arrives (parsed, stored, matched, queued for posting). RSS is read from
/proc after each thousand cycles; the baseline is the RSS after the first 100 cycles.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from bot.app import open_ingest
from tests.conftest import ROUTES_TOML, make_settings
from tests.fakes.arxiv import Answer, FakeArxiv
from tests.fakes.feeds import Item, rss


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(cycles: int) -> None:
    arxiv = FakeArxiv(record=False).start()  # in this process: keep its memory flat too
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "paperbot.toml").write_text(ROUTES_TOML, encoding="utf-8")
            settings = make_settings(root, arxiv.url)
            clock = lambda: datetime(2026, 11, 24, 15, tzinfo=UTC)  # noqa: E731
            readings: list[tuple[int, float]] = []
            async with open_ingest(settings, clock=clock) as pipe:
                for cycle in range(1, cycles + 1):
                    if cycle % 100 == 1:
                        n = cycle // 100
                        items = [
                            Item(f"2611.{n:03d}{k:02d}", f"LLM inference paper {n} {k}")
                            for k in range(30)
                        ]
                        arxiv.serve(
                            "/rss/cs.DC+cs.OS",
                            Answer(rss(date(2026, 11, 24), items), headers={"ETag": f'"{n}"'}),
                        )
                    await pipe.poll_once()
                    if cycle == 100 or cycle % 1000 == 0:
                        readings.append((cycle, rss_mb()))
                        print(f"  cycle {cycle:>6}: {readings[-1][1]:6.1f} MB RSS", flush=True)
                papers = pipe.store.count_papers()
            base = readings[0][1]
            last = readings[-1][1]
            peak = max(mb for _, mb in readings)
            print(f"papers stored: {papers}; requests served: {arxiv.served}")
            print(f"baseline (after 100 cycles): {base:.1f} MB; after {cycles}: {last:.1f} MB")
            print(
                f"growth: {last - base:+.1f} MB ({last / base:.2f}x baseline); peak {peak:.1f} MB"
            )
            print(
                f"goal flat and < 150 MB: {'met' if peak < 150 and last - base < 10 else 'NOT met'}"
            )
    finally:
        arxiv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(run(args.cycles))


if __name__ == "__main__":
    main()
