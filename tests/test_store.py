"""The SQLite store on a real file: natural keys, versions, migrations."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bot.models import FeedRun, Incoming, Match, Paper, Reason
from storage.migrations import MIGRATIONS
from storage.store import Store
from tests.conftest import FakeClock


def paper(pid: str, version: int = 1, title: str = "T") -> Paper:
    return Paper(id=pid, title=title, version=version, categories=("cs.DC",))


def test_a_paper_is_stored_once_and_updated_by_newer_versions(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = Store.open(tmp_path / "p.db", clock)
    first = store.upsert_papers([Incoming(paper("2611.00001"), date(2026, 11, 24), True, "rss:x")])
    again = store.upsert_papers([Incoming(paper("2611.00001"), date(2026, 11, 24), True, "rss:x")])
    clock.advance(days=3)
    bumped = store.upsert_papers(
        [Incoming(paper("2611.00001", 2, "Better title"), date(2026, 11, 27), False, "rss:y")]
    )
    older = store.upsert_papers([Incoming(paper("2611.00001", 1, "Old"), None, True, "api:x")])

    assert first.new_ids == ("2611.00001",)
    assert again.new_ids == () and again.updated_ids == ()
    assert bumped.updated_ids == ("2611.00001",)
    assert older.updated_ids == ()
    stored = store.get_paper("2611.00001")
    assert stored is not None
    assert (stored.paper.version, stored.paper.title) == (2, "Better title")
    # the first sighting fixes listing date, first-seen time and candidacy
    assert stored.listing_date == date(2026, 11, 24)
    assert stored.candidate is True and stored.source == "rss:x"
    assert store.count_papers() == 1


def test_data_survives_reopening_and_migrations_run_once(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "p.db"
    store = Store.open(path, clock)
    store.upsert_papers([Incoming(paper("cs/0112017"), None, True, "api:x")])
    store.set_covered_until("rss:cs.DC", date(2026, 11, 24))
    store.close()
    reopened = Store.open(path, clock)
    assert reopened.get_paper("cs/0112017") is not None
    assert reopened.covered_until("rss:cs.DC") == date(2026, 11, 24)
    reopened.close()
    again = Store.open(path, clock)
    applied = [row["name"] for row in again.db.query("select name from _sqlite_migrations")]
    assert applied == [m.name for m in MIGRATIONS.applied(again.db)]
    assert len(applied) == len(set(applied)) >= 2


def test_matches_are_recorded_once(tmp_path: Path, clock: FakeClock) -> None:
    store = Store.open(tmp_path / "p.db", clock)
    store.upsert_papers([Incoming(paper("2611.00001"), None, True, "rss:x")])
    m = Match("2611.00001", "llm", (Reason("llm", "title", "LLMs"),))
    assert store.add_matches([m], "poll") == [m]
    assert store.add_matches([m], "poll") == []
    assert store.matches_for("2611.00001") == [m]


def test_feed_runs_keep_etags_and_status(tmp_path: Path, clock: FakeClock) -> None:
    store = Store.open(tmp_path / "p.db", clock)
    store.record_feed_run(FeedRun("rss:a", clock(), "ok", date(2026, 11, 24), 3, 3, '"e1"'))
    store.record_feed_run(FeedRun("rss:a", clock(), "error", error="HTTP 500"))
    assert store.last_feed_run("rss:a") is not None
    last_good = store.last_feed_run("rss:a", ["ok"])
    assert last_good is not None and last_good.etag == '"e1"'
    assert store.last_feed_run("rss:a", ["stale"]) is None


def test_dry_run_copy_leaves_the_file_untouched(tmp_path: Path, clock: FakeClock) -> None:
    store = Store.open(tmp_path / "p.db", clock)
    copy = store.copy_in_memory()
    copy.upsert_papers([Incoming(paper("2611.00009"), None, True, "rss:x")])
    assert copy.get_paper("2611.00009") is not None
    assert store.get_paper("2611.00009") is None


def test_decisions_keep_history_and_only_record_changes(tmp_path: Path, clock: FakeClock) -> None:
    store = Store.open(tmp_path / "p.db", clock)
    assert store.decide("2611.00001", "llm", "accepted", "votes", "2 up, 0 down") is not None
    assert store.decide("2611.00002", "llm", "accepted", "import", "in the list") is not None
    assert store.decide("2611.00001", "llm", "accepted", "votes", "3 up, 0 down") is None
    clock.advance(hours=1)
    flipped = store.decide("2611.00001", "llm", "rejected", "alice", "curator veto")
    assert flipped is not None
    assert flipped.decided_by == "alice"
    assert [d.paper_id for d in store.decisions("llm", "accepted")] == ["2611.00002"]
    history = store.decision_history("2611.00001")
    assert [(d.status, d.decided_by) for d in history] == [
        ("accepted", "votes"),
        ("rejected", "alice"),
    ]


def test_atomic_commits_or_rolls_back_as_a_whole_and_nests_as_savepoints(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = Store.open(tmp_path / "p.db", clock)
    with store.atomic():
        store.upsert_papers([Incoming(paper("2611.00001"), None, True, "rss:x")])
        try:
            with store.atomic():
                store.upsert_papers([Incoming(paper("2611.00002"), None, True, "rss:x")])
                raise KeyError("inner")
        except KeyError:
            pass
    assert [s.paper.id for s in store.get_papers(["2611.00001", "2611.00002"])] == ["2611.00001"]
    try:
        with store.atomic():
            store.upsert_papers([Incoming(paper("2611.00003"), None, True, "rss:x")])
            raise KeyError("outer")
    except KeyError:
        pass
    assert store.count_papers() == 1
    assert not store.db.conn.in_transaction
