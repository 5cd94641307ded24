"""The Discord adapter: real discord.py against a local fake Discord, a real app on real
SQLite, and a real git repository for the list. Nothing inside discord.py is mocked.

Waits are bounded ("until the fake saw it, at most 10 s"), never sleeps.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import discord
import discord.gateway
import discord.http
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App, publish_in_thread, wire
from bot.chat.discord import (
    ACCEPT_ID,
    EMBED_LIMIT,
    REJECT_ID,
    USED_PERMISSIONS,
    DiscordChat,
    bot_permissions,
    create_discord,
    fetch_application_id,
    invite_url,
    render_embed,
    render_reply,
    split_text,
)
from bot.config import RulesSource, Settings
from bot.errors import ChatError
from bot.models import Incoming, Match, Outcome, Paper, PostView, Reason, Reply, ReplyItem
from bot.papers_command import CATALOGUE
from bot.posting import post_nonce
from storage.store import Store
from tests.conftest import FakeClock, env_for, examples, make_settings
from tests.fakes.discord_api import (
    ALICE,
    APP_ID,
    BOB,
    BOT_ID,
    CAROL,
    CHANNEL_ID,
    GUILD_ID,
    OTHER_BOT,
    OTHER_CHANNEL_ID,
    TOKEN,
    FakeDiscord,
    invalid_message,
    until,
)
from tests.fakes.git import git, local_repo

CHANNEL = f"discord:{CHANNEL_ID}"
ROUTES = f"""\
[[routes]]
name = "llm-systems"
categories = ["cs.DC", "cs.OS"]
accept = ["llm"]
discord_channel = "{CHANNEL_ID}"
[routes.votes]
accept_at = 2
reject_at = 2
expire_days = 7
[routes.list]
repo = "papers"
path = "papers.md"
"""
PAPER = "2611.00001"


@pytest.fixture(autouse=True)
def restore_discord_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter sets these process-wide class attributes; put them back after each test."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    server = FakeDiscord().start()
    yield server
    server.stop()


class World:
    """A team's setup: routes file, SQLite, a git work tree for the list, the fake Discord."""

    def __init__(self, tmp_path: Path, clock: FakeClock, fake: FakeDiscord) -> None:
        self.tmp_path = tmp_path
        self.clock = clock
        self.fake = fake
        self.config = tmp_path / "paperbot.toml"
        self.config.write_text(ROUTES, encoding="utf-8")
        self.repo = local_repo(tmp_path / "papers", {"papers.md": "# Papers\n"})
        self.db = tmp_path / "paperbot.db"
        self.store = Store.open(self.db, clock)
        self.settings = self.make_settings()
        self.chats: list[DiscordChat] = []
        self.chat: DiscordChat | None = None
        self.app: App | None = None

    def make_settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "discord_token": TOKEN,
            "discord_api_url": self.fake.api_url,
            "discord_gateway_url": self.fake.gateway_url,
            "discord_guild_ready_timeout": 0.1,
        }
        values.update(overrides)
        return make_settings(self.tmp_path, "http://unused", **values)

    async def boot(self, **kwargs: Any) -> App:
        """A fresh bot process: a new discord.py client and a new app on the same DB."""
        fetch = kwargs.pop("fetch", None)
        chat = DiscordChat(self.settings, **kwargs)
        self.app = wire(
            store=self.store,
            chats={"discord": chat},
            rules=RulesSource(self.config),
            clock=self.clock,
            publish=publish_in_thread(self.settings, self.clock),
            fetch=fetch,
        )
        await chat.start(self.app)
        self.chats.append(chat)
        self.chat = chat
        return self.app

    async def stop(self) -> None:
        for chat in self.chats:
            await chat.close()
        self.chats = []

    def matched(self, pid: str, title: str | None = None, **paper: Any) -> None:
        self.store.upsert_papers(
            [
                Incoming(
                    Paper(pid, title or f"LLM paper {pid}", **paper),
                    date(2026, 11, 24),
                    True,
                    "rss:x",
                )
            ]
        )
        self.store.add_matches(
            [Match(pid, "llm-systems", (Reason("llm", "title", "LLM"),))], "poll"
        )

    def ref(self, pid: str = PAPER) -> str:
        post = self.store.get_post(pid, CHANNEL)
        assert post is not None
        assert post.ref is not None
        return post.ref

    def votes(self, pid: str = PAPER) -> dict[str, int]:
        return {v.user: v.value for v in self.store.votes_for(pid)}

    def status(self, pid: str = PAPER) -> str | None:
        decision = self.store.decision(pid, "llm-systems")
        return decision.status if decision else None


