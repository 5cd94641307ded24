"""SIGTERM and SIGINT stop every paperbot process within 10 s, whatever it is waiting for.

Real processes against the local arXiv, which hangs: it never answers, so only paperbot's
own bounds (the pace lock's wait, cancellation on a signal) can end the wait in time.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.chat.base import Chat, EventHandler
from bot.chat.console import ConsoleChat
from tests.conftest import env_for
from tests.fakes.arxiv import FakeArxiv, hanging

pytestmark = pytest.mark.slow  # `make full` (and CI) run these; `make test` stays fast

log = logging.getLogger(__name__)

DEADLINE = 30.0  # seconds; only a broken build reaches it
PROMISE = 10.0  # seconds from SIGTERM to exit, as docs/operations.md promises
BACKFILL = ["backfill", "--since", "2026-11-01", "--until", "2026-11-20"]


class Proc:
    """A `paperbot` process whose stderr is read line by line as it comes."""

    def __init__(self, tmp_path: Path, arxiv_url: str, *args: str, **env: str) -> None:
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            env=env_for(tmp_path, arxiv_url, ARXIV_TIMEOUT="120", **env),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    @property
    def log(self) -> str:
        with self.cond:
            return "".join(self.lines)

    def wait_for(self, text: str) -> None:
        with self.cond:
            self.cond.wait_for(
                lambda: text in "".join(self.lines) or not self.reader.is_alive(), DEADLINE
            )
        assert text in self.log, f"never logged {text!r}:\n{self.log}"

    def stop(self, sig: signal.Signals) -> tuple[int, float]:
        """Send `sig`; the exit status and the seconds it took to exit."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(DEADLINE)
            pytest.fail(f"still running {DEADLINE:.0f} s after {sig.name}:\n{self.log}")
        took = time.monotonic() - started
        self.reader.join(DEADLINE)
        return code, took


def wait_for_request(fake: FakeArxiv, path: str, count: int = 1) -> None:
    deadline = time.monotonic() + DEADLINE
    while len(fake.requests_to(path)) < count:
        assert time.monotonic() < deadline, f"no request to {path} arrived"
        time.sleep(0.02)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_backfill_on_a_hanging_api_stops_on_a_signal_and_says_how_to_resume(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path, sig: signal.Signals, code: int
) -> None:
    fake_arxiv.serve("/api/query", hanging())
    backfill = Proc(tmp_path, fake_arxiv.url, *BACKFILL)
    wait_for_request(fake_arxiv, "/api/query")  # it holds the pace lock, waiting on arXiv
    status, took = backfill.stop(sig)
    assert took < PROMISE
    assert status == code, backfill.log
    assert f"backfill stopped by {sig.name} after 0 papers" in backfill.log
    assert "run the same command again to resume" in backfill.log
    assert "Traceback" not in backfill.log


def test_run_waiting_for_the_pace_lock_a_backfill_holds_exits_within_ten_seconds(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    """The reported case: a backfill holds the arXiv pace on a hanging API; `run` waits."""
    fake_arxiv.serve("/api/query", hanging())
    fake_arxiv.serve("/rss/cs.DC+cs.OS", hanging())
    backfill = Proc(tmp_path, fake_arxiv.url, *BACKFILL)
    try:
        wait_for_request(fake_arxiv, "/api/query")
        run = Proc(tmp_path, fake_arxiv.url, "run")
        run.wait_for("waiting for the arXiv pace lock")  # the first poll queues behind it
        status, took = run.stop(signal.SIGTERM)
        assert took < PROMISE, run.log
        assert status == 0, run.log
        assert "paperbot stopped" in run.log
        assert fake_arxiv.requests_to("/rss/cs.DC+cs.OS") == []  # it never got the pace
    finally:
        status, took = backfill.stop(signal.SIGTERM)
    assert took < PROMISE and status == 143, backfill.log


class _ChatThatNeverConnects(ConsoleChat):
    async def start(self, handler: EventHandler) -> None:
        log.info("chat connecting")
        await asyncio.Event().wait()  # a platform that never answers the handshake


async def never_connects(settings: object) -> Chat:
    """PAPERBOT_CHAT_PLUGIN=tests.test_shutdown:never_connects"""
    return _ChatThatNeverConnects()


def test_run_stops_within_ten_seconds_while_start_up_hangs(
    tmp_path: Path, fake_arxiv: FakeArxiv, config_file: Path
) -> None:
    run = Proc(
        tmp_path,
        fake_arxiv.url,
        "run",
        PAPERBOT_CHAT_PLUGIN="tests.test_shutdown:never_connects",
    )
    run.wait_for("chat connecting")
    status, took = run.stop(signal.SIGTERM)
    assert took < PROMISE and status == 0, run.log
    assert "paperbot stopped" in run.log and "Traceback" not in run.log
