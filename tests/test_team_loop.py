"""The curation loop on a real SQLite file with an in-memory chat and an injected clock."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import App, wire
from bot.config import RulesSource
from bot.models import (
    CommandEvent,
    FeedRun,
    Incoming,
    Match,
    Outcome,
    Paper,
    Reason,
    Route,
    Signal,
    VoteEvent,
)
from bot.posting import post_nonce
from bot.publish import PublishResult
from bot.scheduling import register_jobs
from storage.store import Store
from tests.conftest import FakeClock
from tests.fakes.chat import MemoryChat

CHANNEL = "llm-systems"  # the test chat's channel for the route (named after it)
ROUTE_TOML = """\
[[routes]]
name = "llm-systems"
categories = ["cs.DC", "cs.OS"]
accept = ["llm"]
max_posts_per_poll = {limit}
[routes.votes]
accept_at = 2
reject_at = 2
expire_days = 7
{curators}
"""


def write_routes(path: Path, *, limit: int = 30, curators: str = "", extra: str = "") -> None:
    path.write_text(ROUTE_TOML.format(limit=limit, curators=curators) + extra, encoding="utf-8")


class World:
    def __init__(self, tmp_path: Path, clock: FakeClock) -> None:
        self.tmp_path = tmp_path
        self.clock = clock
        self.config = tmp_path / "paperbot.toml"
        if not self.config.exists():
            write_routes(self.config)
        self.store = Store.open(tmp_path / "paperbot.db", clock)
        self.chat = MemoryChat()
        self.published: list[str] = []
        self.app = self.restart(self.chat)

    def restart(self, chat: MemoryChat) -> App:
        def publish(route: Route) -> PublishResult:
            self.published.append(route.name)
            return PublishResult(route.name)

        self.app = wire(
            store=self.store,
            chats={"test": chat},
            rules=RulesSource(self.config),
            clock=self.clock,
            publish=publish,
        )
        return self.app

    def matched(self, pid: str, day: date = date(2026, 11, 24), route: str = "llm-systems") -> None:
        self.store.upsert_papers([Incoming(Paper(pid, f"LLM paper {pid}"), day, True, "rss:x")])
        self.store.add_matches([Match(pid, route, (Reason("llm", "title", "LLM"),))], "poll")

    def ref(self, pid: str) -> str:
        post = self.store.get_post(pid, f"test:{CHANNEL}")
        assert post is not None
        assert post.ref is not None
        return post.ref

    async def vote(
        self, pid: str, user: str, value: int, *, added: bool = True, **kw: object
    ) -> None:
        emoji = "+1" if value > 0 else "-1"
        signal = Signal(user, value, "reaction", emoji, added)
        channel = str(kw.get("channel", f"test:{CHANNEL}"))
        ref = str(kw.get("ref", self.ref(pid)))
        await self.app.on_vote(
            VoteEvent(channel, ref, signal, from_bot=bool(kw.get("from_bot", False)))
        )

    def status(self, pid: str) -> str | None:
        decision = self.store.decision(pid, "llm-systems")
        return decision.status if decision else None


@pytest.fixture
def world(tmp_path: Path, clock: FakeClock) -> Iterator[World]:
    w = World(tmp_path, clock)
    yield w
    w.store.close()


async def test_each_match_is_posted_once_even_across_restarts(world: World) -> None:
    world.matched("2611.00001")
    world.matched("2611.00002")
    assert await world.app.poster.post_queued() == 2
    await world.app.poster.post_queued()
    world.restart(world.chat)
    await world.app.poster.reconcile()
    await world.app.poster.post_queued()
    posts = world.chat.posts(CHANNEL)
    assert sorted(m.view.paper.id for m in posts if m.view) == ["2611.00001", "2611.00002"]
    assert posts[0].nonce == post_nonce(
        posts[0].view.paper.id if posts[0].view else "", f"test:{CHANNEL}"
    )
    assert len(posts[0].nonce) == 25


async def test_a_post_whose_outcome_was_unknown_is_found_not_sent_again(world: World) -> None:
    world.matched("2611.00001")
    world.matched("2611.00002")
    # crash 1: the message went out but its reference was never recorded
    world.store.post_intent("2611.00001", f"test:{CHANNEL}", ["llm-systems"])
    view = world.app.poster.view("2611.00001", f"test:{CHANNEL}")
    assert view is not None
    await world.chat.post_paper(CHANNEL, view, "n")
    # crash 2: the intent was recorded, the message never sent
    world.store.post_intent("2611.00002", f"test:{CHANNEL}", ["llm-systems"])

    world.restart(world.chat)
    await world.app.poster.reconcile()
    await world.app.poster.post_queued()
    ids = [m.view.paper.id for m in world.chat.posts() if m.view]
    assert sorted(ids) == ["2611.00001", "2611.00002"]
    assert all(p.state == "sent" for p in world.store.posts())


async def test_a_failed_post_stays_queued_and_is_retried(world: World) -> None:
    world.matched("2611.00001")
    world.chat.fail_posts = 1
    await world.app.poster.post_queued()
    assert world.chat.posts() == []
    assert [m.paper_id for m in world.store.queued_matches()] == ["2611.00001"]
    await world.app.poster.post_queued()
    assert len(world.chat.posts()) == 1
    assert world.store.queued_matches() == []


async def test_flood_control_posts_the_limit_and_announces_the_rest(
    tmp_path: Path, clock: FakeClock
) -> None:
    write_routes(tmp_path / "paperbot.toml", limit=2)
    world = World(tmp_path, clock)
    world.matched("2611.00000")
    await world.app.poster.post_queued()  # the channel has its first post
    for i in range(1, 6):
        world.matched(f"2611.0000{i}")
    await world.app.poster.post_queued()
    assert len(world.chat.posts()) == 3
    assert world.chat.texts(CHANNEL) == ["…and 3 more: /papers pending"]
    reply = await world.app.on_command(CommandEvent(f"test:{CHANNEL}", "test:U1", "pending"))
    held = [i for i in reply.items if i.detail.startswith("not posted")]
    assert len(held) == 3


async def test_a_new_channel_gets_only_the_latest_listing(world: World) -> None:
    world.matched("2611.00001", date(2026, 11, 20))
    world.matched("2611.00002", date(2026, 11, 23))
    world.matched("2611.00003", date(2026, 11, 24))
    await world.app.poster.post_queued()
    assert [m.view.paper.id for m in world.chat.posts() if m.view] == ["2611.00003"]
    assert world.store.queued_matches() == []


async def test_two_routes_in_one_channel_share_one_post(tmp_path: Path, clock: FakeClock) -> None:
    (tmp_path / "paperbot.toml").write_text(
        "[[routes]]\nname = 'a'\ncategories = ['cs.DC']\naccept = ['llm']\n"
        "[[routes]]\nname = 'b'\ncategories = ['cs.DC']\naccept = ['serving']\n",
        encoding="utf-8",
    )
    world = World(tmp_path, clock)
    chat = MemoryChat()
    world.app = wire(
        store=world.store, chats={"test": chat}, rules=RulesSource(world.config), clock=clock
    )
    # both routes post to the same test channel when they name the same one
    world.app.channels.of_route = lambda route: ["test:shared"]  # type: ignore[method-assign]
    world.store.upsert_papers([Incoming(Paper("2611.00001", "LLM serving"), None, True, "x")])
    world.store.add_matches(
        [
            Match("2611.00001", "a", (Reason("llm", "title", "LLM"),)),
            Match("2611.00001", "b", (Reason("serving", "title", "serving"),)),
        ],
        "poll",
    )
    await world.app.poster.post_queued()
    (post,) = chat.posts()
    assert post.view is not None
    assert post.view.routes == ("a", "b")
    assert [r.term for r in post.view.reasons] == ["llm", "serving"]
    for user in ("test:U1", "test:U2"):
        await world.app.on_vote(VoteEvent("test:shared", post.ref, Signal(user, 1, "button")))
    assert world.store.decision("2611.00001", "a") is not None
    assert [d.status for r in ("a", "b") if (d := world.store.decision("2611.00001", r))] == [
        "accepted",
        "accepted",
    ]


async def test_votes_belong_to_the_post_they_were_cast_on(tmp_path: Path, clock: FakeClock) -> None:
    (tmp_path / "paperbot.toml").write_text(
        "[[routes]]\nname = 'a'\ncategories = ['cs.DC']\naccept = ['llm']\n"
        "[[routes]]\nname = 'b'\ncategories = ['cs.DC']\naccept = ['serving']\n",
        encoding="utf-8",
    )
    world = World(tmp_path, clock)  # the test chat gives each route its own channel
    world.store.upsert_papers([Incoming(Paper("2611.00001", "LLM serving"), None, True, "x")])
    world.store.add_matches(
        [
            Match("2611.00001", "a", (Reason("llm", "title", "LLM"),)),
            Match("2611.00001", "b", (Reason("serving", "title", "serving"),)),
        ],
        "poll",
    )
    await world.app.poster.post_queued()
    post_a = next(m for m in world.chat.posts() if m.channel == "a")
    for user in ("test:U1", "test:U2"):
        await world.app.on_vote(VoteEvent("test:a", post_a.ref, Signal(user, 1, "button")))
    decided = {r: d.status for r in ("a", "b") if (d := world.store.decision("2611.00001", r))}
    assert decided == {"a": "accepted"}  # route b's channel has not voted
    view_b = world.app.poster.view("2611.00001", "test:b")
    assert view_b is not None
    assert (view_b.ups, view_b.status) == (0, "pending")


async def test_votes_are_stored_at_once_while_post_updates_hang(world: World) -> None:
    """A slow or rate-limited chat never delays storing a vote; updates are coalesced."""
    world.matched("2611.00001")
    await world.app.poster.post_queued()
    ref = world.ref("2611.00001")
    world.chat.updates_open = asyncio.Event()
    handlers = [
        asyncio.create_task(
            world.app.on_vote(VoteEvent(f"test:{CHANNEL}", ref, Signal(f"test:U{i}", 1, "button")))
        )
        for i in range(100)
    ]
    for _ in range(50):  # let every handler run as far as it can without the chat
        await asyncio.sleep(0)
    assert len(world.store.votes_for("2611.00001")) == 100
    assert world.status("2611.00001") == "accepted"
    assert world.chat.updates_started == 1  # one update in flight, the rest coalesced
    world.chat.updates_open.set()
    await asyncio.gather(*handlers)
    assert world.chat.updates_started == 2
    assert world.chat.posts()[0].edits[-1].ups == 100


async def test_votes_decide_update_the_post_and_mark_the_list_unpublished(world: World) -> None:
    world.matched("2611.00001")
    await world.app.poster.post_queued()
    await world.vote("2611.00001", "test:U1", 1)
    assert world.status("2611.00001") is None
    await world.vote("2611.00001", "test:U2", 1)
    decision = world.store.decision("2611.00001", "llm-systems")
    assert decision is not None
    assert (decision.status, decision.decided_by) == ("accepted", "votes")
    assert decision.reason == "2 up, 0 down: accepted at 2"
    (post,) = world.chat.posts()
    assert post.edits[-1].status == "accepted"
    assert post.edits[-1].ups == 2
    assert world.app.decisions.unpublished() == ["llm-systems"]

    # withdrawing one thumb takes it back to pending; the list will drop nothing by itself
    await world.vote("2611.00001", "test:U2", 1, added=False)
    assert world.status("2611.00001") == "pending"
    await world.vote("2611.00001", "test:U2", -1)
    await world.vote("2611.00001", "test:U3", -1)
    assert world.status("2611.00001") == "rejected"


async def test_ignored_votes_change_nothing(tmp_path: Path, clock: FakeClock) -> None:
    write_routes(tmp_path / "paperbot.toml", curators="curators = ['test:U1', 'test:U2']")
    world = World(tmp_path, clock)
    world.matched("2611.00001")
    await world.app.poster.post_queued()
    await world.vote("2611.00001", "test:BOT", 1, from_bot=True)  # the bot's own
    await world.vote("2611.00001", "test:U9", 1)  # not a app
    await world.vote("2611.00001", "test:U1", 1, ref="not-our-message")
    await world.vote("2611.00001", "test:U2", 1, channel="test:elsewhere")
    assert world.status("2611.00001") is None
    assert [v.user for v in world.store.votes_for("2611.00001")] == ["test:U9"]
    # redelivering the same event twice counts once
    await world.vote("2611.00001", "test:U1", 1)
    await world.vote("2611.00001", "test:U1", 1)
    assert world.status("2611.00001") is None
    await world.vote("2611.00001", "test:U2", 1)
    assert world.status("2611.00001") == "accepted"


async def test_undecided_papers_expire_and_then_stay_expired(
    world: World, clock: FakeClock
) -> None:
    world.matched("2611.00001")
    await world.app.poster.post_queued()
    await world.vote("2611.00001", "test:U1", 1)
    clock.advance(days=6, hours=23)
    assert await world.app.decisions.expire_due() == 0
    clock.advance(hours=1)
    assert await world.app.decisions.expire_due() == 1
    assert world.status("2611.00001") == "expired"
    await world.vote("2611.00001", "test:U2", 1)
    assert world.status("2611.00001") == "expired"
    assert world.chat.posts()[0].edits[-1].status == "expired"


async def test_a_decision_standing_at_expiry_is_final(world: World, clock: FakeClock) -> None:
    world.matched("2611.00001")
    await world.app.poster.post_queued()
    await world.vote("2611.00001", "test:U1", 1)
    await world.vote("2611.00001", "test:U2", 1)
    clock.advance(days=8)
    await world.vote("2611.00001", "test:U1", -1)
    await world.vote("2611.00001", "test:U3", -1)
    assert world.status("2611.00001") == "accepted"


async def test_a_decision_frozen_at_expiry_is_final_on_the_post_too(
    world: World, clock: FakeClock
) -> None:
    """One finality rule: a decision that votes can no longer change shows no buttons."""
    world.matched("2611.00001")
    await world.app.poster.post_queued()
    await world.vote("2611.00001", "test:U1", 1)
    await world.vote("2611.00001", "test:U2", 1)
    view = world.app.poster.view("2611.00001", f"test:{CHANNEL}")
    assert view is not None
    assert (view.status, view.final) == ("accepted", False)  # votes may still change it
    clock.advance(days=8)
    await world.app.decisions.expire_due()
    view = world.app.poster.view("2611.00001", f"test:{CHANNEL}")
    assert view is not None
    assert (view.status, view.final) == ("accepted", True)
    assert world.chat.posts()[0].edits[-1].final  # the post lost its buttons
    await world.vote("2611.00001", "test:U3", -1)  # a late vote is kept but decides nothing
    assert world.status("2611.00001") == "accepted"
    assert world.chat.posts()[0].edits[-1].final


async def test_a_vote_after_the_voting_time_is_stored_but_decides_nothing(
    world: World, clock: FakeClock
) -> None:
    world.matched("2611.00001")
    await world.app.poster.post_queued()
    await world.vote("2611.00001", "test:U1", 1)
    clock.advance(days=7, minutes=1)  # past expire_days, before the 30-minute expiry job
    await world.vote("2611.00001", "test:U2", 1)
    assert {v.user for v in world.store.votes_for("2611.00001")} == {"test:U1", "test:U2"}
    assert world.status("2611.00001") == "expired"
    view = world.app.poster.view("2611.00001", f"test:{CHANNEL}")
    assert view is not None
    assert (view.ups, view.status, view.final) == (2, "expired", True)


async def test_a_burst_of_votes_is_published_once(tmp_path: Path, clock: FakeClock) -> None:
    write_routes(
        tmp_path / "paperbot.toml", extra="[routes.list]\nrepo = 'papers'\npath = 'l.md'\n"
    )
    world = World(tmp_path, clock)
    for pid in ("2611.00001", "2611.00002"):
        world.matched(pid)
    await world.app.poster.post_queued()
    assert await world.app.decisions.publish_due() == []  # nothing decided yet
    for pid in ("2611.00001", "2611.00002"):
        await world.vote(pid, "test:U1", 1)
        await world.vote(pid, "test:U2", 1)
    assert world.app.decisions.unpublished() == ["llm-systems"]
    await world.app.decisions.publish_due()
    await world.app.decisions.publish_due()
    assert world.published == ["llm-systems"]  # one publish for the whole burst
    assert world.app.decisions.unpublished() == []


async def test_a_curators_hand_decision_is_final(world: World) -> None:
    world.matched("2611.00001")
    await world.app.poster.post_queued()
    said = await world.app.decisions.decide_by_hand("2611.00001", Outcome.REJECTED, "cli:alice")
    assert said == "2611.00001 rejected on llm-systems by cli:alice"
    await world.vote("2611.00001", "test:U1", 1)
    await world.vote("2611.00001", "test:U2", 1)
    decision = world.store.decision("2611.00001", "llm-systems")
    assert decision is not None
    assert (decision.status, decision.decided_by) == ("rejected", "cli:alice")


async def test_digest_shows_outcomes_and_what_was_decided_since_the_last_one(
    world: World, clock: FakeClock
) -> None:
    world.matched("2611.00001")
    world.matched("2611.00002")
    await world.app.poster.post_queued()
    await world.vote("2611.00001", "test:U1", 1)
    await world.vote("2611.00001", "test:U2", 1)
    clock.now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # a Thursday: any day works
    await world.app.digests.send_digest("llm-systems")
    (text,) = world.chat.texts(CHANNEL)
    assert "Posted since the last digest: 2; decided: 1; still pending: 1" in text
    assert (
        "- LLM paper 2611.00001 <https://arxiv.org/abs/2611.00001> (posted · accepted · 👍 2 👎 0)"
        in text
    )
    assert "- LLM paper 2611.00001 <https://arxiv.org/abs/2611.00001> (accepted by votes)" in text
    assert "(pending: needs your votes)" in text
    clock.advance(days=1)
    await world.vote("2611.00002", "test:U1", -1)
    await world.vote("2611.00002", "test:U2", -1)
    await world.app.digests.send_digest("llm-systems")
    second = world.chat.texts(CHANNEL)[1]
    assert "Posted since the last digest: 0; decided: 1; still pending: 0" in second
    assert "2611.00002> (rejected by votes)" in second
    assert "2611.00001" not in second


async def test_a_digest_shows_tags_and_tldr_once_known(world: World, clock: FakeClock) -> None:
    world.matched("2611.00001")
    await world.app.poster.post_queued()
    world.store.set_note(
        "2611.00001", "llm-systems", tags=["serving"], tags_by="terms", tldr="2x faster.",
        tldr_by="llm",
    )  # fmt: skip
    clock.advance(hours=1)
    await world.app.digests.send_digest("llm-systems")
    (text,) = world.chat.texts(CHANNEL)
    assert "(posted · pending · 👍 0 👎 0 · serving · TL;DR: 2x faster.)" in text


async def test_a_digest_schedule_edit_is_followed_at_the_next_poll(world: World) -> None:
    scheduler = AsyncIOScheduler(timezone="UTC")
    polls: list[int] = []

    async def poll() -> None:
        polls.append(1)

    register_jobs(
        scheduler,
        world.app,
        poll=poll,
        poll_trigger=IntervalTrigger(minutes=5),
        publish_interval=60,
        wrap=lambda name, job: job,
    )
    scheduler.start(paused=True)  # jobs are registered for real; none fires in the test
    assert scheduler.get_job("digest:llm-systems") is None
    write_routes(world.config, extra="[routes.digest]\ncron = '0 9 * * mon'\n")
    bump_mtime(world.config)
    await scheduler.get_job("poll").func()
    job = scheduler.get_job("digest:llm-systems")
    assert job is not None
    assert "day_of_week='mon'" in str(job.trigger)
    write_routes(world.config, extra="[routes.digest]\ncron = '30 17 * * fri'\n")
    bump_mtime(world.config)
    await scheduler.get_job("poll").func()
    assert "day_of_week='fri'" in str(scheduler.get_job("digest:llm-systems").trigger)
    write_routes(world.config)
    bump_mtime(world.config)
    await scheduler.get_job("poll").func()
    assert scheduler.get_job("digest:llm-systems") is None
    assert len(polls) == 3
    scheduler.shutdown(wait=False)


def bump_mtime(path: Path) -> None:
    """Routes are re-read when the file's mtime or size changes: make sure it does."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