@pytest.fixture
async def world(tmp_path: Path, clock: FakeClock, fake: FakeDiscord) -> AsyncIterator[World]:
    w = World(tmp_path, clock, fake)
    yield w
    await w.stop()
    w.store.close()


def embed_of(message: dict[str, Any]) -> dict[str, Any]:
    (embed,) = message["embeds"]
    return dict(embed)


def fields_of(message: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed_of(message).get("fields", [])}


def button_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


async def answer(fake: FakeDiscord, interaction_id: str) -> tuple[str, bool]:
    """The text the bot showed for an interaction, and whether only the asker saw it."""

    def said() -> list[dict[str, Any]]:
        return [r for r in fake.replies(interaction_id) if r.get("type") != 5]

    await until(lambda: bool(said()), f"an answer to interaction {interaction_id}")
    last = said()[-1]
    data = last.get("data", last)  # a callback wraps it in data; a follow-up does not
    return data.get("content", ""), bool(int(data.get("flags") or 0) & 64)


# --- posting -------------------------------------------------------------------------------


async def test_a_new_paper_is_one_message_with_its_embed_buttons_and_nonce(
    world: World, fake: FakeDiscord
) -> None:
    app = await world.boot()
    world.matched(
        PAPER,
        "Serving LLMs   fast\nwith a KV cache",
        authors=tuple(f"Author {i}" for i in range(12)),
        abstract="We serve *large* language models. " * 200,
        categories=("cs.DC", "cs.LG"),
        primary_category="cs.DC",
    )
    assert await app.poster.post_queued() == 1
    assert await app.poster.post_queued() == 0

    (message,) = fake.channel_messages()
    assert message["id"] == world.ref()
    assert message["author"]["id"] == BOT_ID
    embed = embed_of(message)
    assert embed["title"] == "Serving LLMs fast with a KV cache"
    assert embed["url"] == f"https://arxiv.org/abs/{PAPER}"
    assert embed["description"].startswith("We serve \\*large\\* language models.")
    assert len(embed["description"]) <= 1500
    assert embed["description"].endswith("…")
    fields = fields_of(message)
    assert fields["Authors"] == "Author 0, Author 1, Author 2, Author 3, Author 4 et al."
    assert fields["Categories"] == "cs.DC, cs.LG"
    assert fields["Why it matched"] == "• 'llm' in title: \"LLM\""
    assert fields["Votes"] == "👍 0 · 👎 0"
    assert fields["Status"] == "Pending"
    assert embed["footer"]["text"] == (
        f"arXiv:{PAPER} · llm-systems · Vote with a 👍/👎 reaction or the buttons."
    )
    assert button_ids(message) == [ACCEPT_ID, REJECT_ID]

    (create,) = fake.seen("POST", f"/channels/{CHANNEL_ID}/messages")
    assert create.body["nonce"] == post_nonce(PAPER, CHANNEL)
    assert create.body["enforce_nonce"] is True
    assert create.body["allowed_mentions"] == {"parse": []}
    # 👍 and 👎 under the post, so voting is one click
    await until(lambda: len(fake.reactions) == 2, "the bot's two reactions")
    assert [emoji for _, _, emoji in fake.reactions] == ["👍", "👎"]


async def test_a_retried_send_with_the_same_nonce_is_one_message(
    world: World, fake: FakeDiscord
) -> None:
    app = await world.boot()
    assert world.chat is not None
    world.matched(PAPER)
    view = app.poster.view(PAPER, CHANNEL)
    assert view is not None
    nonce = post_nonce(PAPER, CHANNEL)
    first = await world.chat.post_paper(CHANNEL_ID, view, nonce)
    again = await world.chat.post_paper(CHANNEL_ID, view, nonce)
    assert first == again
    assert len(fake.channel_messages()) == 1


async def test_a_429_on_message_create_is_waited_out_and_the_post_lands_once(
    world: World, fake: FakeDiscord
) -> None:
    app = await world.boot()
    world.matched(PAPER)
    fake.rate_limit_posts = 1
    assert await app.poster.post_queued() == 1
    assert len(fake.seen("POST", f"/channels/{CHANNEL_ID}/messages")) == 2
    (message,) = fake.channel_messages()
    assert world.ref() == message["id"]


