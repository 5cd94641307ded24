"""A database made by the first release opens with today's Store, and all its data reads back.

The schema is the first release's own migrations (tests/fixtures_schema_v1.py, frozen); the
rows are written with plain SQL the way that release's Store wrote them (JSON lists, ISO
times, the full-text index filled in bulk, the same state keys).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlite_utils

from bot.models import Reason
from storage.migrations import MIGRATIONS
from storage.store import Store
from tests.conftest import FakeClock
from tests.fixtures_schema_v1 import MIGRATIONS as MIGRATIONS_V1

WHEN = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)

PAPERS = [
    # id, version, title, authors, abstract, categories, listing date, candidate, source
    ("2611.10001", 2, "Serving LLMs at Scale", ["Ada Lovelace", "Alan Turing"],
     "We serve large language models.", ["cs.DC", "cs.OS"], "2026-11-24", 1, "rss:cs.DC+cs.OS"),
    ("2611.10002", 1, "Speculative Decoding, Revisited", ["Grace Hopper"],
     "Decoding faster.", ["cs.OS"], "2026-11-24", 1, "rss:cs.DC+cs.OS"),
    ("math/0309136", 1, "Old-style ids still work", ["Émilie du Châtelet"],
     "A paper from 2003.", ["math.GT"], None, 1, "api:math.GT"),
]  # fmt: skip


def v1_database(path: Path) -> None:
    """The first release's schema at `path`, holding papers, matches, posts, votes, decisions."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    db = sqlite_utils.Database(conn)
    MIGRATIONS_V1.apply(db)
    with conn:
        for pid, version, title, authors, abstract, cats, listed, candidate, source in PAPERS:
            conn.execute(
                "insert into papers (id, version, title, authors, abstract, categories,"
                " primary_category, published, updated, doi, journal_ref, comment,"
                " listing_date, first_seen, candidate, source)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    pid, version, title, json.dumps(authors, ensure_ascii=False), abstract,
                    json.dumps(cats), cats[0], "2026-11-20T15:00:00+00:00",
                    "2026-11-21T15:00:00+00:00", None, None, "12 pages" if version == 2 else None,
                    listed, WHEN.isoformat(), candidate, source,
                ],
            )  # fmt: skip
        conn.execute(  # the bulk index, as Store._index did it
            "insert into papers_fts (rowid, title, abstract, authors)"
            " select rowid, title, abstract, authors from papers"
        )
        reasons = [{"term": "llm", "field": "title", "text": "LLMs"}]
        conn.executemany(
            "insert into matches (paper_id, route, reasons, matched_at, origin, post_status)"
            " values (?, ?, ?, ?, ?, ?)",
            [
                ("2611.10001", "llm-systems", json.dumps(reasons), WHEN.isoformat(), "poll",
                 "posted"),
                ("2611.10002", "llm-systems", "[]", WHEN.isoformat(), "poll", "queued"),
                ("math/0309136", "llm-systems", "[]", WHEN.isoformat(), "backfill", "none"),
            ],
        )  # fmt: skip
        conn.executemany(
            "insert into posts (paper_id, channel, routes, state, ref, created_at, sent_at,"
            " shown) values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ("2611.10001", "slack:C0123", '["llm-systems"]', "sent", "1732460400.000100",
                 WHEN.isoformat(), WHEN.isoformat(), "accepted"),
                ("2611.10002", "discord:4242", '["llm-systems"]', "intent", None,
                 WHEN.isoformat(), None, None),
            ],
        )  # fmt: skip
        conn.executemany(
            "insert into votes (paper_id, user, value, cast_by, channel, updated_at)"
            " values (?, ?, ?, ?, ?, ?)",
            [
                ("2611.10001", "slack:U1", 1, "reaction:+1", "slack:C0123", WHEN.isoformat()),
                ("2611.10001", "slack:U2", 1, "button", "slack:C0123", WHEN.isoformat()),
                ("2611.10001", "slack:U3", -1, "reaction:-1", "slack:C0123", WHEN.isoformat()),
            ],
        )
        log = [
            ("2611.10001", "llm-systems", "pending", "votes", WHEN, "1 up, 0 down: pending"),
            ("2611.10001", "llm-systems", "accepted", "votes", LATER, "2 up, 1 down: accepted"),
            ("math/0309136", "llm-systems", "accepted", "import", WHEN, "in the imported list"),
        ]
        for pid, route, status, by, at, reason in log:
            seq = conn.execute(
                "insert into decision_log (paper_id, route, status, decided_by, decided_at,"
                " reason) values (?, ?, ?, ?, ?, ?)",
                [pid, route, status, by, at.isoformat(), reason],
            ).lastrowid
            conn.execute(
                "insert or replace into decisions (paper_id, route, status, decided_by,"
                " decided_at, reason, seq) values (?, ?, ?, ?, ?, ?, ?)",
                [pid, route, status, by, at.isoformat(), reason, seq],
            )
        conn.executemany(
            "insert into list_lines (route, paper_id, since) values (?, ?, ?)",
            [("llm-systems", "math/0309136", WHEN.isoformat())],
        )
        conn.executemany(
            "insert into feed_runs (source, started_at, status, listing_date, items,"
            " new_papers, etag, last_modified, ids_digest, error)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [("rss:cs.DC+cs.OS", WHEN.isoformat(), "ok", "2026-11-24", 2, 2, '"abc"',
              "Tue, 24 Nov 2026 05:00:00 GMT", "d1g3st", None)],
        )  # fmt: skip
        conn.executemany(  # the state keys that release wrote
            "insert into state (key, value) values (?, ?)",
            [
                ("unpublished:llm-systems", LATER.isoformat()),
                ("digest:llm-systems", WHEN.isoformat()),
                ("notice:llm-systems:2026-11-24", WHEN.isoformat()),
                ("covered:rss:cs.DC+cs.OS", "2026-11-24"),
                ("backfill:cs.DC+cs.OS:2026-11-01:2026-11-20", "1000"),
            ],
        )
    conn.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    path = tmp_path / "paperbot.db"
    v1_database(path)
    opened = Store.open(path, FakeClock(LATER))
    yield opened
    opened.close()


