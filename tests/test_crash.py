"""SIGKILL a real `paperbot run` while it works, again and again: every paper lands once.

Each round announces new papers on the local arXiv, starts `paperbot run` against a test chat
service that keeps its messages, and kills it with SIGKILL at a point a seeded RNG picks among
observable moments (`KILL_POINTS`). Nothing sleeps: every wait is on something the chat, the
fake arXiv or the process shows, with a deadline only a broken bot reaches. A last clean run
settles what is left; the chat must then hold exactly one message per paper.
Rounds: PAPERBOT_SOAK_ROUNDS (5 in `make test`, 200 in `make soak`); seed: PAPERBOT_SOAK_SEED.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import env_for
from tests.fakes.arxiv import Answer, FakeArxiv
from tests.fakes.feeds import Item, rss
from tests.fakes.webchat import ChatService

ROUNDS = int(os.environ.get("PAPERBOT_SOAK_ROUNDS", "5"))
SEED = int(os.environ.get("PAPERBOT_SOAK_SEED", "20261128"))
DEADLINE = 60.0  # seconds; a correct bot reaches every awaited moment long before this
PAPERS_PER_ROUND = 4
FEED = "/rss/cs.DC"
ROUTES = """\
[[routes]]
name = "crash"
categories = ["cs.DC"]
accept = ["llm"]
max_posts_per_poll = 1000
"""

# Where a round's process dies. `nth` counts requests of that round's process (1 <= nth <= the
# papers still missing from the chat, so a correct bot always gets there).
KILL_POINTS = {
    "fetched": "the fake arXiv has answered the listing feed (the poll is storing or posting)",
    "lookup": "the chat holds the nth find request unanswered (restart or pre-send lookup)",
    "dropped": "the chat holds the nth post request and never keeps its message",
    "kept": "the chat keeps the nth message but holds the answer: sent, ref never recorded",
    "answered": "the chat has answered the nth post (the ref may or may not be recorded)",
}
TRAPS = {"lookup": ("/find", False), "dropped": ("/post", False), "kept": ("/post", True)}


class Watch:
    """One condition that every observable event notifies: requests, log lines, exits."""

    def __init__(self) -> None:
        self.cond = threading.Condition()

    def poke(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def until(self, what: str, done: Callable[[], bool], run: Run | None = None) -> None:
        """Wait until `done()`; fail if the process exits first or the deadline passes."""
        exited = run.exited.is_set if run is not None else lambda: False
        with self.cond:
            self.cond.wait_for(lambda: done() or exited(), timeout=DEADLINE)
            if done():
                return
        log = "".join(run.lines) if run is not None else ""
        if exited():
            pytest.fail(f"paperbot exited while waiting for {what}:\n{log}")
        pytest.fail(f"gave up after {DEADLINE:.0f} s waiting for {what}:\n{log}")


@dataclass(frozen=True)
class Trap:
    path: str
    nth: int
    keep: bool  # let the chat keep the message before holding the answer
    release: threading.Event


class GatedChat(ChatService):
    """The test chat, counting each round's requests; it can hold one request unanswered."""

    def __init__(self, watch: Watch) -> None:
        super().__init__()
        self.watch = watch
        self._round = 0
        self._seen: Counter[str] = Counter()
        self._answered: Counter[str] = Counter()
        self._trap: Trap | None = None
        self.sprung = False

    def arm(self, path: str | None = None, nth: int = 0, keep: bool = False) -> None:
        """Start a round: counts from zero; hold the nth request to `path`, if given."""
        with self.watch.cond:
            self._round += 1
            self._seen.clear()
            self._answered.clear()
            self.sprung = False
            self._trap = Trap(path, nth, keep, threading.Event()) if path else None

    def release(self) -> None:
        """Let a held request finish (its client is dead by now)."""
        with self.watch.cond:
            trap, self._trap = self._trap, None
        if trap is not None:
            trap.release.set()

    def answered(self, path: str) -> int:
        return self._answered[path]

    def distinct(self) -> int:
        return len({p["paper_id"] for p in self.posts()})

    def doubled(self) -> dict[str, int]:
        per_paper = Counter(p["paper_id"] for p in self.posts())
        return {pid: n for pid, n in per_paper.items() if n > 1}

    def _app(self) -> web.Application:
        app = super()._app()

        @web.middleware
        async def gate(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            with self.watch.cond:
                this_round = self._round
                self._seen[request.path] += 1
                trap = self._trap
                if trap and (trap.path, trap.nth) != (request.path, self._seen[request.path]):
                    trap = None
            if trap is not None and not trap.keep:
                await self._hold(trap)
                return web.Response(status=503)
            response = await handler(request)
            if trap is not None:
                await self._hold(trap)
                return response
            with self.watch.cond:
                if self._round == this_round:
                    self._answered[request.path] += 1
                self.watch.cond.notify_all()
            return response

        app.middlewares.append(gate)
        return app

    async def _hold(self, trap: Trap) -> None:
        with self.watch.cond:
            self.sprung = True
            self.watch.cond.notify_all()
        await asyncio.to_thread(trap.release.wait, DEADLINE)


class WatchedArxiv(FakeArxiv):
    """The fake arXiv, counting answered listing-feed requests."""

    def __init__(self, watch: Watch) -> None:
        super().__init__()
        self.watch = watch
        self.feeds_answered = 0

    def _app(self) -> web.Application:
        app = super()._app()

        @web.middleware
        async def count(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            response = await handler(request)
            with self.watch.cond:
                self.feeds_answered += request.path == FEED
                self.watch.cond.notify_all()
            return response

        app.middlewares.append(count)
        return app


class Run:
    """A `paperbot run` process; its log lines and its exit notify the watch."""

    def __init__(
        self, tmp_path: Path, arxiv: FakeArxiv, chat: ChatService, watch: Watch, level: str
    ) -> None:
        env = env_for(
            tmp_path,
            arxiv.url,
            PAPERBOT_CHAT_PLUGIN="tests.fakes.webchat:create",
            TEST_CHAT_URL=chat.url,
            LOG_LEVEL=level,
        )
        self.watch = watch
        self.lines: list[str] = []
        self.exited = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._threads = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._wait, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self.watch.cond:
                self.lines.append(raw.decode(errors="replace"))
                self.watch.cond.notify_all()

    def _wait(self) -> None:
        self.proc.wait()
        self.exited.set()
        self.watch.poke()

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def stop(self, sig: signal.Signals) -> int:
        """Send `sig` and wait (bounded) for the exit and the last log line."""
        if not self.exited.is_set():
            self.proc.send_signal(sig)
        assert self.exited.wait(DEADLINE), f"paperbot ignored {sig.name}"
        for thread in self._threads:
            thread.join(DEADLINE)
        assert self.proc.returncode is not None
        return self.proc.returncode


def kill_points(rng: random.Random, rounds: int) -> list[str]:
    """Every kill point once in each block of len(KILL_POINTS) rounds, in a seeded order."""
    order: list[str] = []
    while len(order) < rounds:
        order += rng.sample(sorted(KILL_POINTS), len(KILL_POINTS))
    return order[:rounds]


def run_rounds(
    tmp_path: Path, arxiv: WatchedArxiv, chat: GatedChat, rounds: int, seed: int
) -> Counter[str]:
    """Kill `rounds` runs at seeded kill points; returns how often each point was used.

    Papers announced so far: `rounds * PAPERS_PER_ROUND`. Fails at once if a paper is posted
    twice, or if a run exits by itself or never reaches its kill point.
    """
    (tmp_path / "paperbot.toml").write_text(ROUTES, encoding="utf-8")
    rng = random.Random(seed)
    today = date.today()  # noqa: DTZ011 - the bot runs on the real clock here
    items: list[Item] = []
    used: Counter[str] = Counter()
    for n, point in enumerate(kill_points(rng, rounds)):
        items += [
            Item(f"2611.{n:03d}{k:02d}", f"LLM paper {n}-{k}") for k in range(PAPERS_PER_ROUND)
        ]
        arxiv.serve(FEED, Answer(rss(today, items, "cs.DC")))
        missing = len(items) - chat.distinct()
        nth = 1 + int(rng.random() * missing)  # one draw a round, whatever `missing` is
        name = f"round {n} (seed {seed})"
        used[point] += kill_round(tmp_path, arxiv, chat, name, point, nth, len(items))
        assert chat.doubled() == {}, f"round {n} ({point} #{nth}, seed {seed}): posted twice"
    return used


def kill_round(
    tmp_path: Path,
    arxiv: WatchedArxiv,
    chat: GatedChat,
    name: str,
    point: str,
    nth: int,
    total: int,
) -> bool:
    """Start a run and SIGKILL it at `point`; False if all `total` papers were posted first."""
    fed = arxiv.feeds_answered
    if point in TRAPS:
        path, keep = TRAPS[point]
        chat.arm(path, nth, keep)
    else:
        chat.arm()
    reached: Callable[[], bool] = {
        "fetched": lambda: arxiv.feeds_answered > fed,
        "answered": lambda: chat.answered("/post") >= nth,
    }.get(point, lambda: chat.sprung)
    run = Run(tmp_path, arxiv, chat, arxiv.watch, "WARNING")
    try:
        arxiv.watch.until(
            f"{name}: {point} #{nth}, {KILL_POINTS[point]}",
            # a bot that never asks (or doubles a post) ends the wait without its point
            lambda: reached() or chat.distinct() == total or bool(chat.doubled()),
            run,
        )
        return reached()
    finally:
        run.stop(signal.SIGKILL)
        chat.release()


def settle(tmp_path: Path, arxiv: WatchedArxiv, chat: GatedChat, expected: int) -> str:
    """A clean run posts what is left, then stops on SIGTERM with exit code 0."""
    chat.arm()
    run = Run(tmp_path, arxiv, chat, arxiv.watch, "INFO")
    try:
        arxiv.watch.until("paperbot running", lambda: run.logged("paperbot running"), run)
        arxiv.watch.until(
            f"{expected} papers in the chat", lambda: chat.distinct() >= expected, run
        )
    finally:
        code = run.stop(signal.SIGTERM)
    log = "".join(run.lines)
    assert code == 0, log
    return log


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def watched_arxiv(watch: Watch) -> Iterator[WatchedArxiv]:
    server = WatchedArxiv(watch)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def gated_chat(watch: Watch) -> Iterator[GatedChat]:
    service = GatedChat(watch)
    service.start()
    yield service
    service.release()
    service.stop()


def test_kill_points_cover_every_point_in_each_block() -> None:
    order = kill_points(random.Random(SEED), 2 * len(KILL_POINTS))
    assert sorted(order[: len(KILL_POINTS)]) == sorted(KILL_POINTS)
    assert sorted(order[len(KILL_POINTS) :]) == sorted(KILL_POINTS)


def test_sigkill_at_seeded_points_never_loses_or_doubles_a_post(
    tmp_path: Path, watched_arxiv: WatchedArxiv, gated_chat: GatedChat
) -> None:
    used = run_rounds(tmp_path, watched_arxiv, gated_chat, ROUNDS, SEED)
    announced = ROUNDS * PAPERS_PER_ROUND
    settle(tmp_path, watched_arxiv, gated_chat, announced)
    per_paper = Counter(p["paper_id"] for p in gated_chat.posts())
    assert len(per_paper) == announced, f"lost posts (seed {SEED})"
    assert gated_chat.doubled() == {}, f"posted twice (seed {SEED})"
    if len(KILL_POINTS) <= ROUNDS:  # every point was reached, not skipped by an idle bot
        assert set(used) == set(KILL_POINTS), used