async def test_a_send_whose_outcome_was_unknown_is_found_after_a_restart_not_sent_again(
    world: World, fake: FakeDiscord
) -> None:
    app = await world.boot()
    assert world.chat is not None
    world.matched(PAPER)
    world.matched("2611.00002")
    # crash: the intent was recorded and the message went out, but its id never was
    world.store.post_intent(PAPER, CHANNEL, ["llm-systems"])
    view = app.poster.view(PAPER, CHANNEL)
    assert view is not None
    sent = await world.chat.post_paper(CHANNEL_ID, view, post_nonce(PAPER, CHANNEL))
    # members talk a lot afterwards: the post is more than one history page back
    for n in range(130):
        fake.post_as(ALICE, f"chatter {n}")
    await world.stop()
    fake.forget_nonces()  # the restart comes later than Discord's nonce memory lasts

    app = await world.boot()
    await app.poster.reconcile()
    post = world.store.get_post(PAPER, CHANNEL)
    assert post is not None
    assert (post.state, post.ref) == ("sent", sent)
    await app.poster.post_queued()
    posts = [m for m in fake.channel_messages() if m["embeds"]]
    urls = sorted(embed_of(m)["url"] for m in posts)
    assert urls == [
        f"https://arxiv.org/abs/{PAPER}",
        "https://arxiv.org/abs/2611.00002",
    ]
    assert len(fake.seen("GET", f"/channels/{CHANNEL_ID}/messages")) >= 2  # it paged back


async def test_send_text_splits_long_text_and_pings_nobody(world: World, fake: FakeDiscord) -> None:
    await world.boot()
    assert world.chat is not None
    lines = [f"• @everyone paper {n} " + "x" * 80 for n in range(50)]
    await world.chat.send_text(CHANNEL_ID, "\n".join(lines))
    messages = fake.channel_messages()
    assert len(messages) == 3
    assert all(len(m["content"]) <= 2000 for m in messages)
    assert "\n".join(m["content"] for m in messages) == "\n".join(lines)
    creates = fake.seen("POST", f"/channels/{CHANNEL_ID}/messages")
    assert all(r.body["allowed_mentions"] == {"parse": []} for r in creates)


async def test_a_hostile_paper_still_posts(world: World, fake: FakeDiscord) -> None:
    app = await world.boot()
    world.matched(
        PAPER,
        "@everyone [click](https://evil.example) **bold** `code` " + "T" * 400,
        authors=tuple("A" * 300 for _ in range(40)),
        abstract="<@&123> ||spoiler|| ~~x~~ \\" * 900,
        categories=tuple(f"cs.X{i}" for i in range(200)),
    )
    assert await app.poster.post_queued() == 1
    (message,) = fake.channel_messages()
    assert invalid_message(message) == []
    assert len(embed_of(message)["title"]) <= 256


# --- votes ---------------------------------------------------------------------------------


async def test_reactions_and_buttons_decide_edit_the_post_and_publish_the_list(
    world: World, fake: FakeDiscord
) -> None:
    app = await world.boot()
    world.matched(PAPER, "Serving LLMs")
    await app.poster.post_queued()
    ref = world.ref()

    await fake.react(ref, ALICE, "👍🏽")  # any skin tone
    await until(lambda: world.votes() == {f"discord:{ALICE}": 1}, "Alice's reaction vote")
    assert world.status() is None

    clicked = await fake.click(ref, ACCEPT_ID, BOB)
    assert await answer(fake, clicked) == ("You voted to accept.", True)
    assert world.votes() == {f"discord:{ALICE}": 1, f"discord:{BOB}": 1}
    assert world.status() == "accepted"

    def shows(votes: str, status: str) -> bool:
        message = fake.message(ref)
        assert message is not None
        fields = fields_of(message)
        return fields["Votes"] == votes and fields["Status"].startswith(status)

    await until(lambda: shows("👍 2 · 👎 0", "Accepted"), "the post showing the acceptance")
    message = fake.message(ref)
    assert message is not None
    assert embed_of(message)["color"] == discord.Colour.green().value
    assert button_ids(message) == [ACCEPT_ID, REJECT_ID]  # votes may still change it

    (result,) = await app.decisions.publish_due()
    assert result.added == [PAPER]
    assert f"https://arxiv.org/abs/{PAPER}" in git(world.repo, "show", "HEAD:papers.md")
    assert "llm-systems" in git(world.repo, "log", "-1", "--format=%B")

    # Alice takes her thumb back: pending again, and the post says so
    await fake.react(ref, ALICE, "👍🏽", added=False)
    await until(lambda: world.status() == "pending", "the withdrawn vote")
    await until(lambda: shows("👍 1 · 👎 0", "Pending"), "the post showing pending")


async def test_a_final_decision_removes_the_buttons(world: World, fake: FakeDiscord) -> None:
    app = await world.boot()
    world.matched(PAPER)
    await app.poster.post_queued()
    await app.decisions.decide_by_hand(PAPER, Outcome.REJECTED, "discord:app")
    message = fake.message(world.ref())
    assert message is not None
    assert message["components"] == []
    assert fields_of(message)["Status"] == "Rejected (by discord:app)"
    assert embed_of(message)["color"] == discord.Colour.red().value


