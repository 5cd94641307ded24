"""The Slack adapter with real slack-bolt/slack_sdk against a local fake Slack.

Nothing inside the libraries is replaced: the adapter's own `AsyncWebClient` talks HTTP to
`tests.fakes.slack_api.FakeSlack`, Socket Mode runs over a real websocket, HTTP mode is a
real aiohttp server on 127.0.0.1. The core is real too: a SQLite store in tmp_path, the
`Curator`, and (for publishing) git repositories in tmp_path.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import paperlist
from bot.app import App, publish_in_thread, wire
from bot.chat.slack import (
    ACCEPT_ACTION,
    REJECT_ACTION,
    SlackChat,
    create_slack,
    post_blocks,
    render_reply,
    render_text,
)
from bot.config import RulesSource, Settings
from bot.errors import ChatError
from bot.models import (
    CommandEvent,
    Incoming,
    Match,
    Paper,
    PostView,
    Reason,
    Reply,
    ReplyItem,
    VoteEvent,
)
from bot.posting import post_nonce
from storage.store import Store
from tests.conftest import FakeClock, env_for, examples, make_settings
from tests.fakes.git import bare_remote, clone, git
from tests.fakes.slack_api import (
    BOT_USER_ID,
    FakeSlack,
    block_actions,
    event_payload,
    reaction_event,
    sign,
    slash_command,
    until,
)

CHANNEL = "C0123456789"  # the route's channel
OTHER = "C0OTHER0001"  # a channel the bot is in that no route uses
HIDDEN = "C0HIDDEN001"  # a channel the bot was never invited to
ROUTE = "llm-systems"
BOT_TOKEN = "xoxb-test-bot-token-1234"
APP_TOKEN = "xapp-test-app-token-5678"
SECRET = "test-signing-secret"
DAY = date(2026, 11, 24)
ROUTES_TOML = f"""\
[[routes]]
name = "{ROUTE}"
categories = ["cs.DC", "cs.OS"]
accept = ["llm"]
slack_channel = "{CHANNEL}"
[routes.votes]
accept_at = 2
reject_at = 2
[routes.list]
repo = "work"
path = "papers.md"
branch = "main"
remote = "origin"
"""
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


# --- the world: fake Slack, real store, real app, the adapter --------------------------


class Recorder:
    """The EventHandler the chat sees: the real app, remembering what it was handed."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.votes: list[tuple[VoteEvent, str | None]] = []
        self.commands: list[tuple[CommandEvent, Reply]] = []

    async def on_vote(self, event: VoteEvent) -> str | None:
        said = await self.app.on_vote(event)
        self.votes.append((event, said))
        return said

    async def on_command(self, event: CommandEvent) -> Reply:
        reply = await self.app.on_command(event)
        self.commands.append((event, reply))
        return reply

    async def on_votes_changed(self, channel: str, ref: str) -> None:
        await self.app.on_votes_changed(channel, ref)


class World:
    def __init__(self, tmp_path: Path, clock: FakeClock, fake: FakeSlack, **overrides: Any):
        self.fake = fake
        self.clock = clock
        config = tmp_path / "paperbot.toml"
        if not config.exists():
            config.write_text(ROUTES_TOML, encoding="utf-8")
        values: dict[str, Any] = {
            "slack_bot_token": BOT_TOKEN,
            "slack_app_token": APP_TOKEN,
            "slack_api_url": fake.api_url,
        }
        values.update(overrides)
        self.settings: Settings = make_settings(tmp_path, "http://127.0.0.1:9", **values)
        self.store = Store.open(self.settings.paperbot_db, clock)
        self.sleeps: list[float] = []
        self.chat: SlackChat
        self.app: App
        self.events: Recorder

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)  # Retry-After waits are recorded, not slept

    async def open(self, *, start: bool = True) -> World:
        self.chat = await create_slack(self.settings, sleep=self._sleep)
        self.app = wire(
            store=self.store,
            chats={"slack": self.chat},
            rules=RulesSource(self.settings.paperbot_config),
            clock=self.clock,
            publish=publish_in_thread(self.settings, self.clock),
        )
        self.events = Recorder(self.app)
        if start:
            await self.chat.start(self.events)
        return self

    async def close(self) -> None:
        await self.chat.close()
        self.store.close()

    def matched(self, pid: str, title: str, **paper: Any) -> None:
        fields: dict[str, Any] = {
            "authors": ("Ada Lovelace", "Bob Kahn", "Cy Young", "Di Sun"),
            "abstract": "We serve large language models faster.",
            "categories": ("cs.DC", "cs.LG"),
            "primary_category": "cs.DC",
        }
        fields.update(paper)
        self.store.upsert_papers([Incoming(Paper(pid, title, **fields), DAY, True, "rss:x")])
        self.store.add_matches([Match(pid, ROUTE, (Reason("llm", "title", "LLMs"),))], "poll")

    def ref(self, pid: str) -> str:
        post = self.store.get_post(pid, f"slack:{CHANNEL}")
        assert post is not None
        assert post.ref is not None
        return post.ref

    def status(self, pid: str) -> str | None:
        decision = self.store.decision(pid, ROUTE)
        return decision.status if decision else None

    def votes(self, pid: str) -> dict[str, int]:
        return {v.user: v.value for v in self.store.votes_for(pid)}


