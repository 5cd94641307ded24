"""Votes acknowledged to Slack survive a SIGTERM while post updates are rate-limited.

The issue "Integrity under concurrency": with chat.update limited to 1 per second (as
Slack's tier is), 100 👍 were acknowledged to Slack, 16 were stored when SIGTERM came and 84
were lost, with exit 0. Slack never redelivers an acknowledged event, so a vote must be
stored before any chat I/O. This is the whole-process proof: a real `paperbot run`, the
fake Slack over Socket Mode, and the database read afterwards.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.slack import retry_handlers
from bot.clock import system_clock
from storage.store import Store
from tests.conftest import env_for
from tests.fakes.arxiv import Answer, FakeArxiv
from tests.fakes.feeds import Item, rss
from tests.fakes.slack_api import FakeSlack, event_payload, reaction_event

pytestmark = pytest.mark.slow  # whole processes: `make full` (and CI) run these

CHANNEL = "C0123456789"
FEED = "/rss/cs.DC"
ROUTES = f"""\
[[routes]]
name = "llm-systems"
categories = ["cs.DC"]
accept = ["llm"]
slack_channel = "{CHANNEL}"
"""
VOTERS = [f"U0VOTER{n:03d}" for n in range(1, 101)]
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")


@pytest.fixture
def slack_fake() -> Iterator[FakeSlack]:
    server = FakeSlack((CHANNEL,)).start()
    yield server
    server.stop()


def wait_for(
    check: Callable[[], object], what: str, proc: subprocess.Popen[bytes], log: Path
) -> None:
    """Until `check()` holds; a deadline only a broken build reaches."""
    deadline = time.monotonic() + 60
    while not check():
        assert proc.poll() is None, f"paperbot run stopped before {what}:\n{read(log)}"
        assert time.monotonic() < deadline, f"no {what} within 60 s:\n{read(log)}"
        time.sleep(0.02)


def read(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""


def test_every_acknowledged_vote_is_stored_when_sigterm_comes_during_rate_limited_updates(
    tmp_path: Path, fake_arxiv: FakeArxiv, slack_fake: FakeSlack
) -> None:
    (tmp_path / "paperbot.toml").write_text(ROUTES, encoding="utf-8")
    paper = Item("2611.00001", "Serving LLM inference at scale")
    today = date.today()  # noqa: DTZ011 - the bot runs on the real clock here
    fake_arxiv.serve(FEED, Answer(rss(today, [paper], "cs.DC")))
    slack_fake.limit("chat.update", calls=1, per=1.0)  # as Slack's tier: 429 + Retry-After
    env = env_for(
        tmp_path,
        fake_arxiv.url,
        SLACK_BOT_TOKEN="xoxb-test-bot-token-1234",
        SLACK_APP_TOKEN="xapp-test-app-token-5678",
        SLACK_API_URL=slack_fake.api_url,
        LOG_LEVEL="INFO",
    )
    for var in PROXY_VARS:
        env.pop(var, None)
    log = tmp_path / "paperbot.log"
    db = tmp_path / "paperbot.db"

    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_for(lambda: "paperbot running" in read(log), "start-up", proc, log)
        watching = Store.open(db, system_clock)
        try:

            def recorded() -> str | None:
                post = watching.get_post(paper.id, f"slack:{CHANNEL}")
                return post.ref if post is not None else None

            wait_for(recorded, "the post recorded", proc, log)
            ref = recorded()
            assert ref is not None
        finally:
            watching.close()

        async def react_all() -> list[str]:
            return [
                await slack_fake.push(
                    "events_api",
                    event_payload(reaction_event(user, "thumbsup", CHANNEL, ref), f"Ev{n:03d}"),
                )
                for n, user in enumerate(VOTERS, 1)
            ]

        envelopes = asyncio.run(react_all())
        wait_for(
            lambda: all(slack_fake.acked(e) for e in envelopes), "every envelope acked", proc, log
        )
        proc.terminate()  # SIGTERM, the moment Slack holds all 100 acknowledgements
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"paperbot run did not exit within 10 s of SIGTERM:\n{read(log)}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    output = read(log)
    assert code == 0, output
    assert "Traceback" not in output
    store = Store.open(db, system_clock)
    try:
        votes = {v.user: v.value for v in store.votes_for(paper.id)}
    finally:
        store.close()
    lost = sorted(f"slack:{u}" for u in VOTERS if f"slack:{u}" not in votes)
    assert not lost, f"{len(lost)} acknowledged vote(s) lost: {lost[:5]}...\n{output}"
    assert votes == {f"slack:{u}": 1 for u in VOTERS}


async def test_the_fake_answers_calls_over_a_rate_limit_with_429_and_retry_after() -> None:
    """The fake's `limit` the way Slack documents it, through the SDK paperbot uses: the call
    over the limit is answered 429 with Retry-After, not acted on, and sent again after
    the wait. The window is held still, so only the clock the test moves opens it."""
    fake = FakeSlack((CHANNEL,)).start()
    try:
        now = [100.0]
        fake.limit("chat.update", calls=1, per=1.0, clock=lambda: now[0])
        ts = fake.add_message(CHANNEL, text="old", user="UPAPERBOT1")
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            now[0] += seconds  # the time Slack asked for passes

        client = AsyncWebClient(
            token="xoxb-test-bot-token-1234",
            base_url=fake.api_url,
            retry_handlers=retry_handlers(sleep),
        )
        await client.chat_update(channel=CHANNEL, ts=ts, text="first")
        assert waits == []
        await client.chat_update(channel=CHANNEL, ts=ts, text="second")
        assert waits == [1]  # Retry-After: 1, waited out, then the call went through
        assert [c.args["text"] for c in fake.limited] == ["second"]
        assert [c.args["text"] for c in fake.calls_to("chat.update")] == [
            "first",
            "second",
            "second",
        ]
        (message,) = fake.history(CHANNEL)
        assert message["text"] == "second"
    finally:
        fake.stop()