async def test_votes_on_a_post_made_before_a_restart_still_count(
    world: World, fake: FakeDiscord
) -> None:
    app = await world.boot()
    world.matched(PAPER)
    await app.poster.post_queued()
    ref = world.ref()
    await world.stop()

    await world.boot()  # a new client: the message is in no cache
    await fake.react(ref, ALICE, "👍")
    await until(lambda: world.votes() == {f"discord:{ALICE}": 1}, "the reaction after restart")
    clicked = await fake.click(ref, ACCEPT_ID, BOB)  # the persistent buttons answer too
    assert await answer(fake, clicked) == ("You voted to accept.", True)
    assert world.status() == "accepted"


async def test_the_bots_own_reactions_other_channels_and_redeliveries_change_nothing(
    world: World, fake: FakeDiscord
) -> None:
    app = await world.boot()
    world.matched(PAPER)
    await app.poster.post_queued()
    ref = world.ref()
    await until(lambda: len(fake.reactions) == 2, "the bot's own 👍 and 👎 (echoed back)")

    await fake.react(ref, BOT_ID, "👍", bot=True)
    await fake.react(ref, OTHER_BOT, "👍", bot=True)
    await fake.react(ref, ALICE, "👍", channel_id=OTHER_CHANNEL_ID)
    await fake.react("1300000000000000777", ALICE, "👍")  # not one of our posts
    await fake.react(ref, CAROL, "🎉")  # not a voting emoji
    other = await fake.click(ref, ACCEPT_ID, CAROL, channel_id=OTHER_CHANNEL_ID)
    assert await answer(fake, other) == ("This post does not take votes here.", True)
    for _ in range(3):  # a redelivered event counts once
        await fake.react(ref, ALICE, "👍")
    await fake.react(ref, BOB, "👍")  # the last event: once it counts, all before it ran
    await until(lambda: f"discord:{BOB}" in world.votes(), "Bob's vote")
    assert world.votes() == {f"discord:{ALICE}": 1, f"discord:{BOB}": 1}
    assert world.status() == "accepted"
    decisions = world.store.decision_history(PAPER)
    assert [d.status for d in decisions] == ["accepted"]


# --- /papers ---------------------------------------------------------------------------------


async def test_every_papers_subcommand_answers_with_the_right_papers(
    world: World, fake: FakeDiscord
) -> None:
    app = await world.boot()
    world.matched("2611.00001", "KV cache compression for LLM serving")
    world.matched("2611.00002", "Speculative decoding for LLMs")
    world.matched("2611.00003", "LLM agents on blockchains")
    await app.poster.post_queued()
    for user in (ALICE, BOB):
        await fake.react(world.ref("2611.00001"), user, "👍")
        await fake.react(world.ref("2611.00003"), user, "👎")
    await until(lambda: world.status("2611.00003") == "rejected", "the votes")
    world.store.upsert_papers(
        [Incoming(Paper("2611.00042", "A hand-picked paper"), None, False, "api:x")]
    )

    async def ask(sub: str, **options: int | str) -> tuple[str, bool]:
        return await answer(fake, await fake.slash(sub, options))

    text, private = await ask("recent", days=3)
    assert private
    assert text.startswith("Matched in the last 3 days: 3")
    assert "[KV cache compression for LLM serving](<https://arxiv.org/abs/2611.00001>)" in text

    text, _ = await ask("search", words="kv cache")
    assert "Search for 'kv cache': 1" in text
    assert "2611.00001" in text
    assert "2611.00002" not in text

    text, _ = await ask("accepted")
    assert text.startswith("Accepted in the last 7 days: 1")
    assert "2611.00001" in text

    text, _ = await ask("rejected", days=30)
    assert text.startswith("Rejected in the last 30 days: 1")
    assert "2611.00003" in text

    text, _ = await ask("pending")
    assert text.startswith("Pending: 1")
    assert "2611.00002" in text

    text, _ = await ask("stats")
    assert "3 posted; 1 accepted, 1 rejected" in text

    text, _ = await ask("why", paper="arXiv:2611.00001v2")
    assert "Route llm-systems: 'llm' in title" in text
    assert f"discord:{ALICE} +1" in text

    text, _ = await ask("status")
    assert "Posts pending: 0" in text

    text, _ = await ask("help")
    assert "Usage: /papers \\<command\\>" in text  # escaped: Discord shows <command>

    text, private = await ask("add", paper="2611.00042")
    assert text.startswith("Posted A hand-picked paper")
    assert not private  # the team sees who added it
    posted = [embed_of(m)["url"] for m in fake.channel_messages() if m["embeds"]]
    assert "https://arxiv.org/abs/2611.00042" in posted


