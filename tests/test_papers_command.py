"""The command layer shared by /papers and the CLI, on a real SQLite file."""

from __future__ import annotations

import contextlib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import UsageError
from bot.models import Incoming, Match, Paper, Reason
from bot.papers_command import USAGE, PapersCommand, parse_command
from storage.store import Store
from tests.conftest import FakeClock, examples

ROUTES = ["llm-systems"]


def seed(store: Store) -> None:
    papers = [
        (
            Paper(
                "2611.00001", "KV cache compression for LLM serving", abstract="We compress keys."
            ),
            date(2026, 11, 24),
        ),
        (
            Paper("2611.00002", "Average storage leverage", authors=("Grace Hopper",)),
            date(2026, 11, 23),
        ),
        (Paper("2610.00003", "Old decoding paper"), date(2026, 10, 1)),
    ]
    store.upsert_papers([Incoming(p, d, True, "rss:x") for p, d in papers])
    store.add_matches(
        [
            Match("2611.00001", "llm-systems", (Reason("llm", "title", "LLM"),)),
            Match("2610.00003", "llm-systems", (Reason("decod*", "title", "decoding"),)),
        ],
        "poll",
    )


@pytest.fixture
def commands(tmp_path: Path, clock: FakeClock) -> PapersCommand:
    store = Store.open(tmp_path / "p.db", clock)
    seed(store)
    return PapersCommand(store, clock)


async def test_recent_lists_matched_papers_of_the_last_days(commands: PapersCommand) -> None:
    reply = await commands.run("recent 3", ROUTES)
    assert [i.paper_id for i in reply.items] == ["2611.00001"]
    month = await commands.run("recent 90", ROUTES)
    assert [i.paper_id for i in month.items] == ["2611.00001", "2610.00003"]
    other = await commands.run("recent", ["other-route"])
    assert other.items == ()
    assert other.text == "Matched in the last 3 days: 0"


async def test_search_finds_title_abstract_and_authors_newest_first(
    commands: PapersCommand,
) -> None:
    assert [i.paper_id for i in (await commands.run("search kv cache", ROUTES)).items] == [
        "2611.00001"
    ]
    assert [i.paper_id for i in (await commands.run("search hopper", ROUTES)).items] == [
        "2611.00002"
    ]
    assert [i.paper_id for i in (await commands.run("search compress", ROUTES)).items] == [
        "2611.00001"
    ]
    assert [i.paper_id for i in (await commands.run("search compres", ROUTES)).items] == []
    assert [i.paper_id for i in (await commands.run('search "OR" NOT *', ROUTES)).items] == []


@settings(max_examples=examples(200), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.text(min_size=1, max_size=60))
async def test_any_search_text_is_safe(commands: PapersCommand, words: str) -> None:
    reply = await commands.run("search " + words, ROUTES)
    assert reply.text  # an answer, never an FTS syntax error


async def test_why_shows_rule_reasons_decision_and_votes(commands: PapersCommand) -> None:
    store = commands.store
    store.set_vote("2611.00001", "slack:U1", 1, "reaction:+1", "slack:C1")
    store.decide("2611.00001", "llm-systems", "accepted", "votes", "2 up, 0 down")
    text = (await commands.run("why arXiv:2611.00001v2", ROUTES)).text
    assert "Route llm-systems: 'llm' in title: \"LLM\"" in text
    assert "accepted by votes (2 up, 0 down)" in text
    assert "slack:U1 +1" in text
    unknown = await commands.run("why 2501.99999", ROUTES)
    assert "not in the database" in unknown.text


async def test_why_shows_the_tags_and_tldr_of_each_route(commands: PapersCommand) -> None:
    commands.store.set_note(
        "2611.00001", "llm-systems", tags=["serving"], tags_by="tagger", tldr="Compresses 4x.",
        tldr_by="llm",
    )  # fmt: skip
    text = (await commands.run("why 2611.00001", ROUTES)).text
    assert "  tags: serving (by tagger)" in text
    assert "  TL;DR: Compresses 4x." in text


async def test_why_shows_the_whole_decision_history_even_without_a_match(
    commands: PapersCommand, clock: FakeClock
) -> None:
    store = commands.store
    store.decide("2611.00001", "llm-systems", "accepted", "votes", "2 up, 0 down")
    clock.advance(hours=2)
    store.decide("2611.00001", "llm-systems", "pending", "votes", "1 up, 0 down")
    clock.advance(hours=2)
    store.decide("2611.00001", "llm-systems", "rejected", "slack:U9", "rejected by slack:U9")
    lines = (await commands.run("why 2611.00001", ROUTES)).text.splitlines()
    history = [line.strip() for line in lines[lines.index("Decisions on llm-systems:") + 1 :]]
    assert [h.split(": ", 1)[1] for h in history] == [
        "accepted by votes (2 up, 0 down)",
        "pending by votes (1 up, 0 down)",
        "rejected by slack:U9 (rejected by slack:U9)",
    ]
    # an imported paper matched no route, yet its decision is explained
    store.decide("2611.00002", "llm-systems", "accepted", "import", "listed on 2026-11-23")
    text = (await commands.run("why 2611.00002", ROUTES)).text
    assert "It matched no route." in text
    assert "accepted by import (listed on 2026-11-23)" in text


async def test_accepted_and_rejected_by_days(commands: PapersCommand, clock: FakeClock) -> None:
    commands.store.decide("2611.00001", "llm-systems", "accepted", "votes", "2 up")
    clock.advance(days=10)
    commands.store.decide("2610.00003", "llm-systems", "rejected", "alice", "off topic")
    assert [i.paper_id for i in (await commands.run("accepted", ROUTES)).items] == []
    assert [i.paper_id for i in (await commands.run("accepted 30", ROUTES)).items] == ["2611.00001"]
    assert [i.paper_id for i in (await commands.run("rejected", ROUTES)).items] == ["2610.00003"]


async def test_stats_and_status(commands: PapersCommand) -> None:
    commands.store.set_vote("2611.00001", "slack:U1", 1, "button", "slack:C1")
    stats = (await commands.run("stats", ROUTES)).text
    assert "3 papers seen, 2 matched" in stats
    assert "slack:U1 (1)" in stats
    status = (await commands.run("status", ROUTES)).text
    assert "Last good poll: never" in status
    assert "Posts pending: 2" in status  # two matches queued for posting


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("frobnicate", "'frobnicate' is not a command"),
        ("recent soon", "'soon' is not a number of days"),
        ("recent 0", "'0' is not a number of days"),
        ("recent 1 2", "at most one number"),
        ("search", "search needs words"),
        ("why", "needs one arXiv id"),
        ("why not-an-id", "'not-an-id' is not an arXiv id"),
        ("stats now", "takes no arguments"),
    ],
)
async def test_bad_commands_get_one_sentence_and_the_usage(
    commands: PapersCommand, text: str, problem: str
) -> None:
    reply = await commands.run(text, ROUTES)
    assert not reply.ok
    assert problem in reply.text
    assert USAGE in reply.text


@given(text=st.text(max_size=80))
def test_parse_raises_nothing_but_usage_errors(text: str) -> None:
    with contextlib.suppress(UsageError):
        parsed = parse_command(text)
        assert parsed.name in {
            "help",
            "recent",
            "search",
            "accepted",
            "rejected",
            "pending",
            "stats",
            "why",
            "add",
            "status",
        }
