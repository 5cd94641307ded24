"""More SIGKILL rounds than the test suite runs (tests/test_crash.py runs 50).

Run by hand:  .venv/bin/python -m bench.crash [--rounds 300] [--seed N]

A soak, not a speed benchmark, so there is no ratio: it prints how many papers were
announced, how many messages killed processes managed to send (the kills bit mid-work), how
many distinct papers reached the chat, and how many were lost or posted twice (both must
be 0). A mutant that skips the restart lookup fails the test suite's 50 rounds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.fakes.arxiv import FakeArxiv
from tests.fakes.webchat import ChatService
from tests.test_crash import run_rounds, settle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    arxiv = FakeArxiv().start()
    chat = ChatService(post_delay=0.1).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            announced = run_rounds(Path(tmp), arxiv, chat, args.rounds, args.seed)
            before_settle = len(chat.posts())
            settle(Path(tmp), arxiv, chat, announced)
            per_paper = Counter(p["paper_id"] for p in chat.posts())
            lost = announced - len(per_paper)
            doubled = sum(1 for n in per_paper.values() if n > 1)
            print(
                f"seed {args.seed}: {args.rounds} SIGKILLs in {time.perf_counter() - started:.0f} s"
            )
            print(
                f"announced {announced}; posted by killed runs {before_settle}; "
                f"distinct posted {len(per_paper)}; lost {lost}; doubled {doubled}"
            )
            print("exactly once: " + ("yes" if lost == 0 and doubled == 0 else "NO"))
    finally:
        chat.stop()
        arxiv.stop()


if __name__ == "__main__":
    main()
