"""The learnt taste in the chats: each post's fit, suggestions, `/papers suggest`, retraining."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.chat.discord import render_embed
from bot.chat.slack import post_blocks
from bot.display import post_content
from bot.models import MODEL_FIELD, CommandEvent, Incoming, Match, Paper, PostView, Reason
from bot.scheduling import register_jobs
from bot.taste import Example, Record, sample_weak
from tests.conftest import FakeClock
from tests.test_taste import synthetic
from tests.test_team_loop import CHANNEL, World

ROUTES = """\
[[routes]]
name = "llm-systems"
categories = ["cs.DC", "cs.OS"]
accept = ["llm"]
[routes.model]
suggest_at = 0.3
max_suggestions_per_day = 2
min_decisions = 10
"""


def test_the_fit_line_shows_on_both_platforms() -> None:
    paper = Paper("2611.00001", "KV cache serving")
    why = Reason("suggested", MODEL_FIELD, "kv cache, serving")
    view = PostView(paper, ("llm-systems",), (why,), score=0.8612, rank=2, of=31)
    assert post_content(view).fit == "suggested · fits 0.86 · 2nd of 31 today"
    slack = json.dumps(post_blocks(view), ensure_ascii=False)
    assert "fits 0.86 · 2nd of 31 today" in slack
    assert "suggested (no rule matched); it fits for: kv cache, serving" in slack
    fields = {f.name: f.value for f in render_embed(view).fields}
    assert fields["Fit"] == "suggested · fits 0.86 · 2nd of 31 today"
    silent = PostView(paper, ("llm-systems",), (Reason("llm", "title", "LLM"),))
    assert post_content(silent).fit == ""
    assert "fits" not in json.dumps(post_blocks(silent), ensure_ascii=False)
    assert "Fit" not in {f.name for f in render_embed(silent).fields}


def test_a_sample_of_the_weak_negatives_stands_for_all_of_them() -> None:
    strong = [Example(Record(f"s{i}", "x"), i % 2, 1.0) for i in range(10)]
    weak = [Example(Record(f"w{i}", "y"), 0, 0.5) for i in range(90)]
    kept, rows = sample_weak(strong + weak, 40)
    assert len(kept) == 40 and [kept[i].record.id for i in range(10)] == [
        f"s{i}" for i in range(10)
    ]
    assert [(strong + weak)[r].record.id for r in rows] == [e.record.id for e in kept]
    assert sum(e.weight for e in kept[10:]) == pytest.approx(45.0)  # 90 x 0.5, as before
    assert sample_weak(strong + weak, 100)[0] == strong + weak


@pytest.fixture
def taught(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[World, list[Record]]]:
    """A route whose team decided the first 60 of 8 days of papers (no post made yet)."""
    (tmp_path / "paperbot.toml").write_text(ROUTES, encoding="utf-8")
    world = World(tmp_path, clock)
    records, accepted = synthetic(days=8)
    world.store.upsert_papers(
        [
            Incoming(
                Paper(r.id, r.title, abstract=r.abstract, categories=("cs.DC",)), r.day, True, "x"
            )
            for r in records
        ]
    )
    for r in records[:60]:
        status = "accepted" if r.id in accepted else "rejected"
        world.store.decide(r.id, "llm-systems", status, "votes", "test")
    yield world, records
    world.store.close()


def scheduler_for(world: World) -> AsyncIOScheduler:
    async def poll() -> None:
        pass

    scheduler = AsyncIOScheduler(timezone="UTC")
    register_jobs(
        scheduler,
        world.app,
        poll=poll,
        poll_trigger=IntervalTrigger(minutes=5),
        publish_interval=60,
        wrap=lambda name, job: job,
    )
    scheduler.start(paused=True)  # registered for real; the test runs the jobs by hand
    return scheduler


async def test_suggestions_are_posted_marked_capped_per_day_and_their_votes_retrain(
    taught: tuple[World, list[Record]],
) -> None:
    world, records = taught
    scheduler = scheduler_for(world)
    assert world.app.taste is not None
    assert scheduler.get_job("retrain") is not None
    assert "hour='4'" in str(scheduler.get_job("retrain-nightly").trigger)
    await scheduler.get_job("retrain").func()  # the model, from the 60 decisions
    assert world.store.path and Path(world.store.path + ".model.llm-systems.joblib").exists()

    await scheduler.get_job("poll").func()  # after the poll: suggestions, posted
    posts = world.chat.posts(CHANNEL)
    assert posts
    day_of = {r.id: r.day for r in records}
    per_day: dict[date | None, int] = {}
    for post in posts:
        assert post.view is not None
        per_day[day_of[post.view.paper.id]] = per_day.get(day_of[post.view.paper.id], 0) + 1
        (reason,) = post.view.reasons
        assert (reason.term, reason.field) == ("suggested", MODEL_FIELD) and reason.text
        assert post_content(post.view).fit.startswith("suggested · fits ")
        assert not any(r.matched for r in records if r.id == post.view.paper.id)
    assert max(per_day.values()) <= 2
    await scheduler.get_job("poll").func()
    assert len(world.chat.posts(CHANNEL)) == len(posts)  # never twice, never over the cap

    # A suggestion's votes decide it like any post's, and its decision retrains the model.
    assert await world.app.taste.retrain() == []
    first = posts[0].view
    assert first is not None
    await world.vote(first.paper.id, "test:U1", -1)
    await world.vote(first.paper.id, "test:U2", -1)
    assert world.status(first.paper.id) == "rejected"
    assert await world.app.taste.retrain() == ["llm-systems"]
    scheduler.shutdown(wait=False)


async def test_papers_suggest_and_why_answer_with_the_score(
    taught: tuple[World, list[Record]],
) -> None:
    world, records = taught
    event = CommandEvent(f"test:{CHANNEL}", "test:U1", "suggest 3")
    silent = await world.app.on_command(event)
    assert "the model is silent" in silent.text and not silent.items

    assert world.app.taste is not None
    assert await world.app.taste.retrain() == ["llm-systems"]
    reply = await world.app.on_command(event)
    assert reply.ok and "best papers no rule matched" in reply.text
    assert 1 <= len(reply.items) <= 3
    assert all(re.search(r"^llm-systems · fits [01]\.\d\d · \w", i.detail) for i in reply.items)
    decided = {r.id for r in records[:60]}
    assert not decided & {item.paper_id for item in reply.items}

    why = await world.app.on_command(
        CommandEvent(f"test:{CHANNEL}", "test:U1", "why " + records[70].id)
    )
    assert "Taste of llm-systems: fits " in why.text and " today; by: " in why.text
    bad = await world.app.on_command(CommandEvent(f"test:{CHANNEL}", "test:U1", "suggest 99"))
    assert not bad.ok


async def test_posts_and_digests_go_best_first(taught: tuple[World, list[Record]]) -> None:
    world, records = taught
    assert world.app.taste is not None
    await world.app.taste.retrain()
    last = [r for r in records if r.day == records[-1].day][:6]
    world.store.add_matches(
        [Match(r.id, "llm-systems", (Reason("llm", "title", "x"),)) for r in last], "poll"
    )
    await world.app.poster.post_queued()
    views = [p.view for p in world.chat.posts(CHANNEL) if p.view is not None]
    scores = [v.score for v in views]
    assert None not in scores and scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert [v.rank for v in views] == sorted(v.rank for v in views) and views[0].of == 12
    digest = world.app.digests.digest(world.app.channels.routes()[0])
    posted = [item.paper_id for item in digest.items if item.detail.startswith("posted")]
    assert posted == [v.paper.id for v in views]
    assert all(" · fits " in item.detail for item in digest.items[: len(posted)])
