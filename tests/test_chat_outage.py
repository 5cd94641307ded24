"""Both chats running in a real `paperbot run`; Discord closes its gateway for good (4004).

The process must stop by itself with one sentence and a non-zero exit (so a supervisor
restarts it), and the restarted bot must post what was queued, once, on both chats.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import env_for
from tests.fakes.arxiv import Answer, FakeArxiv
from tests.fakes.discord_api import CHANNEL_ID, TOKEN, FakeDiscord
from tests.fakes.feeds import Item, rss
from tests.fakes.slack_api import FakeSlack

pytestmark = pytest.mark.slow  # `make full` (and CI) run these; `make test` stays fast

SLACK_CHANNEL = "C0123456789"
FEED = "/rss/cs.DC"
ROUTES = f"""\
[[routes]]
name = "llm-systems"
categories = ["cs.DC"]
accept = ["llm"]
slack_channel = "{SLACK_CHANNEL}"
discord_channel = "{CHANNEL_ID}"
"""


@pytest.fixture
def discord_fake() -> Iterator[FakeDiscord]:
    server = FakeDiscord().start()
    yield server
    server.stop()


@pytest.fixture
def slack_fake() -> Iterator[FakeSlack]:
    server = FakeSlack((SLACK_CHANNEL,)).start()
    yield server
    server.stop()


def wait_for(check: object, what: str, proc: subprocess.Popen[str], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert proc.poll() is None, f"paperbot run stopped before {what}"
        assert time.monotonic() < deadline, f"no {what} within {within:g} s"
        time.sleep(0.05)


def posted(discord: FakeDiscord, slack: FakeSlack, paper: str) -> tuple[int, int]:
    url = f"https://arxiv.org/abs/{paper}"
    on_discord = sum(
        1 for m in discord.channel_messages() if any(e.get("url") == url for e in m["embeds"])
    )
    on_slack = sum(1 for m in slack.history(SLACK_CHANNEL) if f"({paper})" in m.get("text", ""))
    return on_discord, on_slack


def test_a_gateway_closed_for_good_stops_the_bot_and_the_restart_loses_nothing(
    tmp_path: Path, fake_arxiv: FakeArxiv, discord_fake: FakeDiscord, slack_fake: FakeSlack
) -> None:
    (tmp_path / "paperbot.toml").write_text(ROUTES, encoding="utf-8")
    today = date.today()  # noqa: DTZ011 - the bot runs on the real clock here
    first, second = Item("2611.00001", "LLM paper one"), Item("2611.00002", "LLM paper two")
    fake_arxiv.serve(FEED, Answer(rss(today, [first], "cs.DC")))
    env = env_for(
        tmp_path,
        fake_arxiv.url,
        DISCORD_TOKEN=TOKEN,
        DISCORD_API_URL=discord_fake.api_url,
        DISCORD_GATEWAY_URL=discord_fake.gateway_url,
        DISCORD_GUILD_READY_TIMEOUT="0.1",
        SLACK_BOT_TOKEN="xoxb-test-bot-token-1234",
        SLACK_APP_TOKEN="xapp-test-app-token-5678",
        SLACK_API_URL=slack_fake.api_url,
        LOG_LEVEL="INFO",
    )
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env.pop(var, None)

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    proc = start()
    try:
        wait_for(lambda: posted(discord_fake, slack_fake, first.id) == (1, 1), "first post", proc)
        asyncio.run(discord_fake.close_gateway(4004, "Authentication failed."))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode != 0
    last = err.strip().splitlines()[-1]
    assert "Discord closed the gateway with code 4004: the token was refused" in last
    assert "Traceback" not in err
    assert TOKEN not in err

    # the supervisor restarts it; meanwhile arXiv announced another paper
    fake_arxiv.serve(FEED, Answer(rss(today, [first, second], "cs.DC")))
    proc = start()
    try:
        wait_for(lambda: posted(discord_fake, slack_fake, second.id) == (1, 1), "second post", proc)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert posted(discord_fake, slack_fake, first.id) == (1, 1)  # nothing posted twice
