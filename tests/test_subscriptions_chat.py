"""Chat subscriptions on the real adapters: a subscriber is mentioned once per matching post,
in a thread reply (Slack, fake Web API) or a reply to the post (Discord, fake REST API)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import FakeClock
from tests.fakes.discord_api import CHANNEL_ID, FakeDiscord
from tests.fakes.slack_api import FakeSlack
from tests.test_discord import CHANNEL as DISCORD_CHANNEL
from tests.test_discord import World as DiscordWorld
from tests.test_slack import CHANNEL as SLACK_CHANNEL
from tests.test_slack import OTHER, PROXY_VARS
from tests.test_slack import World as SlackWorld


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack(channels=(SLACK_CHANNEL, OTHER)).start()
    yield server
    server.stop()


@pytest.fixture
def discord_fake() -> Iterator[FakeDiscord]:
    server = FakeDiscord().start()
    yield server
    server.stop()


@pytest.fixture
async def slack_world(
    tmp_path: Path, clock: FakeClock, slack: FakeSlack
) -> AsyncIterator[SlackWorld]:
    w = await SlackWorld(tmp_path, clock, slack).open()
    yield w
    await w.close()


async def test_slack_mentions_a_subscriber_once_in_the_posts_thread(
    slack_world: SlackWorld, slack: FakeSlack
) -> None:
    world = slack_world
    world.store.subscribe("slack:U0SUB", f"slack:{SLACK_CHANNEL}", "term:serving")
    world.store.subscribe("slack:U0ELSE", f"slack:{OTHER}", "term:serving")  # not this channel
    world.matched("2611.00002", "Serving LLMs <at> scale")
    world.matched("2611.00003", "Training LLMs")
    await world.app.poster.post_queued()
    assert world.app.notes is not None
    await world.app.notes.run()
    await world.app.notes.run()
    replies = [m for m in slack.history(SLACK_CHANNEL) if m.get("thread_ts")]
    assert [(m["thread_ts"], m["text"]) for m in replies] == [
        (world.ref("2611.00002"), "For <@U0SUB> (term:serving)")
    ]
    assert slack.history(OTHER) == []


async def test_discord_mentions_a_subscriber_once_in_a_reply_to_the_post(
    tmp_path: Path, clock: FakeClock, discord_fake: FakeDiscord
) -> None:
    world = DiscordWorld(tmp_path, clock, discord_fake)
    try:
        app = await world.boot()
        world.store.subscribe("discord:4242", DISCORD_CHANNEL, "term:serving")
        world.matched("2611.00002", "Serving LLMs @everyone")
        world.matched("2611.00003", "Training LLMs")
        await app.poster.post_queued()
        assert app.notes is not None
        await app.notes.run()
        await app.notes.run()
        replies = [m for m in discord_fake.messages[CHANNEL_ID] if m.get("message_reference")]
        assert len(replies) == 1
        (reply,) = replies
        assert reply["content"] == "For <@4242> (term:serving)"
        assert str(reply["message_reference"]["message_id"]) == world.ref("2611.00002")
        assert [int(u) for u in reply["x_allowed_mentions"]["users"]] == [4242]
        assert reply["x_allowed_mentions"]["parse"] == []
    finally:
        await world.stop()
        world.store.close()