async def test_bad_arguments_get_a_clear_private_reply(world: World, fake: FakeDiscord) -> None:
    await world.boot()

    async def ask(sub: str, **options: int | str) -> tuple[str, bool]:
        return await answer(fake, await fake.slash(sub, options))

    # Discord's client enforces the ranges; a forged or stale request is checked again
    assert await ask("recent", days=0) == ("0 is not a number of days from 1 to 365.", True)
    assert await ask("accepted", days=400) == ("400 is not a number of days from 1 to 365.", True)
    text, private = await ask("why", paper="not-an-id")
    assert (text, private) == (
        "'not-an-id' is not an arXiv id such as 2503.12228 or arXiv:2503.12228v2.",
        True,
    )
    text, _ = await ask("add", paper="2503.1")
    assert "is not an arXiv id" in text
    assert await ask("search", words="   ") == (
        "search needs words to look for, such as: kv cache",
        True,
    )
    assert await ask("frobnicate") == (
        "paperbot does not know that command (yet); try /papers help",
        True,
    )
    text, _ = await ask("why", paper="2611.09999")
    assert text.startswith("2611.09999 is not in the database")


async def test_a_slow_answer_is_deferred_then_followed_up(world: World, fake: FakeDiscord) -> None:
    release = asyncio.Event()

    async def fetch(paper_id: str) -> Paper | None:
        await release.wait()  # arXiv is slow today
        return Paper(paper_id, "Fetched from arXiv")

    await world.boot(defer_after=0.0, fetch=fetch)
    interaction = await fake.slash("add", {"paper": "2611.00077"})
    await until(lambda: bool(fake.replies(interaction)), "the deferral")
    (deferral,) = fake.replies(interaction)
    assert deferral["type"] == 5  # "paperbot is thinking…"
    assert int(deferral["data"]["flags"]) & 64
    release.set()

    text, private = await answer(fake, interaction)
    assert text.startswith("Posted Fetched from arXiv")
    assert not private
    # the private "thinking" answer made way for one everyone sees
    assert fake.deleted_originals == [f"token-{interaction}"]


async def test_commands_are_synced_to_the_setup_servers_or_globally(
    world: World, fake: FakeDiscord
) -> None:
    world.settings = world.make_settings(discord_guild_ids=[int(GUILD_ID)])
    await world.boot()
    await until(lambda: GUILD_ID in fake.commands, "the server's commands")
    (papers,) = fake.commands[GUILD_ID]
    assert papers["name"] == "papers"
    subcommands = [o["name"] for o in papers["options"]]
    assert subcommands == [spec.name for spec in CATALOGUE]  # one list: the catalogue
    days = papers["options"][0]["options"][0]
    assert (days["min_value"], days["max_value"]) == (1, 365)
    assert None not in fake.commands
    await world.stop()

    world.settings = world.make_settings()
    await world.boot()
    await until(lambda: None in fake.commands, "the global commands")
    await until(lambda: fake.commands.get(GUILD_ID) == [], "the setup copy cleared")


# --- start-up and channels ---------------------------------------------------------------------


async def test_check_channel_says_what_is_missing(world: World, fake: FakeDiscord) -> None:
    app = await world.boot()
    assert world.chat is not None
    await app.channels.check()  # the route's channel is fine
    fake.hidden[OTHER_CHANNEL_ID] = 404
    with pytest.raises(ChatError, match=f"cannot see Discord channel {OTHER_CHANNEL_ID}; invite"):
        await world.chat.check_channel(OTHER_CHANNEL_ID)
    fake.hidden[OTHER_CHANNEL_ID] = 403
    with pytest.raises(ChatError, match="View Channel, Send Messages"):
        await world.chat.check_channel(OTHER_CHANNEL_ID)
    fake.deny(CHANNEL_ID, 2048 | 16384)
    with pytest.raises(ChatError, match="lacks Send Messages, Embed Links in Discord channel"):
        await app.channels.check()
    with pytest.raises(ChatError, match="'general' is not a Discord channel id"):
        await world.chat.check_channel("general")


async def test_a_bad_token_at_start_up_is_one_clear_sentence(
    world: World, fake: FakeDiscord
) -> None:
    world.settings = world.make_settings(discord_token="not-the-token")
    with pytest.raises(ChatError) as caught:
        await world.boot()
    message = str(caught.value)
    assert message.startswith("Discord rejected DISCORD_TOKEN; copy the token")
    assert "not-the-token" not in message
    assert fake.seen("GET", "/users/@me")


