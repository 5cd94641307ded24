"""The SIGKILL crash soak with a report: `make soak` runs the same rounds as a test.

Run by hand:  .venv/bin/python -m bench.crash [--rounds 200] [--seed N]

A soak, not a speed benchmark, so there is no ratio: it prints the kill points used, how many
papers were announced, how many messages killed processes managed to send, how many distinct
papers reached the chat, and how many were lost or posted twice (both must be 0).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from _pytest.outcomes import Failed

from tests.test_crash import (
    PAPERS_PER_ROUND,
    GatedChat,
    Watch,
    WatchedArxiv,
    run_rounds,
    settle,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    watch = Watch()
    arxiv = WatchedArxiv(watch)
    chat = GatedChat(watch)
    arxiv.start()
    chat.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            try:
                used = run_rounds(Path(tmp), arxiv, chat, args.rounds, args.seed)
                before_settle = len(chat.posts())
                settle(Path(tmp), arxiv, chat, args.rounds * PAPERS_PER_ROUND)
            except (AssertionError, Failed) as exc:
                print(f"seed {args.seed}: FAILED: {exc}")
                raise SystemExit(1) from None
            announced = args.rounds * PAPERS_PER_ROUND
            per_paper = Counter(p["paper_id"] for p in chat.posts())
            lost = announced - len(per_paper)
            doubled = sum(1 for n in per_paper.values() if n > 1)
            took = time.perf_counter() - started
            print(f"seed {args.seed}: {args.rounds} SIGKILLs in {took:.0f} s")
            print("kill points: " + ", ".join(f"{k} {n}" for k, n in sorted(used.items())))
            print(
                f"announced {announced}; posted by killed runs {before_settle}; "
                f"distinct posted {len(per_paper)}; lost {lost}; doubled {doubled}"
            )
            print("exactly once: " + ("yes" if lost == 0 and doubled == 0 else "NO"))
    finally:
        chat.release()
        chat.stop()
        arxiv.stop()


if __name__ == "__main__":
    main()