@pytest.fixture(autouse=True)
def _no_proxy_or_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk takes HTTP(S)_PROXY from the environment: keep a developer's proxy out."""
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    for var in ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_CLIENT_ID"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(channels=(CHANNEL, OTHER), not_member=(HIDDEN,)).start()
    yield server
    server.stop()


@pytest.fixture
async def world(tmp_path: Path, clock: FakeClock, fake: FakeSlack) -> AsyncIterator[World]:
    w = await World(tmp_path, clock, fake).open()
    yield w
    await w.close()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """The team's list repository (bare) and paperbot's clone of it at tmp_path/work."""
    bare = bare_remote(
        tmp_path / "remote.git",
        {
            "papers.md": paperlist.WARNING
            + "\n\n### 2026-11-23\n\n* [An Older Paper](https://arxiv.org/abs/2611.00001)\n\n\n"
        },
    )
    clone(bare, tmp_path / "work")
    return bare


def message(fake: FakeSlack, ts: str, channel: str = CHANNEL) -> dict[str, Any]:
    (found,) = [m for m in fake.history(channel) if m["ts"] == ts]
    return found


def block_types(msg: dict[str, Any]) -> list[str]:
    return [b["type"] for b in msg.get("blocks", [])]


def texts(msg: dict[str, Any]) -> list[str]:
    """Every piece of mrkdwn text in a message: top-level, sections, context elements."""
    found = [msg.get("text", "")]
    for block in msg.get("blocks", []):
        if block["type"] == "section":
            found.append(block["text"]["text"])
        elif block["type"] == "context":
            found += [e["text"] for e in block["elements"]]
    return found


async def react(fake: FakeSlack, event_id: str, user: str, name: str, ts: str, **kw: Any) -> str:
    channel = kw.pop("channel", CHANNEL)
    retry = kw.pop("retry_attempt", 0)
    event = reaction_event(user, name, channel, ts, **kw)
    return await fake.push("events_api", event_payload(event, event_id), retry_attempt=retry)


# --- posting ---------------------------------------------------------------------------------


async def test_a_new_paper_is_posted_once_with_title_link_reasons_buttons_and_metadata(
    world: World, fake: FakeSlack
) -> None:
    world.matched("2611.00002", "Serving LLMs at Scale")
    assert await world.app.poster.post_queued() == 1
    assert await world.app.poster.post_queued() == 0

    (call,) = fake.calls_to("chat.postMessage")
    assert call.token_type == "bot"
    args = call.args
    assert args["channel"] == CHANNEL
    assert args["unfurl_links"] is False
    assert args["unfurl_media"] is False
    assert args["metadata"] == {
        "event_type": "paperbot_paper",
        "event_payload": {"arxiv_id": "2611.00002", "routes": [ROUTE]},
    }
    assert "Serving LLMs at Scale" in args["text"]
    blocks = args["blocks"]
    assert [b["type"] for b in blocks] == [
        "section",
        "context",
        "section",
        "section",
        "context",
        "actions",
    ]
    assert blocks[0]["text"]["text"] == "*<https://arxiv.org/abs/2611.00002|Serving LLMs at Scale>*"
    byline = blocks[1]["elements"][0]["text"]
    assert byline == (
        "Ada Lovelace, Bob Kahn, Cy Young, Di Sun · cs.DC, cs.LG · arXiv:2611.00002 · " + ROUTE
    )
    assert blocks[2]["text"]["text"] == "*Why it matched:*\n• 'llm' in title: \"LLMs\""
    assert blocks[3]["text"]["text"] == "We serve large language models faster."
    assert "👍 0 · 👎 0" in blocks[4]["elements"][0]["text"]
    buttons = blocks[5]["elements"]
    assert [(b["action_id"], b["value"], b["text"]["text"]) for b in buttons] == [
        (ACCEPT_ACTION, "2611.00002", "Accept"),
        (REJECT_ACTION, "2611.00002", "Reject"),
    ]
    (posted,) = fake.history(CHANNEL)
    assert world.ref("2611.00002") == posted["ts"]


