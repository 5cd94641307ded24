"""What a route's taste model reads from the database: its decisions and the listed papers.

Read-only SQL beside `store.py`, for `bot/taste_store.py`; nothing here writes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from bot.models import SUGGESTED, Decision, StoredPaper
from storage.store import Store, _decision, _stored


def route_decisions(store: Store, route: str) -> list[Decision]:
    """The route's decisions in force (accepted, rejected, expired), in the order made."""
    rows = store.db.query("select * from decisions where route = ? order by seq", [route])
    return [_decision(r) for r in rows]


def listed_papers(
    store: Store,
    categories: Sequence[str],
    *,
    since: date | None = None,
    until: date | None = None,
) -> list[StoredPaper]:
    """Candidate papers listed in any of `categories` (cross-lists too), oldest first."""
    sql = "select * from papers where candidate = 1 and listing_date is not null"
    params: list[Any] = []
    if since is not None:
        sql, params = sql + " and listing_date >= ?", [*params, since.isoformat()]
    if until is not None:
        sql, params = sql + " and listing_date <= ?", [*params, until.isoformat()]
    wanted = set(categories)
    out: list[StoredPaper] = []
    for row in store.db.query(sql + " order by listing_date, rowid", params):
        if wanted.intersection(json.loads(row["categories"])):
            out.append(_stored(row))
    return out


def matched_ids(store: Store, route: str, ids: Sequence[str]) -> set[str]:
    """Which of these papers the route's rules matched when they were stored."""
    found: set[str] = set()
    items = list(dict.fromkeys(ids))
    for start in range(0, len(items), 500):
        chunk = items[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = store.db.query(
            f"select paper_id from matches where route = ? and paper_id in ({marks})",
            [route, *chunk],
        )
        found.update(r["paper_id"] for r in rows)
    return found


def latest_listing_days(store: Store, count: int) -> list[date]:
    """The `count` most recent listing days with any paper, newest first."""
    rows = store.db.query(
        "select distinct listing_date from papers where listing_date is not null"
        " order by listing_date desc limit ?",
        [count],
    )
    return [date.fromisoformat(r["listing_date"]) for r in rows]


def decisions_fingerprint(store: Store, route: str) -> str:
    """`Snapshot.fingerprint` without reading the papers: changes whenever a decision does."""
    row = store.db.execute(
        "select count(*), coalesce(max(seq), 0) from decisions"
        " where route = ? and status in ('accepted', 'rejected')",
        [route],
    ).fetchone()
    return f"{row[0]}:{row[1]}"


def suggested_on(store: Store, route: str, day: date) -> int:
    """How many papers of the listing `day` the route's model suggested already."""
    row = store.db.execute(
        "select count(*) from matches join papers on papers.id = matches.paper_id"
        " where matches.route = ? and matches.origin = ? and papers.listing_date = ?",
        [route, SUGGESTED, day.isoformat()],
    ).fetchone()
    return int(row[0])


def model_file(db_path: Path, route: str, suffix: str) -> Path:
    """Where a route's model lives: `<db>.model.<route>.<suffix>`, beside the database."""
    return db_path.with_name(f"{db_path.name}.model.{route}.{suffix}")