async def test_an_empty_token_says_so(world: World) -> None:
    with pytest.raises(ChatError, match=r"^DISCORD_TOKEN is empty; put the bot's token in \.env"):
        await create_discord(world.make_settings(discord_token="  "))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_an_unreachable_gateway_is_reported_not_an_attribute_error(world: World) -> None:
    gateway = f"ws://127.0.0.1:{closed_port()}/"
    world.settings = world.make_settings(discord_gateway_url=gateway)
    with pytest.raises(ChatError) as caught:
        await world.boot()
    message = str(caught.value)
    assert message.startswith(f"could not connect to the Discord gateway at {gateway}: ")
    assert "Cannot connect to host" in message
    assert "NoneType" not in message


async def test_a_gateway_that_fails_after_the_first_look_is_reported_with_its_cause(
    world: World, fake: FakeDiscord
) -> None:
    fake.gateway_upgrades_left = 1  # the adapter's first look works, the real connect does not
    with pytest.raises(ChatError) as caught:
        await world.boot()
    message = str(caught.value)
    assert message.startswith(f"could not connect to the Discord gateway at {fake.gateway_url}: ")
    assert "503" in message
    assert "NoneType" not in message  # discord.py's own AttributeError is looked through


async def test_a_token_the_gateway_refuses_is_one_clear_sentence(
    world: World, fake: FakeDiscord
) -> None:
    fake.gateway_token = "revoked-meanwhile"
    with pytest.raises(ChatError, match=r"^Discord rejected DISCORD_TOKEN; copy the token"):
        await world.boot()


async def test_create_discord_builds_the_chat_with_the_intents_it_needs(world: World) -> None:
    chat = await create_discord(world.settings)
    assert chat.platform == "discord"
    intents = chat.client.intents
    assert (intents.guilds, intents.guild_reactions) == (True, True)
    assert not intents.message_content
    assert not intents.members
    await chat.close()