async def test_a_rate_limited_post_waits_out_retry_after_and_lands_once(
    world: World, fake: FakeSlack
) -> None:
    fake.fail("chat.postMessage", retry_after=7)
    world.matched("2611.00002", "Serving LLMs")
    assert await world.app.poster.post_queued() == 1
    assert len(fake.calls_to("chat.postMessage")) == 2  # the 429, then the post
    assert world.sleeps == [7.0]
    (posted,) = fake.history(CHANNEL)
    assert world.ref("2611.00002") == posted["ts"]


async def test_a_post_that_keeps_failing_stays_queued_and_goes_out_later(
    world: World, fake: FakeSlack
) -> None:
    fake.fail("chat.postMessage", retry_after=1, times=4)  # the first try and 3 retries
    world.matched("2611.00002", "Serving LLMs")
    assert await world.app.poster.post_queued() == 0
    assert world.sleeps == [1.0, 1.0, 1.0]
    assert fake.history(CHANNEL) == []
    assert [m.paper_id for m in world.store.queued_matches()] == ["2611.00002"]
    assert await world.app.poster.post_queued() == 1
    assert len(fake.history(CHANNEL)) == 1


async def test_hostile_text_is_escaped_and_a_huge_abstract_fits_slacks_limits(
    world: World, fake: FakeSlack
) -> None:
    title = "<!channel> LLMs & <b>you</b> > them"
    world.matched("2611.00002", title, abstract="<&> " * 2500, authors=("<@U0BOSS>",))
    assert await world.app.poster.post_queued() == 1  # the fake refuses a section over 3000
    (posted,) = fake.history(CHANNEL)
    sections = [b["text"]["text"] for b in posted["blocks"] if b["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    assert "&lt;!channel&gt; LLMs &amp; &lt;b&gt;you&lt;/b&gt; &gt; them" in sections[0]
    for text in texts(posted):
        assert "<!" not in text
        assert "<@" not in text
    # digests and notices: the core's <url> links survive, a hostile title does not ping
    await world.app.digests.send_digest(ROUTE)
    digest = fake.history(CHANNEL)[-1]["text"]
    assert "&lt;!channel&gt; LLMs &amp;" in digest
    assert "<https://arxiv.org/abs/2611.00002|" in digest  # the digest's own link
    assert "<!channel>" not in digest


# --- votes over Socket Mode -----------------------------------------------------------------


async def test_reactions_and_buttons_decide_update_the_post_and_publish_the_list(
    world: World, fake: FakeSlack, remote: Path
) -> None:
    world.matched("2611.00002", "Serving LLMs at Scale")
    world.matched("2611.00003", "LLM Sharding Folklore")
    assert await world.app.poster.post_queued() == 2
    good, bad = world.ref("2611.00002"), world.ref("2611.00003")
    assert fake.hellos == 1

    # reactions: thumbsup, and +1 with a skin tone, from two people
    first = await react(fake, "Ev1", "U0ALICE01", "thumbsup", good)
    await until(lambda: world.votes("2611.00002") == {"slack:U0ALICE01": 1}, "the first vote")
    second = await react(fake, "Ev2", "U0BOB0001", "+1::skin-tone-4", good)
    await until(lambda: world.status("2611.00002") == "accepted", "the paper to be accepted")

    def accepted_shown() -> bool:
        msg = message(fake, good)
        return any("✅ *Accepted (by votes)*" in t for t in texts(msg))

    await until(accepted_shown, "chat.update to show the decision")
    shown = message(fake, good)
    assert "actions" in block_types(shown)  # votes may still change it until it expires
    assert any("👍 2 · 👎 0" in t for t in texts(shown))
    assert shown["metadata"]["event_payload"]["arxiv_id"] == "2611.00002"
    update = fake.calls_to("chat.update")[-1].args
    assert (update["channel"], update["ts"]) == (CHANNEL, good)

    # buttons: two Reject clicks; each voter gets an ephemeral confirmation
    clicks = [
        await fake.push(
            "interactive",
            block_actions(user, CHANNEL, bad, REJECT_ACTION, "2611.00003", fake.response_url(user)),
        )
        for user in ("U0ALICE01", "U0CAROL01")
    ]
    await until(lambda: world.status("2611.00003") == "rejected", "the paper to be rejected")
    await until(lambda: len(fake.ephemerals) == 2, "two confirmations")
    assert sorted((e["user"], e["channel"], e["text"]) for e in fake.ephemerals) == [
        ("U0ALICE01", CHANNEL, "You voted to reject."),
        ("U0CAROL01", CHANNEL, "You voted to reject."),
    ]
    votes = world.store.votes_for("2611.00003")
    assert {(v.user, v.value, v.cast_by) for v in votes} == {
        ("slack:U0ALICE01", -1, "button"),
        ("slack:U0CAROL01", -1, "button"),
    }
    await until(
        lambda: any("❌ *Rejected (by votes)*" in t for t in texts(message(fake, bad))),
        "the rejection shown",
    )
    for envelope in (first, second, *clicks):
        await until(lambda e=envelope: fake.acked(e), f"the ack of {envelope}")  # type: ignore[misc]

    # publishing: one commit on the real remote holds the accepted paper, not the rejected one
    results = await world.app.decisions.publish_due()
    assert [r.added for r in results] == [["2611.00002"]]
    listed = git(remote, "show", "main:papers.md")
    assert "* [Serving LLMs at Scale](https://arxiv.org/abs/2611.00002)" in listed
    assert "2611.00003" not in listed
    assert git(remote, "log", "-1", "--format=%an", "main").strip() == "paperbot"


async def test_redelivered_own_and_foreign_reactions_change_nothing(
    world: World, fake: FakeSlack
) -> None:
    world.matched("2611.00002", "Serving LLMs")
    await world.app.poster.post_queued()
    ts = world.ref("2611.00002")

    await react(fake, "Ev1", "U0ALICE01", "thumbsup", ts)
    await until(lambda: len(world.events.votes) == 1, "the vote")
    await react(fake, "Ev2", "U0ALICE01", "thumbsup", ts, added=False)
    await until(lambda: len(world.events.votes) == 2, "the withdrawal")
    assert world.votes("2611.00002") == {}

    ignored = [
        await react(fake, "Ev1", "U0ALICE01", "thumbsup", ts, retry_attempt=1),  # redelivery
        await react(fake, "Ev3", BOT_USER_ID, "thumbsup", ts),  # the bot's own reaction
        await react(fake, "Ev4", "U0BOB0001", "thumbsup", ts, channel=OTHER),  # another channel
        await react(fake, "Ev5", "U0BOB0001", "tada", ts),  # not a voting emoji
        await react(fake, "Ev6", "U0BOB0001", "thumbsup", ts, item_type="file"),  # not a message
    ]
    for envelope in ignored:
        await until(lambda e=envelope: fake.acked(e), f"the ack of {envelope}")  # type: ignore[misc]
    # a last, real vote: once it is counted, the ones before it have been handled
    await react(fake, "Ev7", "U0CAROL01", "-1", ts)
    await until(
        lambda: any(e.signal.user == "slack:U0CAROL01" for e, _ in world.events.votes),
        "the last vote to be handled",
    )
    assert world.votes("2611.00002") == {"slack:U0CAROL01": -1}

    seen = [(e.channel, e.signal.user, e.signal.added, said) for e, said in world.events.votes]
    assert sorted(seen, key=str) == sorted(
        [
            (f"slack:{CHANNEL}", "slack:U0ALICE01", True, "You voted to accept."),
            (f"slack:{CHANNEL}", "slack:U0ALICE01", False, "Your vote is withdrawn."),
            (f"slack:{OTHER}", "slack:U0BOB0001", True, None),
            (f"slack:{CHANNEL}", "slack:U0CAROL01", True, "You voted to reject."),
        ],
        key=str,
    )
    assert world.status("2611.00002") is None


# --- /papers --------------------------------------------------------------------------------


async def test_papers_commands_answer_through_response_url_and_are_all_acked(
    world: World, fake: FakeSlack
) -> None:
    world.matched("2611.00002", "Serving LLMs at Scale")
    world.matched("2611.00003", "Speculative decoding for LLM inference")
    await world.app.poster.post_queued()

    asked = {
        "recent": "recent",
        "search": "search scale",  # in one title only (every abstract says "serve")
        "pending": "pending",
        "why": "why 2611.00003",
        "help": "help",
        "garbage": "frobnicate --now",
    }
    envelopes = {
        key: await fake.push(
            "slash_commands",
            slash_command(text, "U0ALICE01", CHANNEL, fake.response_url(key)),
        )
        for key, text in asked.items()
    }
    for key in asked:
        await until(lambda k=key: fake.responses_to(k), f"the answer to {key}")  # type: ignore[misc]
    answers = {key: fake.responses_to(key)[0] for key in asked}

    for key, envelope in envelopes.items():
        await until(lambda e=envelope: fake.acked(e), f"the ack of {key}")  # type: ignore[misc]
        (ack,) = fake.acked(envelope)
        assert ack == {"envelope_id": envelope}, key
        assert answers[key]["response_type"] == "ephemeral", key
    a = "<https://arxiv.org/abs/2611.00002|Serving LLMs at Scale>"
    b = "<https://arxiv.org/abs/2611.00003|Speculative decoding for LLM inference>"
    assert a in answers["recent"]["text"]
    assert b in answers["recent"]["text"]
    assert a in answers["search"]["text"]
    assert b not in answers["search"]["text"]
    assert answers["pending"]["text"].startswith("Pending: 2")
    assert "(waiting for votes)" in answers["pending"]["text"]
    why = answers["why"]["text"]
    assert why.startswith(
        "Speculative decoding for LLM inference <https://arxiv.org/abs/2611.00003>"
    )
    assert "Route llm-systems: 'llm' in title" in why
    assert answers["help"]["text"].startswith("Usage: /papers &lt;command&gt;")
    garbage = answers["garbage"]["text"]
    assert garbage.startswith("'frobnicate' is not a command.")
    assert "Usage: /papers" in garbage
    assert [e.channel for e, _ in world.events.commands] == [f"slack:{CHANNEL}"] * 6
    assert {e.user for e, _ in world.events.commands} == {"slack:U0ALICE01"}


# --- HTTP mode ------------------------------------------------------------------------------


async def test_http_mode_handles_signed_requests_and_refuses_bad_or_stale_ones(
    tmp_path: Path, clock: FakeClock, fake: FakeSlack
) -> None:
    world = await World(
        tmp_path,
        clock,
        fake,
        slack_mode="http",
        slack_app_token=None,
        slack_signing_secret=SECRET,
        slack_http_port=0,
    ).open()
    try:
        assert world.chat.http_url is not None
        assert world.chat.http_url.startswith("http://127.0.0.1:")
        assert fake.calls_to("apps.connections.open") == []
        world.matched("2611.00002", "Serving LLMs")
        await world.app.poster.post_queued()
        ts = world.ref("2611.00002")

        async with aiohttp.ClientSession() as http:

            async def send(body: str, headers: dict[str, str], kind: str) -> int:
                headers = {**headers, "Content-Type": kind}
                async with http.post(world.chat.http_url or "", data=body, headers=headers) as r:
                    return r.status

            json_type = "application/json"
            event = json.dumps(
                event_payload(reaction_event("U0ALICE01", "thumbsup", CHANNEL, ts), "EvH1")
            )
            assert await send(event, sign(event, SECRET), json_type) == 200
            await until(lambda: len(world.events.votes) == 1, "the vote to be handled")
            assert world.votes("2611.00002") == {"slack:U0ALICE01": 1}

            calls = fake.call_count()
            other = json.dumps(
                event_payload(reaction_event("U0BOB0001", "thumbsup", CHANNEL, ts), "EvH2")
            )
            stale = sign(other, SECRET, timestamp=int(time.time()) - 6 * 60)
            assert await send(other, sign(other, "not-the-secret"), json_type) == 401
            assert await send(other, stale, json_type) == 401
            assert await send(other, {}, json_type) == 401
            assert fake.call_count() == calls  # no handler ran: not even an auth.test
            assert len(world.events.votes) == 1
            assert world.votes("2611.00002") == {"slack:U0ALICE01": 1}

            # a slash command arrives as a signed form; the ack is the HTTP answer
            form = urlencode(
                slash_command("pending", "U0ALICE01", CHANNEL, fake.response_url("http-pending"))
            )
            assert await send(form, sign(form, SECRET), "application/x-www-form-urlencoded") == 200
            await until(lambda: fake.responses_to("http-pending"), "the /papers answer")
            assert fake.responses_to("http-pending")[0]["text"].startswith("Pending: 1")
    finally:
        await world.close()


# --- restarts and start-up ------------------------------------------------------------------


async def test_a_post_whose_outcome_was_unknown_is_found_by_metadata_not_posted_again(
    tmp_path: Path, clock: FakeClock, fake: FakeSlack
) -> None:
    fake.history_page = 2  # so finding the post takes more than one page
    before = await World(tmp_path, clock, fake).open()
    before.matched("2611.00002", "Serving LLMs")
    channel = f"slack:{CHANNEL}"
    before.store.post_intent("2611.00002", channel, [ROUTE])  # the intent was recorded...
    view = before.app.poster.view("2611.00002", channel)
    assert view is not None
    fake.add_message(CHANNEL, user="U0ALICE01", text="morning all")
    ours = await before.chat.post_paper(CHANNEL, view, post_nonce("2611.00002", channel))
    # ...the message went out, then the process died before recording its ts
    fake.add_message(
        CHANNEL,
        user="U0OTHERAPP",
        bot_id="B0OTHERAPP",
        text="another app's message with the same metadata",
        metadata={"event_type": "paperbot_paper", "event_payload": {"arxiv_id": "2611.00002"}},
    )
    for i in range(3):
        fake.add_message(CHANNEL, user="U0ALICE01", text=f"chatter {i}")
    await before.chat.close()
    assert before.store.get_post("2611.00002", channel).state == "intent"  # type: ignore[union-attr]

    after = await World(tmp_path, clock, fake).open()  # the restart
    try:
        await after.app.poster.reconcile()
        await after.app.poster.post_queued()
        assert len(fake.calls_to("chat.postMessage")) == 1
        assert after.ref("2611.00002") == ours
        history = fake.calls_to("conversations.history")
        assert len(history) >= 2
        assert all(c.args["include_all_metadata"] in ("1", "true", True) for c in history)
        # and votes on the found post count
        await react(fake, "Ev1", "U0ALICE01", "thumbsup", ours)
        await until(lambda: len(after.events.votes) == 1, "the vote to be handled")
        assert after.votes("2611.00002") == {"slack:U0ALICE01": 1}
    finally:
        await after.close()
        before.store.close()


async def test_a_revoked_token_stops_start_up_with_one_clear_sentence(
    tmp_path: Path, clock: FakeClock, fake: FakeSlack
) -> None:
    fake.fail("auth.test", error="token_revoked", times=None)
    world = await World(tmp_path, clock, fake).open(start=False)
    try:
        with pytest.raises(ChatError) as caught:
            await world.chat.start(world.events)
        assert str(caught.value) == (
            "Slack rejected SLACK_BOT_TOKEN (token_revoked); create a new bot token "
            "(reinstall the app: OAuth & Permissions) and put it in .env"
        )
        assert fake.calls_to("apps.connections.open") == []
    finally:
        await world.close()


def test_paperbot_run_with_a_revoked_token_exits_with_the_sentence(
    tmp_path: Path, fake: FakeSlack
) -> None:
    fake.fail("auth.test", error="token_revoked", times=None)
    (tmp_path / "paperbot.toml").write_text(ROUTES_TOML, encoding="utf-8")
    env = env_for(
        tmp_path,
        "http://127.0.0.1:9",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=fake.api_url,
    )
    for var in PROXY_VARS:
        env.pop(var, None)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "Slack rejected SLACK_BOT_TOKEN (token_revoked); create a new bot token" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Unclosed" not in done.stderr
    assert BOT_TOKEN not in done.stderr + done.stdout
    assert [c.method for c in fake.calls] == ["auth.test"]


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"slack_mode": "socket", "slack_app_token": None}, "SLACK_APP_TOKEN"),
        ({"slack_mode": "http", "slack_signing_secret": None}, "SLACK_SIGNING_SECRET"),
    ],
)
async def test_a_missing_mode_setting_is_named(
    tmp_path: Path, clock: FakeClock, fake: FakeSlack, overrides: dict[str, Any], setting: str
) -> None:
    world = await World(tmp_path, clock, fake, **overrides).open(start=False)
    try:
        with pytest.raises(ChatError, match=f"needs {setting}"):
            await world.chat.start(world.events)
        assert fake.calls == []
    finally:
        await world.close()