async def test_a_missing_listing_gets_one_notice_and_holidays_none(
    world: World, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # Tuesday, 03:00 in New York
    assert await world.app.digests.check_listings() == 1
    assert await world.app.digests.check_listings() == 0
    (notice,) = world.chat.texts(CHANNEL)
    assert "listing for 2026-11-24 has not reached paperbot" in notice

    clock.now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    world.store.record_feed_run(
        FeedRun("rss:cs.DC+cs.OS", clock(), "ok", listing_date=date(2026, 11, 25), items=3)
    )
    assert await world.app.digests.check_listings() == 0

    world.app.digests.holidays = (date(2026, 11, 26),)
    clock.now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert await world.app.digests.check_listings() == 0


async def test_add_posts_a_paper_for_votes(world: World) -> None:
    world.store.upsert_papers([Incoming(Paper("2611.00042", "Hand picked"), None, False, "x")])
    reply = await world.app.on_command(
        CommandEvent(f"test:{CHANNEL}", "test:U7", "add arXiv:2611.00042v2")
    )
    assert reply.ok
    assert reply.text.startswith("Posted Hand picked")
    (post,) = world.chat.posts()
    assert post.view is not None
    assert post.view.reasons[0].term == "added by test:U7"


async def test_papers_answers_only_where_a_route_lives(world: World) -> None:
    world.matched("2611.00001")
    await world.app.poster.post_queued()
    elsewhere = "test:random-dm"
    for text in ("pending", "recent 30", "add 2611.00099", "stats"):
        reply = await world.app.on_command(CommandEvent(elsewhere, "test:U7", text))
        assert not reply.ok
        assert reply.text.startswith("this channel belongs to no route")
    help_reply = await world.app.on_command(CommandEvent(elsewhere, "test:U7", "help"))
    assert help_reply.ok
    assert "Usage: /papers" in help_reply.text
    assert len(world.chat.posts()) == 1  # nothing was added anywhere


async def test_only_curators_may_add_where_a_route_has_curators(
    tmp_path: Path, clock: FakeClock
) -> None:
    write_routes(tmp_path / "paperbot.toml", curators="curators = ['test:U1']")
    world = World(tmp_path, clock)
    world.store.upsert_papers([Incoming(Paper("2611.00042", "Hand picked"), None, False, "x")])
    refused = await world.app.on_command(
        CommandEvent(f"test:{CHANNEL}", "test:U7", "add 2611.00042")
    )
    assert not refused.ok
    assert "curators" in refused.text
    assert world.chat.posts() == []
    allowed = await world.app.on_command(
        CommandEvent(f"test:{CHANNEL}", "test:U1", "add 2611.00042")
    )
    assert allowed.ok
    assert len(world.chat.posts()) == 1


async def test_check_channels_reports_a_channel_the_bot_cannot_see(world: World) -> None:
    world.chat.visible = {"other"}
    with pytest.raises(Exception, match="invite it there"):
        await world.app.channels.check()


async def test_a_post_is_final_only_once_votes_can_no_longer_change_it(
    world: World, clock: FakeClock
) -> None:
    world.matched("2611.00001")
    world.matched("2611.00002")
    await world.app.poster.post_queued()
    await world.vote("2611.00001", "test:U1", 1)
    await world.vote("2611.00001", "test:U2", 1)
    by_votes = world.app.poster.view("2611.00001", f"test:{CHANNEL}")
    assert by_votes is not None
    assert (by_votes.status, by_votes.final) == ("accepted", False)
    await world.app.decisions.decide_by_hand("2611.00002", Outcome.REJECTED, "cli:alice")
    by_hand = world.app.poster.view("2611.00002", f"test:{CHANNEL}")
    assert by_hand is not None
    assert (by_hand.status, by_hand.final) == ("rejected", True)