def migration_names(db: sqlite_utils.Database) -> set[str]:
    return {row["name"] for row in db.query("select name from _sqlite_migrations")}


def test_the_upgrade_keeps_the_old_migrations_and_applies_the_rest(store: Store) -> None:
    first_release = sqlite_utils.Database(memory=True)
    MIGRATIONS_V1.apply(first_release)
    assert migration_names(store.db) >= migration_names(first_release)
    assert not MIGRATIONS.pending(store.db)


def test_papers_read_back(store: Store) -> None:
    assert store.count_papers() == 3
    first = store.get_paper("2611.10001")
    assert first is not None
    assert first.paper.title == "Serving LLMs at Scale"
    assert first.paper.version == 2
    assert first.paper.authors == ("Ada Lovelace", "Alan Turing")
    assert first.paper.categories == ("cs.DC", "cs.OS")
    assert first.paper.primary_category == "cs.DC"
    assert first.paper.comment == "12 pages"
    assert first.paper.published == datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    assert first.listing_date == date(2026, 11, 24)
    assert first.first_seen == WHEN
    assert first.candidate
    assert first.source == "rss:cs.DC+cs.OS"
    old = store.get_paper("math/0309136")
    assert old is not None
    assert old.paper.authors == ("Émilie du Châtelet",)
    assert old.listing_date is None
    found = store.get_papers(["2611.10001", "2611.10002", "2611.99999"])
    assert [s.paper.id for s in found] == ["2611.10001", "2611.10002"]
    assert [p.paper.id for p in store.search(["decoding"])] == ["2611.10002"]
    assert [p.paper.id for p in store.search(["Lovelace"])] == ["2611.10001"]


def test_matches_posts_and_votes_read_back(store: Store) -> None:
    (match,) = store.matches_for("2611.10001")
    assert match.route == "llm-systems"
    assert match.reasons == (Reason("llm", "title", "LLMs"),)
    assert [m.paper_id for m in store.queued_matches()] == ["2611.10002"]
    sent = store.get_post("2611.10001", "slack:C0123")
    assert sent is not None
    assert (sent.state, sent.ref, sent.routes, sent.shown) == (
        "sent",
        "1732460400.000100",
        ("llm-systems",),
        "accepted",
    )
    assert sent.sent_at == WHEN
    assert [p.paper_id for p in store.posts(state="intent")] == ["2611.10002"]
    post = store.post_by_ref("slack:C0123", "1732460400.000100")
    assert post is not None
    assert post.paper_id == "2611.10001"
    votes = {v.user: (v.value, v.cast_by) for v in store.votes_for("2611.10001")}
    assert votes == {
        "slack:U1": (1, "reaction:+1"),
        "slack:U2": (1, "button"),
        "slack:U3": (-1, "reaction:-1"),
    }
    vote = store.get_vote("2611.10001", "slack:U2", "slack:C0123")  # votes belong to the post
    assert vote is not None
    assert vote.updated_at == WHEN


def test_decisions_and_the_list_read_back(store: Store) -> None:
    decision = store.decision("2611.10001", "llm-systems")
    assert decision is not None
    assert (decision.status, decision.decided_by, decision.decided_at) == (
        "accepted",
        "votes",
        LATER,
    )
    assert [d.status for d in store.decision_history("2611.10001")] == ["pending", "accepted"]
    accepted = store.decisions("llm-systems", "accepted")
    assert {d.paper_id for d in accepted} == {"2611.10001", "math/0309136"}
    assert store.listed_ids("llm-systems") == {"math/0309136"}
    run = store.last_feed_run("rss:cs.DC+cs.OS")
    assert run is not None
    assert (run.status, run.etag, run.listing_date) == ("ok", '"abc"', date(2026, 11, 24))


def test_state_written_by_the_first_release_reads_through_the_typed_methods(
    store: Store,
) -> None:
    assert store.unpublished_mark("llm-systems") == LATER.isoformat()
    assert store.last_digest("llm-systems") == WHEN
    assert store.notice_sent("llm-systems", date(2026, 11, 24))
    assert not store.notice_sent("llm-systems", date(2026, 11, 25))
    assert store.covered_until("rss:cs.DC+cs.OS") == date(2026, 11, 24)
    assert store.backfill_resume("cs.DC+cs.OS:2026-11-01:2026-11-20") == 1000


def test_the_upgraded_database_takes_new_writes(store: Store) -> None:
    store.post_sent("2611.10002", "discord:4242", "998877")
    post = store.get_post("2611.10002", "discord:4242")
    assert post is not None
    assert (post.state, post.ref) == ("sent", "998877")
    store.set_listed("llm-systems", ["2611.10001"], [])
    assert store.listed_ids("llm-systems") == {"math/0309136", "2611.10001"}
