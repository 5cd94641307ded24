"""The poll pipeline end to end: a local arXiv, a real SQLite file, the real matcher."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.app import open_ingest
from bot.errors import ArxivUnavailable
from bot.ingest import PollReport
from storage.store import Store
from tests.conftest import ROUTES_TOML, FakeClock, make_settings
from tests.fakes.arxiv import Answer, FakeArxiv
from tests.fakes.feeds import Item, api_page, atom, rss

FEED = "/rss/cs.DC+cs.OS"
MON, TUE, WED, THU = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26)

SERVING = Item("2611.10001", "Serving LLMs at Scale", "We cut latency.", categories=("cs.DC",))
STORAGE = Item(
    "2611.10002",
    "Average Storage Leverage",
    "A ragged approach to storage.",
    categories=("cs.OS",),
)
CROSS = Item(
    "2611.10003",
    "RAG pipelines on clusters",
    categories=("cs.LG", "cs.DC"),
    announce="cross",
)
REPLACED = Item("2601.00004", "An LLM paper from January", version=3, announce="replace")
FEDERATED = Item("2611.10005", "Federated LLM Training", categories=("cs.DC",))


async def poll(
    tmp_path: Path, arxiv: FakeArxiv, clock: FakeClock, **settings: object
) -> PollReport:
    async with open_ingest(make_settings(tmp_path, arxiv.url, **settings), clock=clock) as pipe:
        return await pipe.poll_once()


def store(tmp_path: Path, clock: FakeClock) -> Store:
    return Store.open(tmp_path / "paperbot.db", clock)


async def test_poll_stores_everything_and_matches_candidates_with_reasons(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    fake_arxiv.queue(FEED, Answer(rss(TUE, [SERVING, STORAGE, CROSS, REPLACED, FEDERATED])))
    report = await poll(tmp_path, fake_arxiv, clock)

    assert [(m.paper.paper.id, m.match.route) for m in report.matches] == [
        ("2611.10001", "llm-systems"),
        ("2611.10003", "llm-systems"),
    ]
    serving = report.matches[0]
    assert [r.as_dict() for r in serving.match.reasons] == [
        {"term": "llm", "field": "title", "text": "LLMs"}
    ]
    assert serving.paper.listing_date == TUE
    db = store(tmp_path, clock)
    assert db.count_papers() == 5  # every paper is kept, matched or not
    replaced = db.get_paper("2601.00004")
    assert replaced is not None and replaced.paper.version == 3 and not replaced.candidate
    assert db.matches_for("2611.10005") == []  # reject terms win
    assert [r.status for r in report.runs] == ["ok"]


async def test_a_repoll_changes_nothing(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    fake_arxiv.queue(FEED, Answer(rss(TUE, [SERVING, CROSS])))
    first = await poll(tmp_path, fake_arxiv, clock)
    clock.advance(minutes=15)
    second = await poll(tmp_path, fake_arxiv, clock)
    assert len(first.matches) == 2
    assert second.matches == []
    assert store(tmp_path, clock).count_papers() == 2


async def test_conditional_repoll_is_not_modified(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    fake_arxiv.queue(FEED, Answer(rss(TUE, [SERVING]), headers={"ETag": '"tue"'}))
    await poll(tmp_path, fake_arxiv, clock)
    clock.advance(minutes=15)
    second = await poll(tmp_path, fake_arxiv, clock)
    assert [r.status for r in second.runs] == ["not-modified"]
    assert fake_arxiv.requests_to(FEED)[1].headers.get("If-None-Match") == '"tue"'


async def test_a_paper_in_two_feeds_is_one_paper(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock
) -> None:
    (tmp_path / "paperbot.toml").write_text(
        "[[routes]]\nname = 'sys'\ncategories = ['cs.DC']\naccept = ['rag']\n"
        "[[routes]]\nname = 'ml'\ncategories = ['cs.LG']\naccept = ['pipelines']\n",
        encoding="utf-8",
    )
    fake_arxiv.queue("/rss/cs.DC", Answer(rss(TUE, [CROSS], "cs.DC")))
    fake_arxiv.queue(
        "/rss/cs.LG",
        Answer(rss(TUE, [Item(CROSS.id, CROSS.title, categories=CROSS.categories)], "cs.LG")),
    )
    report = await poll(tmp_path, fake_arxiv, clock)
    assert sorted(m.match.route for m in report.matches) == ["ml", "sys"]
    assert store(tmp_path, clock).count_papers() == 1


async def test_a_replacement_updates_the_paper_but_is_never_new_again(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    fake_arxiv.queue(FEED, Answer(rss(TUE, [SERVING])))
    await poll(tmp_path, fake_arxiv, clock)
    clock.advance(days=1)
    v2 = Item(SERVING.id, "Serving LLMs at Scale, revised", version=2, announce="replace")
    fake_arxiv.queue(FEED, Answer(rss(WED, [v2])))
    report = await poll(tmp_path, fake_arxiv, clock)
    assert report.matches == []
    stored = store(tmp_path, clock).get_paper(SERVING.id)
    assert stored is not None
    assert stored.paper.version == 2 and stored.paper.title == "Serving LLMs at Scale, revised"
    assert stored.listing_date == TUE  # the first listing it came in


async def test_a_quiet_day_is_recorded_not_an_error(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    fake_arxiv.queue(FEED, Answer(rss(TUE, [])))
    report = await poll(tmp_path, fake_arxiv, clock)
    assert [(r.status, r.items) for r in report.runs] == [("quiet", 0)]
    assert not report.failed


async def test_a_stale_batch_under_a_new_date_is_not_new(
    tmp_path: Path,
    fake_arxiv: FakeArxiv,
    clock: FakeClock,
    config_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_arxiv.queue(FEED, Answer(rss(TUE, [SERVING, CROSS])))
    await poll(tmp_path, fake_arxiv, clock)
    clock.advance(days=1)
    fake_arxiv.queue(FEED, Answer(rss(WED, [SERVING, CROSS])))  # yesterday's ids, today's date
    with caplog.at_level(logging.WARNING):
        report = await poll(tmp_path, fake_arxiv, clock)
    assert [r.status for r in report.runs] == ["stale"]
    assert report.matches == []
    assert "stale" in caplog.text
    stored = store(tmp_path, clock).get_paper(SERVING.id)
    assert stored is not None and stored.listing_date == TUE


async def test_a_broken_feed_loses_nothing_and_the_next_poll_retries(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    fake_arxiv.queue(FEED, Answer(rss(TUE, [SERVING])))
    await poll(tmp_path, fake_arxiv, clock)
    clock.advance(days=1)
    wed = rss(WED, [CROSS])
    fake_arxiv.queue(FEED, Answer(wed[: len(wed) - 40]))  # truncated, every try
    broken = await poll(tmp_path, fake_arxiv, clock, arxiv_retries=1)
    assert [r.status for r in broken.runs] == ["error"]
    assert broken.runs[0].error
    assert store(tmp_path, clock).get_paper(SERVING.id) is not None

    fake_arxiv.queue(FEED, Answer(wed))
    fixed = await poll(tmp_path, fake_arxiv, clock)
    assert [m.paper.paper.id for m in fixed.matches] == [CROSS.id]


async def test_missed_days_are_caught_up_through_the_api(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    clock.now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday
    fake_arxiv.queue(FEED, Answer(rss(MON, [SERVING])))
    await poll(tmp_path, fake_arxiv, clock)

    clock.now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # Thursday: Tue and Wed were missed
    missed = Item(
        "2611.20001",
        "Speculative decoding on GPUs",
        categories=("cs.DC",),
        published=datetime(2026, 11, 23, 18, 0, tzinfo=UTC),
    )
    fake_arxiv.queue(FEED, Answer(rss(THU, [CROSS])))
    fake_arxiv.queue(
        "/api/query", Answer(api_page([missed, SERVING]), content_type="application/atom+xml")
    )
    report = await poll(tmp_path, fake_arxiv, clock)

    assert sorted(m.paper.paper.id for m in report.matches) == [CROSS.id, missed.id]
    (api_request,) = fake_arxiv.requests_to("/api/query")
    query = api_request.query["search_query"]
    assert "cat:cs.DC" in query and "cat:cs.OS" in query and "submittedDate:[" in query
    caught = store(tmp_path, clock).get_paper(missed.id)
    # submitted Monday 13:00 ET, before the cut-off: the first listing it could be in is Tuesday's
    assert caught is not None and caught.listing_date == date(2026, 11, 24)

    # the gap is closed: the next poll asks the API nothing
    clock.advance(minutes=15)
    await poll(tmp_path, fake_arxiv, clock)
    assert len(fake_arxiv.requests_to("/api/query")) == 1


async def test_catch_up_pages_and_retries_an_empty_throttled_page(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    clock.now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    fake_arxiv.queue(FEED, Answer(rss(MON, [])))
    await poll(tmp_path, fake_arxiv, clock)
    clock.now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # Wednesday; Tuesday missed
    items = [Item(f"2611.3000{i}", f"LLM paper {i}", categories=("cs.OS",)) for i in range(3)]
    fake_arxiv.queue(FEED, Answer(rss(WED, [])))
    atom = "application/atom+xml"
    fake_arxiv.queue(
        "/api/query",
        Answer(api_page(items[:2], total=3), content_type=atom),
        Answer(api_page([], total=3, start=2), content_type=atom),  # throttled: retried
        Answer(api_page(items[2:], total=3, start=2), content_type=atom),
    )
    report = await poll(tmp_path, fake_arxiv, clock, arxiv_page_size=2)
    assert sorted(m.paper.paper.id for m in report.matches) == [i.id for i in items]
    starts = [r.query["start"] for r in fake_arxiv.requests_to("/api/query")]
    assert starts == ["0", "2", "2"]


async def test_dry_run_writes_nothing(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    fake_arxiv.queue(FEED, Answer(rss(TUE, [SERVING])))
    settings = make_settings(tmp_path, fake_arxiv.url)
    async with open_ingest(settings, clock=clock, dry_run=True) as pipe:
        report = await pipe.poll_once()
    assert [m.paper.paper.id for m in report.matches] == [SERVING.id]
    db = store(tmp_path, clock)
    assert db.count_papers() == 0 and db.feed_runs() == []


async def test_rule_changes_apply_at_the_next_poll_and_broken_edits_keep_the_old_rules(
    tmp_path: Path,
    fake_arxiv: FakeArxiv,
    clock: FakeClock,
    config_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    day = [TUE]

    def feed(*items: Item) -> None:
        fake_arxiv.queue(FEED, Answer(rss(day[0], list(items))))

    settings = make_settings(tmp_path, fake_arxiv.url)
    async with open_ingest(settings, clock=clock) as pipe:
        feed(Item("2611.40001", "Kernel bypass networking"))
        assert (await pipe.poll_once()).matches == []

        config_file.write_text(ROUTES_TOML.replace('"rag",', '"rag", "kernel bypass",'), "utf-8")
        day[0] = WED
        clock.advance(days=1)
        feed(Item("2611.40002", "Kernel bypass for storage"))
        assert [m.paper.paper.id for m in (await pipe.poll_once()).matches] == ["2611.40002"]

        config_file.write_text("[[routes]]\nname = 'broken'\n", "utf-8")
        day[0] = THU
        clock.advance(days=1)
        feed(Item("2611.40003", "Kernel bypass again"))
        with caplog.at_level(logging.ERROR):
            report = await pipe.poll_once()
        assert [m.paper.paper.id for m in report.matches] == ["2611.40003"]
        assert "keeping the rules read before" in caplog.text


async def test_backfill_resumes_where_an_interruption_left_it(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    items = [Item(f"2611.5000{i}", f"LLM inference {i}", categories=("cs.DC",)) for i in range(4)]
    atom = "application/atom+xml"
    fake_arxiv.queue(
        "/api/query",
        Answer(api_page(items[:2], total=4), content_type=atom),
        Answer(b"", 503, content_type="text/plain"),
    )
    settings = make_settings(tmp_path, fake_arxiv.url, arxiv_page_size=2, arxiv_retries=1)
    async with open_ingest(settings, clock=clock) as pipe:
        with pytest.raises(ArxivUnavailable):
            await pipe.backfill(date(2026, 11, 1), date(2026, 11, 20))
    assert store(tmp_path, clock).count_papers() == 2

    fake_arxiv.queue("/api/query", Answer(api_page(items[2:], total=4, start=2), content_type=atom))
    progress: list[tuple[int, int | None]] = []
    async with open_ingest(settings, clock=clock) as pipe:
        report = await pipe.backfill(
            date(2026, 11, 1), date(2026, 11, 20), progress=lambda d, t: progress.append((d, t))
        )
    assert report.fetched == 2 and len(report.matches) == 2
    assert fake_arxiv.requests_to("/api/query")[-1].query["start"] == "2"
    assert progress == [(4, 4)]
    assert store(tmp_path, clock).count_papers() == 4


async def test_the_atom_feed_works_the_same(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    fake_arxiv.queue("/atom/cs.DC+cs.OS", Answer(atom(TUE, [SERVING, STORAGE, CROSS, REPLACED])))
    report = await poll(tmp_path, fake_arxiv, clock, arxiv_feed_format="atom")
    assert [m.paper.paper.id for m in report.matches] == [SERVING.id, CROSS.id]
    assert report.matches[0].paper.listing_date == TUE
    assert [r.source for r in report.runs] == ["atom:cs.DC+cs.OS"]


def _many(n: int) -> list[Item]:
    """`n` LLM papers submitted over 2026-11-01..20, a few hours apart."""
    return [
        Item(
            f"2611.{60000 + i}",
            f"LLM inference {i}",
            categories=("cs.DC",),
            published=datetime(2026, 11, 1 + (i * 7) % 20, (i * 5) % 24, i % 60, tzinfo=UTC),
        )
        for i in range(n)
    ]


async def test_backfill_splits_a_window_holding_more_than_one_query_serves(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    items = _many(45)
    fake_arxiv.catalogue(items, limit=10)  # the API's 30000, made small
    settings = make_settings(tmp_path, fake_arxiv.url, arxiv_page_size=4, arxiv_query_limit=10)
    async with open_ingest(settings, clock=clock) as pipe:
        report = await pipe.backfill(date(2026, 11, 1), date(2026, 11, 20))
    assert report.fetched == 45 and report.new_papers == 45 and report.splits > 0
    assert store(tmp_path, clock).count_papers() == 45
    for seen in fake_arxiv.requests_to("/api/query"):  # never a page the API refuses
        assert int(seen.query["start"]) + int(seen.query["max_results"]) <= 10
    # finished: no resume point is left behind
    assert store(tmp_path, clock).backfill_resume("cs.DC+cs.OS:2026-11-01:2026-11-20") == 0


async def test_an_interrupted_split_backfill_resumes_without_refetching_finished_parts(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    items = _many(45)
    fake_arxiv.catalogue(items, limit=10)
    settings = make_settings(tmp_path, fake_arxiv.url, arxiv_page_size=4, arxiv_query_limit=10)

    class Stop(Exception):
        pass

    def stop_after_20(done: int, total: int | None) -> None:
        if done >= 20:
            raise Stop  # stands for SIGTERM between two pages

    async with open_ingest(settings, clock=clock) as pipe:
        with pytest.raises(Stop):
            await pipe.backfill(date(2026, 11, 1), date(2026, 11, 20), progress=stop_after_20)
    first = store(tmp_path, clock).count_papers()
    assert 20 <= first < 45
    async with open_ingest(settings, clock=clock) as pipe:
        report = await pipe.backfill(date(2026, 11, 1), date(2026, 11, 20))
    assert store(tmp_path, clock).count_papers() == 45
    assert report.new_papers == 45 - first
    assert report.fetched < 45  # the parts finished before the interruption are not asked again


async def test_a_resume_point_past_the_limit_starts_over_in_parts_instead_of_failing(
    tmp_path: Path, fake_arxiv: FakeArxiv, clock: FakeClock, config_file: Path
) -> None:
    """What an older paperbot saved after 30000 results: every retry failed at once."""
    fake_arxiv.catalogue(_many(25), limit=10)
    db = store(tmp_path, clock)
    db.set_backfill_resume("cs.DC+cs.OS:2026-11-01:2026-11-20", 10)
    db.close()
    settings = make_settings(tmp_path, fake_arxiv.url, arxiv_page_size=4, arxiv_query_limit=10)
    async with open_ingest(settings, clock=clock) as pipe:
        report = await pipe.backfill(date(2026, 11, 1), date(2026, 11, 20))
    assert report.fetched == 25 and store(tmp_path, clock).count_papers() == 25