def test_paperbot_run_with_a_bad_token_exits_with_one_sentence(
    tmp_path: Path, fake: FakeDiscord
) -> None:
    (tmp_path / "paperbot.toml").write_text(
        f'[[routes]]\nname = "r"\ncategories = ["cs.DC"]\naccept = ["llm"]\n'
        f'discord_channel = "{CHANNEL_ID}"\n',
        encoding="utf-8",
    )
    env = env_for(
        tmp_path,
        "http://127.0.0.1:9",
        DISCORD_TOKEN="not-the-token",
        DISCORD_API_URL=fake.api_url,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        DISCORD_GUILD_READY_TIMEOUT="0.1",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Discord rejected DISCORD_TOKEN; copy the token" in done.stderr
    assert "Traceback" not in done.stderr
    assert "not-the-token" not in done.stderr


async def test_the_application_id_for_the_invite_is_read_with_the_token(
    world: World, fake: FakeDiscord
) -> None:
    assert await fetch_application_id(world.settings) == int(APP_ID)
    given_id = world.make_settings(discord_application_id=42, discord_token="not-the-token")
    assert await fetch_application_id(given_id) == 42
    with pytest.raises(ChatError, match=r"^Discord rejected DISCORD_TOKEN"):
        await fetch_application_id(world.make_settings(discord_token="not-the-token"))


def test_paperbot_run_connects_checks_its_channel_and_stops_cleanly(
    tmp_path: Path, fake: FakeDiscord
) -> None:
    (tmp_path / "paperbot.toml").write_text(
        f'[[routes]]\nname = "r"\ncategories = ["cs.DC"]\naccept = ["llm"]\n'
        f'discord_channel = "{CHANNEL_ID}"\n',
        encoding="utf-8",
    )
    env = env_for(
        tmp_path,
        "http://127.0.0.1:9",  # arXiv is unreachable: logged, and the bot keeps running
        DISCORD_TOKEN=TOKEN,
        DISCORD_API_URL=fake.api_url,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        DISCORD_GUILD_READY_TIMEOUT="0.1",
        LOG_LEVEL="INFO",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (fake.seen("GET", f"/channels/{CHANNEL_ID}") and None in fake.commands):
            assert proc.poll() is None, "paperbot run stopped early"
            assert time.monotonic() < deadline, "paperbot run did not connect within 30 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"connected to Discord as paperbot ({BOT_ID})" in err
    assert "Traceback" not in err
    assert TOKEN not in err
    identify = [f for f in fake.frames if f.get("op") == 2]
    assert len(identify) == 1
    assert identify[0]["d"]["intents"] == (1 << 0) | (1 << 10)  # guilds, guild reactions


# --- pure parts --------------------------------------------------------------------------------


def test_the_invite_url_asks_for_both_scopes_and_exactly_the_permissions_used() -> None:
    url = urlparse(invite_url(1300000000000000002))
    query = parse_qs(url.query)
    assert (url.netloc, url.path) == ("discord.com", "/oauth2/authorize")
    assert query["client_id"] == ["1300000000000000002"]
    assert query["scope"] == ["bot applications.commands"]
    # View Channel 1024 + Send Messages 2048 + Embed Links 16384 + Add Reactions 64
    # + Read Message History 65536
    assert query["permissions"] == ["85056"]


def test_the_setup_guide_names_the_same_permissions_the_invite_asks_for() -> None:
    guide = (Path(__file__).resolve().parents[1] / "docs" / "discord.md").read_text("utf-8")
    assert f"permissions integer {bot_permissions().value}" in guide
    for _, name in USED_PERMISSIONS:
        assert f"| {name} |" in guide


def test_render_reply_fits_one_message_and_says_how_many_are_left() -> None:
    items = tuple(
        ReplyItem(f"2611.{n:05d}", "Title ] with [brackets] " * 8, f"https://arxiv.org/abs/{n}")
        for n in range(50)
    )
    text = render_reply(Reply("Pending: 50", items))
    assert len(text) <= 2000
    assert text.startswith("Pending: 50\n- [Title \\] with \\[brackets\\]")
    assert text.splitlines()[-1].startswith("…and ")


hostile = st.text(min_size=0, max_size=3000)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=hostile,
    abstract=st.text(max_size=10_000),
    authors=st.lists(hostile, max_size=60),
    categories=st.lists(st.text(max_size=40), max_size=100),
    reasons=st.lists(st.tuples(hostile, st.text(max_size=30), hostile), max_size=40),
    note=hostile,
    routes=st.lists(st.text(max_size=200), min_size=1, max_size=20),
    status=st.sampled_from(["pending", "accepted", "rejected", "expired", "weird"]),
)
def test_any_paper_renders_within_discords_limits(
    title: str,
    abstract: str,
    authors: list[str],
    categories: list[str],
    reasons: list[tuple[str, str, str]],
    note: str,
    routes: list[str],
    status: str,
) -> None:
    paper = Paper(
        PAPER, title, abstract=abstract, authors=tuple(authors), categories=tuple(categories)
    )
    view = PostView(
        paper, tuple(routes), tuple(Reason(*r) for r in reasons), status, note, ups=3, downs=1
    )
    embed = render_embed(view)
    assert len(embed) <= EMBED_LIMIT
    assert invalid_message({"embeds": [embed.to_dict()]}) == []


@given(st.text(max_size=9000))
def test_split_text_keeps_every_line_in_pieces_that_fit(text: str) -> None:
    pieces = list(split_text(text))
    assert all(0 < len(p) <= 2000 for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())


# --- a bad day on Discord ----------------------------------------------------------------------


async def test_a_gateway_closed_for_good_mid_run_fails_the_chat_with_one_sentence(
    world: World, fake: FakeDiscord
) -> None:
    app = await world.boot()
    assert world.chat is not None
    await fake.close_gateway(4004, "Authentication failed.")  # the token was reset
    await until(world.chat.failed.is_set, "the chat to report it is dead")
    reason = str(world.chat.failed.reason)
    assert reason.startswith("Discord closed the gateway with code 4004: the token was refused")
    world.matched(PAPER)
    assert await app.poster.post_queued() == 0  # a ChatError, not "Session is closed"
    assert world.store.get_post(PAPER, CHANNEL) is not None  # kept for after the restart


async def test_a_rate_limit_over_a_minute_only_delays_the_post(
    world: World, fake: FakeDiscord
) -> None:
    app = await world.boot()
    world.matched(PAPER)
    fake.rate_limit_posts, fake.rate_limit_after, fake.rate_limit_scope = 1, 120.0, "shared"
    assert await app.poster.post_queued() == 0  # discord.RateLimited: retried later
    assert not fake.channel_messages()
    assert await app.poster.post_queued() == 1
    assert len(fake.channel_messages()) == 1


async def test_a_channel_the_bot_was_removed_from_is_set_aside_and_shown(
    world: World, fake: FakeDiscord
) -> None:
    app = await world.boot()
    world.matched(PAPER)
    fake.refusals[CHANNEL_ID] = (403, 50001, "Missing Access")
    await app.poster.post_queued()
    await app.poster.post_queued()
    assert len(fake.seen("POST", f"/channels/{CHANNEL_ID}/messages")) == 1  # not retried
    assert "out of the bot's reach" in world.store.channel_problems()[CHANNEL]


async def test_commands_are_for_servers_only_and_synced_only_when_changed(
    world: World, fake: FakeDiscord
) -> None:
    await world.boot()
    assert world.chat is not None and world.chat._sync is not None
    await world.chat._sync  # the first start's sync, guild writes included, is done
    await until(lambda: None in fake.commands, "the global commands")
    (papers,) = fake.commands[None]
    assert papers["contexts"] == [0]  # guild only: never offered in DMs
    assert papers["dm_permission"] is False
    await world.stop()
    puts = len(fake.seen("PUT", "/applications/"))
    await world.boot()  # a restart with the same commands
    assert world.chat is not None and world.chat._sync is not None
    assert await world.chat._sync is True
    assert len(fake.seen("PUT", "/applications/")) == puts  # no write at all
    await world.chat.sync_commands()  # `paperbot discord sync` forces it
    assert len(fake.seen("PUT", "/applications/")) == puts + 1


async def test_cleared_reactions_withdraw_their_votes_and_super_reactions_count_once(
    world: World, fake: FakeDiscord
) -> None:
    app = await world.boot()
    world.matched(PAPER)
    await app.poster.post_queued()
    ref = world.ref()
    await fake.react(ref, ALICE, "👍")
    await fake.react(ref, ALICE, "👍", burst=True)  # a super reaction: the same one vote
    await fake.react(ref, BOB, "👎")
    await until(lambda: world.votes() == {f"discord:{ALICE}": 1, f"discord:{BOB}": -1}, "votes")
    await fake.react(ref, ALICE, "👍", added=False)  # the super reaction still stands
    await fake.react(ref, CAROL, "👍", bot=True)  # a bot's reaction: never a vote
    await fake.clear_reactions(ref, "👎")  # a moderator clears every 👎
    await until(lambda: f"discord:{BOB}" not in world.votes(), "the cleared 👎")
    assert world.votes() == {f"discord:{ALICE}": 1}
    await fake.clear_reactions(ref)
    await until(lambda: world.votes() == {}, "every reaction cleared")


async def test_reactions_made_while_the_bot_was_down_count_after_the_restart(
    world: World, fake: FakeDiscord
) -> None:
    app = await world.boot()
    world.matched(PAPER)
    await app.poster.post_queued()
    ref = world.ref()
    await fake.react(ref, ALICE, "👍")
    await until(lambda: world.votes() == {f"discord:{ALICE}": 1}, "Alice's vote")
    await world.stop()
    fake.keep_reaction(CHANNEL_ID, ref, "👍", BOB)  # while the bot is down
    fake.keep_reaction(CHANNEL_ID, ref, "👍", ALICE, added=False)
    fake.keep_reaction(CHANNEL_ID, ref, "👍", CAROL, burst=True)
    app = await world.boot()
    assert await app.decisions.reconcile_votes() == 3
    assert world.votes() == {f"discord:{BOB}": 1, f"discord:{CAROL}": 1}
    assert world.status() == "accepted"


def test_paper_text_is_inert_in_every_message() -> None:
    title = (
        "[arXiv:2611.00515](https://evil.example/login) and [b](https://x.example) <@1> @everyone"
    )
    reply = render_reply(Reply(f"Posted {title} <https://arxiv.org/abs/2611.00515>", ()))
    assert "](https" not in reply.replace("\\](https", "")
    assert "\\[b\\]" in reply and "\\<\\@1\\>" in reply and "\\@everyone" in reply
    assert "<https://arxiv.org/abs/2611.00515>" in reply
    embed = render_embed(PostView(Paper("2611.00515", title), ("r",), ()))
    assert embed.title is not None and "\\[b\\]" in embed.title


def test_paperbot_discord_sync_registers_the_commands(tmp_path: Path, fake: FakeDiscord) -> None:
    (tmp_path / "paperbot.toml").write_text(
        f'[[routes]]\nname = "r"\ncategories = ["cs.DC"]\naccept = ["llm"]\n'
        f'discord_channel = "{CHANNEL_ID}"\n',
        encoding="utf-8",
    )
    env = env_for(
        tmp_path,
        "http://127.0.0.1:9",
        DISCORD_TOKEN=TOKEN,
        DISCORD_API_URL=fake.api_url,
        DISCORD_GATEWAY_URL=fake.gateway_url,
    )
    for _ in range(2):  # forced: it writes even when nothing changed
        done = subprocess.run(
            [sys.executable, "-m", "bot", "discord", "sync"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    assert len(fake.seen("PUT", f"/applications/{APP_ID}/commands")) == 2
