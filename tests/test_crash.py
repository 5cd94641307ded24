"""SIGKILL a real `paperbot run` while it posts, again and again: every paper lands once.

Each round announces new papers on the local arXiv, starts `paperbot run` against a test
chat service that keeps its messages, and kills the process with SIGKILL at a random
moment (before, during or after posting). A last clean run settles what is left. The chat
must then hold exactly one message per paper. `bench/crash.py` runs more rounds.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import env_for
from tests.fakes.arxiv import Answer, FakeArxiv
from tests.fakes.feeds import Item, rss
from tests.fakes.webchat import ChatService

ROUNDS = int(os.environ.get("PAPERBOT_CRASH_ROUNDS", "50"))
PAPERS_PER_ROUND = 4
ROUTES = """\
[[routes]]
name = "crash"
categories = ["cs.DC"]
accept = ["llm"]
max_posts_per_poll = 10000
"""


@pytest.fixture
def chat_service() -> Iterator[ChatService]:
    service = ChatService(post_delay=0.1).start()  # a slow chat widens the posting window
    yield service
    service.stop()


def start(
    tmp_path: Path, arxiv: FakeArxiv, chat: ChatService, level: str = "WARNING"
) -> subprocess.Popen[bytes]:
    env = env_for(
        tmp_path,
        arxiv.url,
        PAPERBOT_CHAT_PLUGIN="tests.fakes.webchat:create",
        TEST_CHAT_URL=chat.url,
        LOG_LEVEL=level,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def run_rounds(tmp_path: Path, arxiv: FakeArxiv, chat: ChatService, rounds: int, seed: int) -> int:
    """Kill `rounds` runs at random moments; returns how many papers were announced."""
    (tmp_path / "paperbot.toml").write_text(ROUTES, encoding="utf-8")
    rng = random.Random(seed)
    today = date.today()  # noqa: DTZ011 - the bot runs on the real clock here
    items: list[Item] = []
    for n in range(rounds):
        items += [
            Item(f"2611.{n:03d}{k:02d}", f"LLM paper {n}-{k}") for k in range(PAPERS_PER_ROUND)
        ]
        arxiv.serve("/rss/cs.DC", Answer(rss(today, items, "cs.DC")))
        proc = start(tmp_path, arxiv, chat)
        time.sleep(rng.uniform(0.3, 1.3))  # start-up takes ~0.5 s, posting ~0.4 s
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    return len(items)


def settle(tmp_path: Path, arxiv: FakeArxiv, chat: ChatService, expected: int) -> str:
    proc = start(tmp_path, arxiv, chat, level="INFO")
    assert proc.stderr is not None
    seen = b""
    while b"paperbot running" not in seen and proc.poll() is None:
        seen += proc.stderr.readline()  # ready: signal handlers are in place
    deadline = time.monotonic() + 60
    while len({p["paper_id"] for p in chat.posts()}) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, (seen + err).decode()
    return (seen + err).decode()


def test_sigkill_at_random_points_never_loses_or_doubles_a_post(
    tmp_path: Path, fake_arxiv: FakeArxiv, chat_service: ChatService
) -> None:
    seed = int(os.environ.get("PAPERBOT_CRASH_SEED", "20261128"))
    announced = run_rounds(tmp_path, fake_arxiv, chat_service, ROUNDS, seed)
    settle(tmp_path, fake_arxiv, chat_service, announced)
    per_paper = Counter(p["paper_id"] for p in chat_service.posts())
    assert len(per_paper) == announced, f"lost posts (seed {seed})"
    doubled = {pid: n for pid, n in per_paper.items() if n > 1}
    assert doubled == {}, f"posted twice (seed {seed})"