async def test_a_bad_app_token_is_named_instead_of_retrying_forever(
    tmp_path: Path, clock: FakeClock, fake: FakeSlack
) -> None:
    fake.fail("apps.connections.open", error="invalid_auth")
    world = await World(tmp_path, clock, fake).open(start=False)
    try:
        with pytest.raises(ChatError, match=r"Slack rejected SLACK_APP_TOKEN \(invalid_auth\)"):
            await world.chat.start(world.events)
    finally:
        await world.close()


async def test_check_channel_says_to_invite_the_bot(world: World) -> None:
    await world.chat.check_channel(CHANNEL)
    await world.app.channels.check()
    for channel in (HIDDEN, "C0NOSUCH001"):
        with pytest.raises(ChatError, match=f"cannot see Slack channel {channel}; invite it"):
            await world.chat.check_channel(channel)


# --- rendering, for any text ------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=4000)


@settings(max_examples=examples(60), deadline=None)
@given(title=_text, abstract=_text, author=_text, reason=_text, note=_text)
def test_any_post_fits_slacks_limits_and_pings_nobody(
    title: str, abstract: str, author: str, reason: str, note: str
) -> None:
    paper = Paper("2611.00002", title, authors=(author,) * 5, abstract=abstract)
    for status in ("pending", "accepted"):
        view = PostView(paper, (ROUTE,), (Reason(reason, "title", reason),) * 7, status, note)
        for block in post_blocks(view):
            pieces = []
            if block["type"] == "section":
                pieces = [block["text"]["text"]]
            elif block["type"] == "context":
                pieces = [e["text"] for e in block["elements"]]
            for text in pieces:
                assert len(text) <= 3000
                assert all(text.startswith("<http", i) for i in range(len(text)) if text[i] == "<")


