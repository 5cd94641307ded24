"""Tags, TL;DRs and chat subscriptions: the tagger, the summariser against a fake
OpenAI-compatible server (real HTTP on 127.0.0.1), posts edited in place, and mentions."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from bot.app import App, wire
from bot.config import ConfigError, RulesSource, load_config
from bot.models import CommandEvent, Incoming, Match, Paper, Reason
from bot.summarise import Summariser
from bot.tagging import LearntTagger, Tagger, TermTagger
from storage.store import Store
from tests.conftest import FakeClock
from tests.fakes.chat import MemoryChat
from tests.fakes.openai_api import FakeOpenAI, error, rate_limited, reply, summary

ROUTES = """\
[[routes]]
name = "llm-systems"
categories = ["cs.DC"]
accept = ["llm"]
{extra}
[routes.tags]
serving = {{ about = "LLM serving", terms = ["llm serving", "inference serving"] }}
kernel = {{ about = "CUDA kernels" }}
edge = {{ about = "edge devices" }}
"""
CHANNEL = "test:llm-systems"


def paper(pid: str, title: str, abstract: str = "", cats: tuple[str, ...] = ("cs.DC",)) -> Paper:
    return Paper(pid, title, abstract=abstract, categories=cats, primary_category=cats[0])


class World:
    def __init__(self, tmp_path: Path, clock: FakeClock, llm: FakeOpenAI | None, extra: str = ""):
        self.config = tmp_path / "paperbot.toml"
        self.config.write_text(ROUTES.format(extra=extra), encoding="utf-8")
        self.clock = clock
        self.store = Store.open(tmp_path / "paperbot.db", clock)
        self.chat = MemoryChat()
        self.sleeps: list[float] = []
        self.summariser = None
        if llm is not None:

            async def sleep(seconds: float) -> None:
                self.sleeps.append(seconds)

            self.summariser = Summariser(
                store=self.store,
                clock=clock,
                base_url=llm.url,
                api_key="sk-test-secret",
                model="test-model",
                max_calls_per_day=5,
                timeout=5,
                retries=2,
                retry_wait=0,
                sleep=sleep,
            )
        self.app: App = wire(
            store=self.store,
            rules=RulesSource(self.config),
            clock=clock,
            chats={"test": self.chat},
            summariser=self.summariser,
        )

    def arrive(self, *papers: Paper) -> None:
        self.store.upsert_papers(
            [Incoming(p, date(2026, 11, 24), True, "rss:test") for p in papers]
        )
        _, matcher = RulesSource(self.config).current()
        self.store.add_matches(matcher.match_many(papers), "poll")

    async def close(self) -> None:
        if self.summariser is not None:
            await self.summariser.close()
        self.store.close()


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


# --- the tagger ------------------------------------------------------------------------------


def test_term_tags_use_the_accept_term_syntax() -> None:
    config_route = load_config_text(ROUTES.format(extra=""))
    tagger = TermTagger(config_route.tags)
    assert tagger.tags(paper("1", "Fast inference serving for LLMs")) == ["serving"]
    assert tagger.tags(paper("2", "Observing the server farm")) == []  # whole words only


def load_config_text(text: str, tmp: Path | None = None):  # type: ignore[no-untyped-def]
    import tempfile

    folder = Path(tmp or tempfile.mkdtemp())
    (folder / "paperbot.toml").write_text(text, encoding="utf-8")
    return load_config(folder / "paperbot.toml").routes[0]


def test_a_bad_tag_term_names_its_line(tmp_path: Path) -> None:
    text = ROUTES.format(extra="").replace('"inference serving"', '"/(unclosed/"')
    with pytest.raises(ConfigError, match=r"line 7: routes\.0\.tags: .*tags\.serving"):
        load_config_text(text, tmp_path)


KERNEL = "kernel"
EXAMPLES = [
    (paper(f"k{i}", f"Fused CUDA kernel number {i} for attention operators"), (KERNEL,))
    for i in range(4)
] + [(paper(f"e{i}", f"On-device phone inference study {i}"), ("edge",)) for i in range(4)]


def test_the_learnt_tagger_assigns_term_less_tags_from_examples() -> None:
    model = LearntTagger(EXAMPLES, ["kernel", "edge"])
    assert model.tags == ("kernel", "edge")
    got = model.predict([paper("x", "A CUDA kernel for attention"), paper("y", "Phone inference")])
    assert got == [["kernel"], ["edge"]]


def test_the_tagger_learns_from_curators_and_retrains_when_tags_change(
    tmp_path: Path, clock: FakeClock
) -> None:
    world = World(tmp_path, clock, None)
    route = world.app.channels.route("llm-systems")
    assert route is not None
    world.store.upsert_papers([Incoming(p, None, False, "list:x") for p, _ in EXAMPLES])
    tagger = Tagger(world.store)
    probe = paper("x", "A CUDA kernel for attention")
    assert tagger.tags(route, probe) == ()  # nothing tagged yet: nothing learnt
    for p, tags in EXAMPLES:
        world.store.set_note(p.id, route.name, tags=tags, tags_by="curator:slack:U1")
    assert tagger.tags(route, probe) == ("kernel",)
    first = tagger.learnt(route)
    assert tagger.learnt(route) is first  # unchanged tags: no retraining
    world.store.set_note("k0", route.name, tags=("edge",), tags_by="curator:slack:U1")
    assert tagger.learnt(route) is not first


# --- the summariser against the fake endpoint ---------------------------------------------


async def test_an_answer_keeps_vocabulary_tags_and_is_never_asked_twice(
    tmp_path: Path, clock: FakeClock, llm: FakeOpenAI
) -> None:
    world = World(tmp_path, clock, llm)
    route = world.app.channels.route("llm-systems")
    assert route is not None
    long = " ".join(["word"] * 80) + " 3x faster."
    llm.queue(summary(True, ["Serving", "blockchain", "kernel", "edge", "x"], long))
    p = paper("2611.00001", "An LLM paper")
    got = await world.summariser.summarise(route, p)  # type: ignore[union-attr]
    assert got is not None and got.status == "ok" and got.relevant is True
    assert got.tags == ("serving", "kernel", "edge")  # unknown dropped, spelling the route's
    assert len(got.tldr.split()) == 60
    again = await world.summariser.summarise(route, p)  # type: ignore[union-attr]
    assert again == world.store.summary(p.id, route.name)
    assert len(llm.requests) == 1 and llm.keys == ["Bearer sk-test-secret"]
    assert "kernel: CUDA kernels" in llm.requests[0]["messages"][0]["content"]
    await world.close()


async def test_429_waits_for_retry_after_then_succeeds(
    tmp_path: Path, clock: FakeClock, llm: FakeOpenAI
) -> None:
    world = World(tmp_path, clock, llm)
    route = world.app.channels.route("llm-systems")
    assert route is not None
    llm.queue(rate_limited(7), summary(True, ["edge"], "Runs on phones, 2x faster."))
    got = await world.summariser.summarise(route, paper("2611.00001", "t"))  # type: ignore[union-attr]
    assert got is not None and got.tags == ("edge",)
    assert world.sleeps == [7.0] and len(llm.requests) == 2
    await world.close()


async def test_errors_and_broken_json_are_logged_and_leave_no_summary(
    tmp_path: Path, clock: FakeClock, llm: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(tmp_path, clock, llm)
    route = world.app.channels.route("llm-systems")
    assert route is not None
    caplog.set_level(logging.WARNING)
    llm.queue(error(500), error(502), error(503))
    failed = await world.summariser.summarise(route, paper("2611.00001", "t"))  # type: ignore[union-attr]
    assert failed is not None and failed.status == "failed" and len(llm.requests) == 3
    # the endpoint was down: not asked again at once, but once some hours have passed
    again = await world.summariser.summarise(route, paper("2611.00001", "t"))  # type: ignore[union-attr]
    assert again is not None and again.status == "failed" and len(llm.requests) == 3
    clock.advance(hours=6)
    llm.queue(reply('{"relevant": true, "tags": ["edge"], "tldr": "Back up, 2x."}'))
    recovered = await world.summariser.summarise(route, paper("2611.00001", "t"))  # type: ignore[union-attr]
    assert recovered is not None and recovered.status == "ok" and recovered.tldr == "Back up, 2x."
    assert len(llm.requests) == 4
    llm.queue(reply('{"relevant": true, "tags": ["edge"], "tldr": "cut off'))
    broken = await world.summariser.summarise(route, paper("2611.00002", "t"))  # type: ignore[union-attr]
    assert broken is not None and broken.status == "bad-output" and not broken.tldr
    assert "bad output for 2611.00002, not used: the answer is not JSON" in caplog.text
    assert "sk-test-secret" not in caplog.text
    await world.close()


async def test_the_daily_budget_stops_calls(
    tmp_path: Path, clock: FakeClock, llm: FakeOpenAI
) -> None:
    world = World(tmp_path, clock, llm)
    route = world.app.channels.route("llm-systems")
    assert route is not None
    for i in range(5):
        await world.summariser.summarise(route, paper(f"2611.0000{i}", "t"))  # type: ignore[union-attr]
    assert await world.summariser.summarise(route, paper("2611.00009", "t")) is None  # type: ignore[union-attr]
    assert len(llm.requests) == 5
    clock.advance(days=1)
    assert await world.summariser.summarise(route, paper("2611.00009", "t")) is not None  # type: ignore[union-attr]
    await world.close()


# --- posts: out at once, edited in place ---------------------------------------------------


async def test_a_post_goes_out_at_once_and_is_edited_when_tags_and_tldr_arrive(
    tmp_path: Path, clock: FakeClock, llm: FakeOpenAI
) -> None:
    world = World(tmp_path, clock, llm)
    world.arrive(paper("2611.00001", "LLM serving on a budget", "We serve LLMs."))
    llm.queue(summary(True, ["serving", "kernel"], "Serves LLMs 2x cheaper."))
    assert await world.app.poster.post_queued() == 1
    (post,) = world.chat.posts()
    assert post.view is not None and post.view.tags == () and not llm.requests  # not waited for
    assert world.app.notes is not None
    assert await world.app.notes.run() == 1
    assert post.edits[-1].tags == ("serving", "kernel")
    assert post.edits[-1].tldr == "Serves LLMs 2x cheaper."
    assert await world.app.notes.run() == 0 and len(llm.requests) == 1
    await world.close()


async def test_a_failed_call_leaves_the_post_with_its_term_tags(
    tmp_path: Path, clock: FakeClock, llm: FakeOpenAI
) -> None:
    world = World(tmp_path, clock, llm)
    world.arrive(paper("2611.00001", "LLM serving on a budget"))
    llm.queue(error(500))
    await world.app.poster.post_queued()
    assert world.app.notes is not None
    await world.app.notes.run()
    (post,) = world.chat.posts()
    assert [e.tags for e in post.edits] == [("serving",)]  # the terms' tag, no TL;DR
    assert post.edits[-1].tldr == ""
    await world.close()


async def test_without_a_key_posts_get_term_tags_and_nothing_is_called(
    tmp_path: Path, clock: FakeClock, llm: FakeOpenAI
) -> None:
    world = World(tmp_path, clock, None)
    world.arrive(paper("2611.00001", "LLM serving on a budget"))
    await world.app.poster.post_queued()
    assert world.app.notes is not None
    await world.app.notes.run()
    (post,) = world.chat.posts()
    assert post.edits[-1].tags == ("serving",) and not llm.requests
    await world.close()


async def test_llm_filter_posts_unmatched_papers_judged_relevant(
    tmp_path: Path, clock: FakeClock, llm: FakeOpenAI
) -> None:
    world = World(tmp_path, clock, llm, extra="llm_filter = true")
    world.arrive(
        paper("2611.00001", "Speculative decoding in practice"),  # no term matches
        paper("2611.00002", "A survey of fish"),
        paper("2611.00003", "Other category", cats=("math.AG",)),
    )
    llm.queue(summary(True, ["serving"], "Decodes 2x faster."), summary(False, [], "Fish."))
    assert world.app.notes is not None
    await world.app.notes.run()
    assert llm.titles() == ["Speculative decoding in practice", "A survey of fish"]
    (match,) = world.store.matches_for("2611.00001")
    assert "summariser judged it relevant" in match.reasons[0].term
    assert world.store.matches_for("2611.00002") == []
    await world.app.poster.post_queued()
    await world.app.notes.run()
    (post,) = world.chat.posts()
    assert post.edits[-1].tldr == "Decodes 2x faster."
    assert len(llm.requests) == 2  # the cached answer served the post
    await world.close()


# --- commands and subscriptions -------------------------------------------------------------


def command(world: World, text: str, user: str = "test:U1") -> CommandEvent:
    return CommandEvent(CHANNEL, user, text)


async def test_subscribers_are_mentioned_once_per_matching_post(
    tmp_path: Path, clock: FakeClock
) -> None:
    world = World(tmp_path, clock, None)
    on = world.app.on_command
    assert (await on(command(world, "subscribe serving"))).text.startswith("Subscribed to tag:")
    assert (await on(command(world, "subscribe author:Ada Lovelace", "test:U2"))).ok
    assert (await on(command(world, 'subscribe "kv cache"', "test:U3"))).ok
    assert "tag:serving" in (await on(command(world, "subscriptions"))).text
    world.arrive(
        Paper("2611.00001", "LLM serving", authors=("Ada Lovelace",), categories=("cs.DC",)),
        paper("2611.00002", "LLM training"),
    )
    await world.app.poster.post_queued()
    assert world.app.notes is not None
    await world.app.notes.run()
    await world.app.notes.run()
    posts = {p.view.paper.id: p for p in world.chat.posts() if p.view}
    assert world.chat.replies == [
        (
            "llm-systems",
            posts["2611.00001"].ref,
            "For <@U1> (tag:serving), <@U2> (author:Ada Lovelace)",
        )
    ]
    assert (await on(command(world, "unsubscribe serving"))).ok
    assert not (await on(command(world, "unsubscribe serving"))).ok


async def test_curators_change_tags_and_search_finds_them(tmp_path: Path, clock: FakeClock) -> None:
    world = World(tmp_path, clock, None)
    world.arrive(paper("2611.00001", "LLM serving"))
    await world.app.poster.post_queued()
    on = world.app.on_command
    answer = await on(command(world, "tag 2611.00001 +edge +Kernel -serving"))
    assert answer.ok and answer.text == "Tags of 2611.00001 now: llm-systems: edge kernel"
    assert not (await on(command(world, "tag 2611.00001 +nonsense"))).ok
    note = world.store.note("2611.00001", "llm-systems")
    assert note is not None and note.tags_by == "curator:test:U1"
    assert world.store.unpublished_mark("llm-systems") is not None
    (post,) = world.chat.posts()
    assert post.edits[-1].tags == ("edge", "kernel")  # the post shows it at once
    found = await on(command(world, "search tag:kernel"))
    assert [i.paper_id for i in found.items] == ["2611.00001"]
    assert "`edge` `kernel`" in found.items[0].detail
    assert (await on(command(world, "search tag:serving"))).items == ()


def test_a_route_without_tags_loads_as_before(tmp_path: Path) -> None:
    route = load_config_text("[[routes]]\nname = 'r'\ncategories = ['cs.DC']\n", tmp_path)
    assert route.tags == () and route.llm_filter is False


def test_matches_from_the_filter_are_marked_in_the_post_reasons() -> None:
    from bot.display import post_content
    from bot.models import PostView
    from bot.notes import LLM_REASON

    view = PostView(paper("1", "t"), ("r",), (Reason(LLM_REASON, "request", ""),))
    assert post_content(view).reasons == (LLM_REASON,)
    assert Match("1", "r").reasons == ()


def test_importing_the_teams_list_keeps_every_tag_and_tldr_and_teaches_the_tagger(
    tmp_path: Path, clock: FakeClock, shared_fixtures: Path
) -> None:
    from bot.paperlist import parse
    from bot.publish import import_list

    text = (shared_fixtures / "lists" / "daily-arxiv-llm.2026-03-30.md").read_text("utf-8")
    world = World(tmp_path, clock, None)
    import_list(world.store, "llm-systems", text)
    entries = {e.id: e for e in reversed(parse(text).entries)}  # the first entry of an id wins
    kept = world.store.list_entries("llm-systems", list(entries))
    assert {i: (r.tags, r.tldr) for i, r in kept.items()} == {
        i: (e.tags, e.tldr) for i, e in entries.items()
    }
    assert parse(text).text == text  # rendering the parsed list back is byte-exact
    assert len(world.store.human_tagged("llm-systems")) == sum(
        bool(e.tags) for e in entries.values()
    )
    route = world.app.channels.route("llm-systems")
    assert route is not None
    assert Tagger(world.store).learnt(route).tags == ("kernel", "edge")  # the term-less ones