@settings(max_examples=examples(100), deadline=None)
@given(text=_text, title=_text)
def test_core_text_keeps_its_links_and_nothing_else(text: str, title: str) -> None:
    for out in (
        render_text(text),
        render_reply(
            Reply(text, (ReplyItem("2611.00002", title, "https://arxiv.org/abs/x", title),))
        ),
    ):
        assert all(out.startswith("<http", i) for i in range(len(out)) if out[i] == "<")
    assert render_text("• A <https://arxiv.org/abs/2611.00002> 👍") == (
        "• A <https://arxiv.org/abs/2611.00002> 👍"
    )


# --- a bad day on Slack ------------------------------------------------------------------------


async def test_a_post_whose_metadata_slack_dropped_is_found_by_its_button_value(
    tmp_path: Path, clock: FakeClock, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    fake.drop_metadata = "invalid_metadata_schema"  # Slack ignores metadata, with a warning
    before = await World(tmp_path, clock, fake).open()
    before.matched("2611.00002", "Serving LLMs")
    channel = f"slack:{CHANNEL}"
    before.store.post_intent("2611.00002", channel, [ROUTE])
    view = before.app.poster.view("2611.00002", channel)
    assert view is not None
    with caplog.at_level("WARNING"):
        ours = await before.chat.post_paper(CHANNEL, view, post_nonce("2611.00002", channel))
    assert "invalid_metadata_schema" in caplog.text
    assert "metadata" not in fake.history(CHANNEL)[-1]
    await before.chat.close()  # the process died before recording the ts

    after = await World(tmp_path, clock, fake).open()
    try:
        await after.app.poster.reconcile()
        assert len(fake.calls_to("chat.postMessage")) == 1  # found, not posted twice
        assert after.ref("2611.00002") == ours
    finally:
        await after.close()
        before.store.close()


async def test_fresh_posts_read_no_history_and_a_long_rate_limit_only_delays(
    world: World, fake: FakeSlack
) -> None:
    for n in range(30):
        world.matched(f"2611.{n:05d}", f"LLM paper {n}")
    fake.fail("chat.postMessage", retry_after=300)  # longer than paperbot waits
    await world.app.poster.post_queued()  # the first post fails, the others go out
    assert fake.calls_to("conversations.history") == []  # nothing scanned for fresh intents
    assert world.sleeps == []  # a 300 s Retry-After is not waited out holding the lock
    before = len(fake.calls_to("chat.postMessage"))
    await world.app.poster.post_queued()  # the next round: only the unknown one is looked up
    assert len(fake.calls_to("conversations.history")) == 1
    assert len(fake.calls_to("chat.postMessage")) == before + 1


async def test_a_missing_history_scope_stops_start_up_naming_the_scope(
    world: World, fake: FakeSlack
) -> None:
    fake.fail(
        "conversations.history",
        error="missing_scope",
        times=None,
        needed="channels:history",
        provided="chat:write,reactions:read",
    )
    with pytest.raises(ChatError, match="lacks the channels:history scope for conversations"):
        await world.app.channels.check()


async def test_an_archived_channel_is_set_aside_once_and_shows_in_status(
    world: World, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    world.matched("2611.00002", "Serving LLMs")
    fake.archived.add(CHANNEL)
    with caplog.at_level("ERROR"):
        await world.app.poster.post_queued()
        await world.app.poster.post_queued()  # not retried: nothing changed
    assert len(fake.calls_to("chat.postMessage")) == 1
    assert [r.levelname for r in caplog.records if "is archived" in r.message] == ["ERROR"]
    problems = world.store.channel_problems()
    assert "is archived" in problems[f"slack:{CHANNEL}"]
    # the routes file changes: the channel is tried again, and works once unarchived
    fake.archived.discard(CHANNEL)
    config = world.settings.paperbot_config
    config.write_text(config.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    await world.app.poster.post_queued()
    assert len(fake.calls_to("chat.postMessage")) == 2
    assert world.store.channel_problems() == {}


async def test_a_revoked_bot_token_mid_run_marks_the_chat_failed(
    world: World, fake: FakeSlack
) -> None:
    world.matched("2611.00002", "Serving LLMs")
    fake.fail("chat.postMessage", error="token_revoked", times=None)
    await world.app.poster.post_queued()
    assert world.chat.failed.is_set()
    assert str(world.chat.failed.reason).startswith("Slack rejected SLACK_BOT_TOKEN")


async def test_a_revoked_app_token_ends_socket_mode_instead_of_retrying(
    world: World, fake: FakeSlack
) -> None:
    fake.fail("apps.connections.open", error="invalid_auth", times=None)
    await fake.disconnect_sockets()  # Slack asks the client to reconnect
    await until(lambda: world.chat.failed.is_set(), "the chat to fail")
    assert "SLACK_APP_TOKEN" in str(world.chat.failed.reason)


async def test_other_bots_reactions_never_vote_and_votes_made_while_down_count(
    world: World, fake: FakeSlack
) -> None:
    world.matched("2611.00002", "Serving LLMs")
    await world.app.poster.post_queued()
    ts = world.ref("2611.00002")
    fake.bot_users.add("U0OTHERBOT")
    await react(fake, "Ev1", "U0OTHERBOT", "thumbsup", ts)
    await react(fake, "Ev2", "U0CAROL01", "-1", ts)
    await until(lambda: len(world.events.votes) == 1, "the person's vote")
    assert world.votes("2611.00002") == {"slack:U0CAROL01": -1}
    # the bot is down: Alice reacts, Carol takes hers back, another bot reacts
    fake.keep_reaction(CHANNEL, ts, "U0ALICE01", "thumbsup")
    fake.keep_reaction(CHANNEL, ts, "U0OTHERBOT", "thumbsup")
    assert await world.app.decisions.reconcile_votes() == 2
    assert world.votes("2611.00002") == {"slack:U0ALICE01": 1}


def test_answers_and_digests_stay_readable_and_inert() -> None:
    items = tuple(
        ReplyItem(
            f"2611.{n:05d}",
            f"<https://evil.example/{n}> title {n} " * 5,
            f"https://arxiv.org/abs/2611.{n:05d}",
        )
        for n in range(500)
    )
    text = render_reply(
        Reply("Posted <https://evil.example> <https://arxiv.org/abs/2611.00001>", items)
    )
    assert len(text) <= 4000
    assert text.endswith("more")
    assert "<https://evil" not in text
    assert "<https://arxiv.org/abs/2611.00001>" in text
    view = PostView(Paper("2611.00002", "https://evil.example <!here>"), (ROUTE,), ())
    assert all(b["text"]["verbatim"] for b in post_blocks(view) if b["type"] == "section")
