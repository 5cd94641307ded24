"""The one class that talks to SQLite. No SQL lives anywhere else.

Idempotency is in the schema: papers are keyed by base id, matches by (paper, route), so a
re-poll of the same feed changes nothing. Every multi-statement change runs in `atomic()`:
BEGIN IMMEDIATE, which waits out other writers (up to the busy timeout) instead of failing."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.clock import Clock
from bot.errors import StorageError
from bot.models import (
    Decision,
    FeedRun,
    Incoming,
    ListEntryRecord,
    Match,
    Paper,
    PaperNote,
    Post,
    Reason,
    StoredPaper,
    StoredVote,
    Subscription,
    Summary,
    UpsertResult,
)
from storage.migrations import MIGRATIONS

POSTABLE_ORIGINS = ("poll", "catch-up", "manual", "suggested")  # "suggested": by the model
SEARCH_POOL = 200  # hits ranked per search: the most recently stored ones
SEARCH_CAP = 1000  # search counts its hits up to this (more: "more than 1,000")
BUSY_TIMEOUT_S = 30.0

# SQLite's primary result codes, as carried by sqlite3.Error.sqlite_errorcode.
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN = 3, 5, 6, 8, 10, 11, 13, 14
_NOTADB = 26


class Store:
    """Papers, feed runs, matches and small bits of state in one SQLite file."""

    search_cap = SEARCH_CAP

    def __init__(self, db: sqlite_utils.Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.path = _filename(db.conn)
        db.conn.isolation_level = None  # autocommit: transactions are only ours, explicit
        if MIGRATIONS.pending(db):  # read-only; applied migrations are never taken back
            with self.atomic():  # re-read under the write lock: another process may have won
                MIGRATIONS.apply(db)

    @classmethod
    def open(cls, path: Path | str, clock: Clock) -> Store:
        """Open (creating if needed) the database file, in WAL mode, migrations applied."""
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if str(path) != ":memory:":
                _enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            return cls(sqlite_utils.Database(conn), clock)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise _storage_error(str(path), exc) from exc

    def copy_in_memory(self) -> Store:
        """A private in-memory copy: what `--dry-run` works on, so nothing is written."""
        conn = sqlite3.connect(":memory:", isolation_level=None)
        self.db.conn.backup(conn)
        return Store(sqlite_utils.Database(conn), self.clock)

    def close(self) -> None:
        self.db.close()

    def verify(self) -> None:
        """Prove the database can be written (a write, rolled back) and is sound (quick_check).

        Raises StorageError saying what is wrong and what to do.
        """
        try:
            with suppress(_RolledBack), self.atomic():
                self.db.execute(
                    "insert into state (key, value) values ('verify', ?)"
                    " on conflict(key) do update set value = excluded.value",
                    [_iso(self.clock())],
                )
                raise _RolledBack
            problems = _quick_check(self.db.conn)
        except sqlite3.Error as exc:
            raise _storage_error(self.path, exc) from exc
        if problems:
            raise _damaged(self.path, problems[0])

    def backup(self, path: Path) -> None:
        """A checked copy of the database, safe while other processes write to it.

        Written beside `path` and renamed into place once it passes quick_check and holds the
        same tables and row counts as the source: a failure leaves no file at `path`.
        """
        target = Path(path)
        if target.exists():
            raise StorageError(f"{target} exists; choose a new file for the backup")
        src = self.db.conn
        if src.in_transaction:
            raise StorageError("a backup cannot be taken inside a transaction; this is a bug")
        try:
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        except OSError as exc:
            raise StorageError(
                f"cannot write a backup in {target.parent}: {exc.strerror}; "
                "check that the folder exists and is writable"
            ) from exc
        os.close(fd)
        tmp = Path(name)
        where = self.path  # whose error a failure is: the source's, until the copy is written
        try:
            src.execute("BEGIN")  # one snapshot for the check, the counts and the copy
            try:
                problems = _quick_check(src)
                if problems:
                    raise _damaged(self.path, problems[0], refusing="back up")
                expected = _table_counts(src)
                where = str(target)
                copy = sqlite3.connect(str(tmp), isolation_level=None)
                try:
                    src.backup(copy)
                finally:
                    copy.close()
            finally:
                if src.in_transaction:
                    src.execute("ROLLBACK")  # it only read
            copy = sqlite3.connect(str(tmp), isolation_level=None)
            try:
                copy.execute("PRAGMA journal_mode = delete")  # one self-contained file
                problems = _quick_check(copy)
                got = _table_counts(copy)
            finally:
                copy.close()
            if problems or got != expected:
                raise StorageError(
                    f"the backup written to {tmp} did not match {self.path} "
                    f"({problems[0] if problems else 'different tables or row counts'}); "
                    "check the disk holding it and try again"
                )
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except sqlite3.Error as exc:
            raise _storage_error(where, exc) from exc
        except OSError as exc:
            raise StorageError(
                f"writing the backup {target} failed: {exc.strerror or exc}; "
                "check the space and permissions of its folder"
            ) from exc
        finally:
            for leftover in (tmp, *(Path(f"{tmp}{s}") for s in ("-journal", "-wal", "-shm"))):
                leftover.unlink(missing_ok=True)

    def atomic(self) -> AbstractContextManager[object]:
        """One write transaction: BEGIN IMMEDIATE takes the write lock first, waiting up to the
        busy timeout for other writers, so no read inside it can go stale. Nested calls become
        savepoints."""
        return _immediate(self.db.conn)

    # --- papers ------------------------------------------------------------------------------

    def upsert_papers(self, incoming: Sequence[Incoming]) -> UpsertResult:
        """Store papers by base id. New ones are inserted; a higher version updates the record.

        The listing date, first-seen time and candidacy are fixed by the first sighting.
        """
        now = _iso(self.clock())
        new_rows: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        with self.atomic():
            known = self._versions([i.paper.id for i in incoming])
            for item in incoming:
                p = item.paper
                if p.id not in known:
                    new_rows.append(
                        {
                            **_paper_row(p),
                            "listing_date": _iso_date(item.listing_date),
                            "first_seen": now,
                            "candidate": int(item.candidate),
                            "source": item.source,
                        }
                    )
                    known[p.id] = p.version
                elif p.version > known[p.id]:
                    updates.append(_paper_row(p))
                    known[p.id] = p.version
            if updates:
                self._unindex([row["id"] for row in updates])
                columns = [c for c in updates[0] if c != "id"]
                self.db.conn.executemany(
                    f"update papers set {', '.join(f'{c} = :{c}' for c in columns)} where id = :id",
                    updates,
                )
            if new_rows:
                columns = list(new_rows[0])
                self.db.conn.executemany(
                    f"insert into papers ({', '.join(columns)})"
                    f" values ({', '.join(':' + c for c in columns)})",
                    new_rows,
                )
            self._index([row["id"] for row in new_rows] + [row["id"] for row in updates])
        new = [row["id"] for row in new_rows]
        updated = list(dict.fromkeys(row["id"] for row in updates))
        return UpsertResult(tuple(new), tuple(updated))

    def _versions(self, ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(
                f"select id, version from papers where id in ({marks})",
                chunk,
            ):
                found[row["id"]] = row["version"]
        return found

    def _index(self, ids: Sequence[str]) -> None:
        """Add papers to the full-text index (in bulk: far cheaper than a per-row trigger)."""
        for chunk in _chunks(list(dict.fromkeys(ids)), 500):
            self.db.execute(
                "insert into papers_fts (rowid, title, abstract, authors)"
                " select rowid, title, abstract, authors from papers"
                f" where id in ({','.join('?' * len(chunk))})",
                chunk,
            )

    def _unindex(self, ids: Sequence[str]) -> None:
        for chunk in _chunks(list(dict.fromkeys(ids)), 500):
            self.db.execute(
                "insert into papers_fts (papers_fts, rowid, title, abstract, authors)"
                " select 'delete', rowid, title, abstract, authors from papers"
                f" where id in ({','.join('?' * len(chunk))})",
                chunk,
            )

    def get_paper(self, paper_id: str) -> StoredPaper | None:
        rows = list(self.db.query("select * from papers where id = ?", [paper_id]))
        return _stored(rows[0]) if rows else None

    def get_papers(self, ids: Sequence[str]) -> list[StoredPaper]:
        """The stored papers with these ids, in the order given (unknown ids skipped)."""
        by_id: dict[str, StoredPaper] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(
                f"select * from papers where id in ({marks})",
                chunk,
            ):
                by_id[row["id"]] = _stored(row)
        return [by_id[i] for i in ids if i in by_id]

    def count_papers(self) -> int:
        return int(self.db.table("papers").count)

    # --- feed runs ---------------------------------------------------------------------------

    def record_feed_run(self, run: FeedRun) -> None:
        self.db.execute(  # one statement: autocommit, waiting for the lock like any write
            "insert into feed_runs (source, started_at, status, listing_date, items, new_papers,"
            " etag, last_modified, ids_digest, error) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run.source,
                _iso(run.started_at),
                run.status,
                _iso_date(run.listing_date),
                run.items,
                run.new_papers,
                run.etag,
                run.last_modified,
                run.ids_digest,
                run.error,
            ],
        )

    def last_feed_run(self, source: str, statuses: Sequence[str] | None = None) -> FeedRun | None:
        """The newest run of a source, optionally only among the given statuses."""
        sql = "select * from feed_runs where source = ?"
        params: list[Any] = [source]
        if statuses:
            sql += f" and status in ({','.join('?' * len(statuses))})"
            params.extend(statuses)
        rows = list(self.db.query(sql + " order by id desc limit 1", params))
        return _feed_run(rows[0]) if rows else None

    def last_good_run(self) -> FeedRun | None:
        rows = list(
            self.db.query(
                "select * from feed_runs where status in ('ok', 'quiet', 'not-modified')"
                " order by id desc limit 1"
            )
        )
        return _feed_run(rows[0]) if rows else None

    def latest_runs(self) -> list[tuple[FeedRun, FeedRun | None]]:
        """Per source, sorted by source: its latest run and its latest good one (or None)."""
        out: list[tuple[FeedRun, FeedRun | None]] = []
        for row in self.db.query(
            "select * from feed_runs where id in (select max(id) from feed_runs group by source)"
            " order by source"
        ):
            latest = _feed_run(row)
            good = (
                latest
                if latest.status in ("ok", "quiet", "not-modified")
                else self.last_feed_run(latest.source, ["ok", "quiet", "not-modified"])
            )
            out.append((latest, good))
        return out

    def feed_runs(self, source: str | None = None, limit: int = 50) -> list[FeedRun]:
        sql, params = "select * from feed_runs", []
        if source is not None:
            sql, params = sql + " where source = ?", [source]
        rows = self.db.query(sql + " order by id desc limit ?", [*params, limit])
        return [_feed_run(r) for r in rows]

    # --- matches -----------------------------------------------------------------------------

    def add_matches(self, matches: Sequence[Match], origin: str) -> list[Match]:
        """Record matches; returns those that were not recorded before."""
        now = _iso(self.clock())
        with self.atomic():
            existing: set[tuple[str, str]] = set()
            for route in {m.route for m in matches}:
                ids = [m.paper_id for m in matches if m.route == route]
                for chunk in _chunks(ids, 500):
                    marks = ",".join("?" * len(chunk))
                    existing.update(
                        (row["paper_id"], route)
                        for row in self.db.query(
                            f"select paper_id from matches where route = ? "
                            f"and paper_id in ({marks})",
                            [route, *chunk],
                        )
                    )
            chosen: dict[tuple[str, str], Match] = {}
            for m in matches:
                key = (m.paper_id, m.route)
                if key not in existing and key not in chosen:
                    chosen[key] = m
            fresh = list(chosen.values())
            status = "queued" if origin in POSTABLE_ORIGINS else "none"
            self.db.conn.executemany(
                "insert into matches (paper_id, route, reasons, matched_at, origin, post_status)"
                " values (?, ?, ?, ?, ?, ?)",
                [
                    (m.paper_id, m.route, _reasons_json(m.reasons), now, origin, status)
                    for m in fresh
                ],
            )
        return fresh

    def matches_for(self, paper_id: str) -> list[Match]:
        rows = self.db.query("select * from matches where paper_id = ? order by route", [paper_id])
        return [_match(r) for r in rows]

    def queued_matches(self) -> list[Match]:
        """Matches waiting to be posted, oldest first."""
        rows = self.db.query(
            "select * from matches where post_status = 'queued'"
            " order by matched_at, paper_id, route"
        )
        return [_match(r) for r in rows]

    def set_post_status(self, keys: Iterable[tuple[str, str]], status: str) -> None:
        """Set the post status of (paper_id, route) matches."""
        with self.atomic():
            self.db.conn.executemany(
                "update matches set post_status = ? where paper_id = ? and route = ?",
                [(status, pid, route) for pid, route in keys],
            )

    def undecided_posted(self, route: str) -> list[tuple[str, date | None]]:
        """(paper id, listing date) of the route's posted or held matches still undecided."""
        rows = self.db.query(
            "select matches.paper_id, papers.listing_date from matches"
            " join papers on papers.id = matches.paper_id"
            " left join decisions on decisions.paper_id = matches.paper_id"
            " and decisions.route = matches.route"
            " where matches.route = ? and matches.post_status in ('posted', 'held')"
            " and (decisions.status is null or decisions.status = 'pending')",
            [route],
        )
        return [
            (r["paper_id"], date.fromisoformat(r["listing_date"]) if r["listing_date"] else None)
            for r in rows
        ]

    def requeue(self, paper_id: str, route: str) -> None:
        """Queue a match for posting again (`add <id>` for a paper that was held)."""
        self.db.execute(
            "update matches set post_status = 'queued' where paper_id = ? and route = ?",
            [paper_id, route],
        )

    # --- posts -------------------------------------------------------------------------------

    def post_intent(self, paper_id: str, channel: str, routes: Sequence[str]) -> Post:
        """Record that a post is about to be sent (once); returns the post as it now stands."""
        self.db.execute(
            "insert or ignore into posts (paper_id, channel, routes, state, created_at)"
            " values (?, ?, ?, 'intent', ?)",
            [paper_id, channel, json.dumps(list(routes)), _iso(self.clock())],
        )
        post = self.get_post(paper_id, channel)
        assert post is not None
        return post

    def post_sent(self, paper_id: str, channel: str, ref: str) -> None:
        self.db.execute(
            "update posts set state = 'sent', ref = ?, sent_at = ?"
            " where paper_id = ? and channel = ?",
            [ref, _iso(self.clock()), paper_id, channel],
        )

    def get_post(self, paper_id: str, channel: str) -> Post | None:
        rows = list(
            self.db.query(
                "select * from posts where paper_id = ? and channel = ?", [paper_id, channel]
            )
        )
        return _post(rows[0]) if rows else None

    def post_by_ref(self, channel: str, ref: str) -> Post | None:
        rows = list(
            self.db.query("select * from posts where channel = ? and ref = ?", [channel, ref])
        )
        return _post(rows[0]) if rows else None

    def posts(self, *, state: str | None = None, paper_id: str | None = None) -> list[Post]:
        sql, params = "select * from posts where 1 = 1", list[str]()
        if state is not None:
            sql, params = sql + " and state = ?", [*params, state]
        if paper_id is not None:
            sql, params = sql + " and paper_id = ?", [*params, paper_id]
        return [_post(r) for r in self.db.query(sql + " order by created_at, paper_id", params)]

    def count_posts(self, channel: str | None = None) -> int:
        if channel is None:
            return int(self.db.execute("select count(*) from posts").fetchone()[0])
        row = self.db.execute("select count(*) from posts where channel = ?", [channel]).fetchone()
        return int(row[0])

    def set_post_shown(self, paper_id: str, channel: str, shown: str) -> None:
        self.db.execute(
            "update posts set shown = ? where paper_id = ? and channel = ?",
            [shown, paper_id, channel],
        )

    # --- votes -------------------------------------------------------------------------------

    def get_vote(self, paper_id: str, user: str, channel: str) -> StoredVote | None:
        rows = list(
            self.db.query(
                "select * from votes where paper_id = ? and channel = ? and user = ?",
                [paper_id, channel, user],
            )
        )
        return _vote(rows[0]) if rows else None

    def set_vote(
        self, paper_id: str, user: str, value: int | None, cast_by: str, channel: str
    ) -> None:
        """Store a user's current vote on the paper's post in `channel`; `None` withdraws it."""
        if value is None:
            self.db.execute(
                "delete from votes where paper_id = ? and channel = ? and user = ?",
                [paper_id, channel, user],
            )
            return
        self.db.execute(
            "insert into votes (paper_id, user, value, cast_by, channel, updated_at)"
            " values (?, ?, ?, ?, ?, ?) on conflict(paper_id, channel, user) do update set"
            " value = excluded.value, cast_by = excluded.cast_by,"
            " updated_at = excluded.updated_at",
            [paper_id, user, value, cast_by, channel, _iso(self.clock())],
        )

    def votes_for(self, paper_id: str, channels: Sequence[str] | None = None) -> list[StoredVote]:
        """The paper's votes, on every post or only on the posts in `channels`."""
        sql, params = "select * from votes where paper_id = ?", [paper_id]
        if channels is not None:
            sql += f" and channel in ({','.join('?' * len(channels))})"
            params += list(channels)
        return [_vote(r) for r in self.db.query(sql + " order by user, channel", params)]

    def top_voters(self, limit: int = 5) -> list[tuple[str, int]]:
        rows = self.db.query(
            "select user, count(*) as n from votes group by user order by n desc, user limit ?",
            [limit],
        )
        return [(r["user"], r["n"]) for r in rows]

    # --- reading for queries -------------------------------------------------------------------

    def search(
        self,
        words: Sequence[str],
        limit: int | None = 20,
        *,
        routes: Sequence[str] | None = None,
        sort: str = "relevance",
        today: date | None = None,
    ) -> list[StoredPaper]:
        """Papers whose title, abstract or authors hold every word (word forms folded:
        "cache" finds "Caches"), best first: BM25 weighed by age, or newest first.

        Ranked among the SEARCH_POOL most recently stored hits, so a word in every paper
        costs no more than a rare one. `routes`: only papers matched by one of them. Each word
        is passed to FTS5 as a quoted string, so no user text is ever FTS syntax.
        """
        query = _fts_query(words)
        if query is None:
            return []
        where, params = self._route_filter(routes)
        # BM25 counts every paper holding each word: cheap for rare words only. A word in more
        # than SEARCH_CAP papers says little anyway: then a hit in the title is what counts.
        rare = sort != "newest" and all(self.search_total([w]) <= SEARCH_CAP for w in words)
        score = "bm25(papers_fts, 4.0, 1.0, 2.0)" if rare else "-0.25"
        # Ranked on (rowid, score, day) alone; only the papers shown are read whole.
        hits: list[tuple[int, float, date]] = []
        stems = [w.casefold()[: max(4, len(w) - 2)] for w in words]
        for r in self.db.execute(
            f"select papers_fts.rowid, {score}, coalesce(papers.listing_date,"
            " papers.published, papers.first_seen), papers.title from papers_fts"
            " join papers on papers.rowid = papers_fts.rowid"
            f" where papers_fts match ?{where} order by papers_fts.rowid desc limit ?",
            [query, *params, SEARCH_POOL],
        ):
            value = float(r[1])
            if not rare and all(stem in str(r[3]).casefold() for stem in stems):
                value = -1.0  # every word (roughly: its stem) in the title
            hits.append((int(r[0]), value, date.fromisoformat(str(r[2])[:10])))
        if sort == "newest":
            hits.sort(key=lambda h: (h[2], h[0]), reverse=True)
        else:  # relevance: BM25 (negative: lower is better) halved for every year of age
            now = today or self.clock().date()
            hits.sort(key=lambda h: (h[1] * 0.5 ** (max(0, (now - h[2]).days) / 365), -h[0]))
        chosen = [str(h[0]) for h in (hits if limit is None else hits[:limit])]
        by_rowid: dict[str, StoredPaper] = {}
        for chunk in _chunks(chosen, 500):
            for r in self.db.query(
                f"select rowid, * from papers where rowid in ({','.join('?' * len(chunk))})",
                chunk,
            ):
                by_rowid[str(r["rowid"])] = _stored(r)
        return [by_rowid[rid] for rid in chosen if rid in by_rowid]

    def search_total(
        self, words: Sequence[str], routes: Sequence[str] | None = None, cap: int = SEARCH_CAP
    ) -> int:
        """How many papers `search` finds, counted up to `cap` (+1: "more than cap")."""
        query = _fts_query(words)
        if query is None:
            return 0
        where, params = self._route_filter(routes)
        row = self.db.execute(
            "select count(*) from (select rowid from papers_fts"
            f" where papers_fts match ?{where} limit ?)",
            [query, *params, cap + 1],
        ).fetchone()
        return int(row[0])

    def _route_filter(self, routes: Sequence[str] | None) -> tuple[str, list[str]]:
        if routes is None:
            return "", []
        marks = ",".join("?" * len(routes)) or "null"
        return (
            " and exists (select 1 from papers join matches on matches.paper_id = papers.id"
            f" where papers.rowid = papers_fts.rowid and matches.route in ({marks}))",
            list(routes),
        )

    def matched_since(
        self, routes: Sequence[str], since: date, limit: int | None = 50
    ) -> list[StoredPaper]:
        """Matched papers of these routes listed on or after `since`, newest first."""
        if not routes:
            return []
        marks = ",".join("?" * len(routes))
        # Walks the listing-date index newest first and stops at `limit`: well under a
        # millisecond at a million papers (bench/queries.py), where a join + distinct is not.
        rows = self.db.query(
            "select * from papers where listing_date >= ? and exists ("
            " select 1 from matches where matches.paper_id = papers.id"
            f" and matches.route in ({marks}))"
            " order by listing_date desc, rowid desc limit ?",
            [since.isoformat(), *routes, -1 if limit is None else limit],
        )
        return [_stored(r) for r in rows]

    def count_matched_since(self, routes: Sequence[str], since: date, cap: int = SEARCH_CAP) -> int:
        """How many papers `matched_since` has in all (one per paper, whatever its routes),
        counted up to `cap` (+1: "more than cap"), so a long range stays fast."""
        if not routes:
            return 0
        marks = ",".join("?" * len(routes))
        row = self.db.execute(
            "select count(*) from (select 1 from papers where listing_date >= ? and exists ("
            " select 1 from matches where matches.paper_id = papers.id"
            f" and matches.route in ({marks})) order by listing_date desc limit ?)",
            [since.isoformat(), *routes, cap + 1],
        ).fetchone()
        return int(row[0])

    def decided_since(
        self, routes: Sequence[str], status: str, since: datetime, limit: int | None = 50
    ) -> list[Decision]:
        if not routes:
            return []
        marks = ",".join("?" * len(routes))
        rows = self.db.query(
            f"select * from decisions where route in ({marks}) and status = ?"
            " and decided_at >= ? order by seq desc limit ?",
            [*routes, status, _iso(since), -1 if limit is None else limit],
        )
        return [_decision(r) for r in rows]

    def decided_papers(
        self, routes: Sequence[str], status: str, since: datetime, limit: int | None = 50
    ) -> tuple[list[list[Decision]], int]:
        """Papers given `status` on any of these routes since then, latest first, each with
        its decisions (one per route); and how many papers there are in all."""
        if not routes:
            return [], 0
        marks = ",".join("?" * len(routes))
        where = f"route in ({marks}) and status = ? and decided_at >= ?"
        params = [*routes, status, _iso(since)]
        total = int(
            self.db.execute(
                f"select count(distinct paper_id) from decisions where {where}", params
            ).fetchone()[0]
        )
        ids = [
            str(r["paper_id"])
            for r in self.db.query(
                f"select paper_id from decisions where {where}"
                " group by paper_id order by max(seq) desc limit ?",
                [*params, -1 if limit is None else limit],
            )
        ]
        by_paper: dict[str, list[Decision]] = {pid: [] for pid in ids}
        for chunk in _chunks(ids, 400):
            for r in self.db.query(
                f"select * from decisions where {where}"
                f" and paper_id in ({','.join('?' * len(chunk))}) order by route",
                [*params, *chunk],
            ):
                by_paper[r["paper_id"]].append(_decision(r))
        return list(by_paper.values()), total

    def pending(
        self, routes: Sequence[str], limit: int | None = 50
    ) -> list[tuple[StoredPaper, str]]:
        """(paper, post status) of matches waiting for votes or held back, newest first."""
        if not routes:
            return []
        marks = ",".join("?" * len(routes))
        rows = self.db.query(
            "select papers.*, min(matches.post_status) as post_status from matches"
            " join papers on papers.id = matches.paper_id"
            " left join decisions on decisions.paper_id = matches.paper_id"
            " and decisions.route = matches.route"
            f" where matches.route in ({marks}) and matches.post_status in ('posted', 'held')"
            " and (decisions.status is null or decisions.status = 'pending')"
            " group by papers.id order by papers.listing_date desc, papers.rowid desc limit ?",
            [*routes, -1 if limit is None else limit],
        )
        return [(_stored(r), r["post_status"]) for r in rows]

    def count_pending(self, routes: Sequence[str]) -> int:
        if not routes:
            return 0
        marks = ",".join("?" * len(routes))
        row = self.db.execute(
            "select count(distinct matches.paper_id) from matches"
            " left join decisions on decisions.paper_id = matches.paper_id"
            " and decisions.route = matches.route"
            f" where matches.route in ({marks}) and matches.post_status in ('posted', 'held')"
            " and (decisions.status is null or decisions.status = 'pending')",
            list(routes),
        ).fetchone()
        return int(row[0])

    def routes_of(self, paper_ids: Sequence[str], routes: Sequence[str]) -> dict[str, list[str]]:
        """paper id -> the routes among `routes` that matched it, sorted."""
        found: dict[str, list[str]] = {}
        marks = ",".join("?" * len(routes)) or "null"
        for chunk in _chunks(list(dict.fromkeys(paper_ids)), 400):
            for r in self.db.query(
                "select paper_id, route from matches"
                f" where paper_id in ({','.join('?' * len(chunk))}) and route in ({marks})"
                " order by route",
                [*chunk, *routes],
            ):
                found.setdefault(r["paper_id"], []).append(r["route"])
        return found

    def counts(self, routes: Sequence[str] | None = None) -> dict[str, int]:
        """Papers seen, and matched / posted / decided / voted papers of these routes (all
        routes when None), each paper counted once whatever its routes."""
        if routes is None:
            in_routes, params = "1 = 1", list[str]()
        else:
            in_routes = f"route in ({','.join('?' * len(routes)) or 'null'})"
            params = list(routes)

        def count(sql: str, first: Sequence[str] = ()) -> int:
            return int(self.db.execute(sql, [*first, *params]).fetchone()[0])

        decided = "select count(distinct paper_id) from decisions where status = ? and "
        matched = f"select paper_id from matches where {in_routes}"
        return {
            "papers": int(self.db.execute("select count(*) from papers").fetchone()[0]),
            "matched": count(f"select count(distinct paper_id) from matches where {in_routes}"),
            "posted": count(
                "select count(distinct paper_id) from posts where state = 'sent'"
                + ("" if routes is None else f" and paper_id in ({matched})")
            ),
            "accepted": count(decided + in_routes, ["accepted"]),
            "rejected": count(decided + in_routes, ["rejected"]),
            "expired": count(decided + in_routes, ["expired"]),
            "votes": count(
                "select count(*) from votes"
                + ("" if routes is None else f" where paper_id in ({matched})")
            ),
        }

    # --- decisions -----------------------------------------------------------------------------

    def decide(
        self, paper_id: str, route: str, status: str, decided_by: str, reason: str
    ) -> Decision | None:
        """Record a decision; returns it, or None when the paper already had that status."""
        now = _iso(self.clock())
        with self.atomic():
            current = self.decision(paper_id, route)
            if current is not None and current.status == status:
                return None
            cur = self.db.execute(
                "insert into decision_log"
                " (paper_id, route, status, decided_by, decided_at, reason)"
                " values (?, ?, ?, ?, ?, ?)",
                [paper_id, route, status, decided_by, now, reason],
            )
            self.db.execute(
                "insert into decisions"
                " (paper_id, route, status, decided_by, decided_at, reason, seq)"
                " values (?, ?, ?, ?, ?, ?, ?)"
                " on conflict(paper_id, route) do update set"
                " status = excluded.status, decided_by = excluded.decided_by,"
                " decided_at = excluded.decided_at, reason = excluded.reason, seq = excluded.seq",
                [paper_id, route, status, decided_by, now, reason, cur.lastrowid],
            )
        return self.decision(paper_id, route)

    def decision(self, paper_id: str, route: str) -> Decision | None:
        rows = list(
            self.db.query(
                "select * from decisions where paper_id = ? and route = ?", [paper_id, route]
            )
        )
        return _decision(rows[0]) if rows else None

    def decisions(self, route: str, status: str | None = None) -> list[Decision]:
        """A route's current decisions in the order they were made."""
        sql, params = "select * from decisions where route = ?", [route]
        if status is not None:
            sql, params = sql + " and status = ?", [route, status]
        return [_decision(r) for r in self.db.query(sql + " order by seq", params)]

    def decision_history(self, paper_id: str) -> list[Decision]:
        rows = self.db.query(
            "select *, id as seq from decision_log where paper_id = ? order by id", [paper_id]
        )
        return [_decision(r) for r in rows]

    # --- what stands in a published list ------------------------------------------------------

    def listed_ids(self, route: str) -> set[str]:
        rows = self.db.query("select paper_id from list_lines where route = ?", [route])
        return {row["paper_id"] for row in rows}

    def set_listed(self, route: str, added: Iterable[str], removed: Iterable[str]) -> None:
        now = _iso(self.clock())
        with self.atomic():
            self.db.conn.executemany(
                "insert or ignore into list_lines (route, paper_id, since) values (?, ?, ?)",
                [(route, pid, now) for pid in added],
            )
            self.db.conn.executemany(
                "delete from list_lines where route = ? and paper_id = ?",
                [(route, pid) for pid in removed],
            )

    # --- small state: one typed pair of methods per kind, keys spelt only here ----------------

    def _get_state(self, key: str) -> str | None:
        rows = list(self.db.query("select value from state where key = ?", [key]))
        return str(rows[0]["value"]) if rows else None

    def _set_state(self, key: str, value: str) -> None:
        self.db.execute(
            "insert into state (key, value) values (?, ?) "
            "on conflict(key) do update set value = excluded.value",
            [key, value],
        )

    def mark_unpublished(self, route: str) -> None:
        """The route's decisions changed: its list needs a publish."""
        self._set_state(f"unpublished:{route}", _iso(self.clock()) or "")

    def unpublished_mark(self, route: str) -> str | None:
        """When the route's decisions last changed unpublished (None: the list is current)."""
        return self._get_state(f"unpublished:{route}")

    def clear_unpublished(self, route: str, mark: str) -> None:
        """Published up to `mark`: cleared unless a decision came in meanwhile."""
        self.db.execute(
            "delete from state where key = ? and value = ?", [f"unpublished:{route}", mark]
        )

    def last_digest(self, route: str) -> datetime | None:
        return _dt(self._get_state(f"digest:{route}"))

    def set_last_digest(self, route: str, at: datetime) -> None:
        self._set_state(f"digest:{route}", at.isoformat())

    def notice_sent(self, route: str, day: date) -> bool:
        """Whether the missed-listing notice of this route and day went out."""
        return self._get_state(f"notice:{route}:{day.isoformat()}") is not None

    def record_notice(self, route: str, day: date) -> None:
        self._set_state(f"notice:{route}:{day.isoformat()}", _iso(self.clock()) or "")

    def covered_until(self, source: str) -> date | None:
        """The newest listing day a feed source is known complete up to."""
        value = self._get_state(f"covered:{source}")
        return date.fromisoformat(value) if value else None

    def set_covered_until(self, source: str, day: date) -> None:
        self._set_state(f"covered:{source}", day.isoformat())

    def backfill_resume(self, key: str) -> int:
        """Where an interrupted backfill of `key` resumes (an API result offset)."""
        return int(self._get_state(f"backfill:{key}") or 0)

    def set_backfill_resume(self, key: str, start: int) -> None:
        self._set_state(f"backfill:{key}", str(start))

    def clear_backfill_resume(self, key: str) -> None:
        self.db.execute("delete from state where key = ?", [f"backfill:{key}"])

    def set_next_poll(self, at: datetime | None) -> None:
        """When the running bot polls next (None: not scheduled), for `status`."""
        if at is None:
            self.db.execute("delete from state where key = 'next-poll'")
        else:
            self._set_state("next-poll", at.isoformat())

    def next_poll(self) -> datetime | None:
        """The next poll the running bot recorded (stale once no run holds the database)."""
        return _dt(self._get_state("next-poll"))

    def set_channel_problem(self, channel: str, problem: str | None) -> None:
        """Record why a channel cannot be used (None: it works again), for `status`."""
        if problem is None:
            self.db.execute("delete from state where key = ?", [f"channel:{channel}"])
        else:
            self._set_state(f"channel:{channel}", problem)

    def channel_problems(self) -> dict[str, str]:
        """platform:channel-id -> the one-sentence problem, for every channel that has one."""
        rows = self.db.query("select key, value from state where key like 'channel:%'")
        return {str(r["key"]).removeprefix("channel:"): str(r["value"]) for r in rows}

    def commands_synced(self, platform: str) -> str | None:
        """The hash of the command set last registered with a platform (None: never)."""
        return self._get_state(f"commands:{platform}")

    def set_commands_synced(self, platform: str, digest: str) -> None:
        self._set_state(f"commands:{platform}", digest)

    # --- reading for the static site (bot/site): one query per kind, for a whole route -----------

    def site_reasons(self, route: str) -> dict[str, tuple[Reason, ...]]:
        """paper id -> why it matched the route, for every paper that matched it."""
        rows = self.db.query("select * from matches where route = ?", [route])
        return {r["paper_id"]: _match(r).reasons for r in rows}

    def site_votes(self, route: str) -> dict[str, tuple[int, int]]:
        """paper id -> (ups, downs) cast on the posts that stand for the route."""
        rows = self.db.query(
            "select v.paper_id as paper_id, sum(v.value > 0) as ups, sum(v.value < 0) as downs"
            " from votes v join posts p on p.paper_id = v.paper_id and p.channel = v.channel"
            " where exists (select 1 from json_each(p.routes) where json_each.value = ?)"
            " group by v.paper_id",
            [route],
        )
        return {r["paper_id"]: (int(r["ups"]), int(r["downs"])) for r in rows}

    # --- tags, TL;DRs, summaries and subscriptions (bot/tagging, summarise, subscriptions, mail)

    def note(self, paper_id: str, route: str) -> PaperNote | None:
        rows = list(
            self.db.query(
                "select * from paper_notes where paper_id = ? and route = ?", [paper_id, route]
            )
        )
        return _note(rows[0]) if rows else None

    def notes(self, route: str, ids: Sequence[str] | None = None) -> dict[str, PaperNote]:
        """paper id -> its note on the route (every note of the route when `ids` is None)."""
        if ids is None:
            rows = self.db.query("select * from paper_notes where route = ?", [route])
            return {r["paper_id"]: _note(r) for r in rows}
        found: dict[str, PaperNote] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(
                f"select * from paper_notes where route = ? and paper_id in ({marks})",
                [route, *chunk],
            ):
                found[row["paper_id"]] = _note(row)
        return found

    def set_note(
        self,
        paper_id: str,
        route: str,
        *,
        tags: Sequence[str] | None = None,
        tags_by: str = "",
        tldr: str | None = None,
        tldr_by: str = "",
    ) -> None:
        """Set a paper's tags and/or TL;DR on a route; what is not given is kept."""
        with self.atomic():
            old = self.note(paper_id, route) or PaperNote(paper_id, route)
            self.db.execute(
                "insert into paper_notes (paper_id, route, tags, tags_by, tldr, tldr_by,"
                " updated_at) values (?, ?, ?, ?, ?, ?, ?)"
                " on conflict(paper_id, route) do update set tags = excluded.tags,"
                " tags_by = excluded.tags_by, tldr = excluded.tldr, tldr_by = excluded.tldr_by,"
                " updated_at = excluded.updated_at",
                [
                    paper_id,
                    route,
                    json.dumps(list(old.tags if tags is None else tags)),
                    old.tags_by if tags is None else tags_by,
                    old.tldr if tldr is None else tldr,
                    old.tldr_by if tldr is None else tldr_by,
                    _iso(self.clock()),
                ],
            )

    def human_tagged(self, route: str) -> list[tuple[Paper, tuple[str, ...]]]:
        """Papers tagged by people on the route, oldest first: a curator's tags, else the
        tags the list file gives (list_entries)."""
        rows = self.db.query(
            "select papers.*, coalesce(n.tags, l.tags) as human_tags from papers"
            " left join paper_notes n on n.paper_id = papers.id and n.route = ?"
            " and n.tags_by like 'curator:%'"
            " left join list_entries l on l.paper_id = papers.id and l.route = ?"
            " where coalesce(n.tags, l.tags, '[]') != '[]' order by papers.rowid",
            [route, route],
        )
        return [(_stored(r).paper, tuple(json.loads(r["human_tags"]))) for r in rows]

    def human_tags_version(self, route: str) -> str:
        """Changes whenever the route's human-given tags change: the tagger retrains then."""
        notes = self.db.execute(
            "select count(*), max(updated_at), total(length(tags)) from paper_notes"
            " where route = ? and tags_by like 'curator:%'",
            [route],
        ).fetchone()
        listed = self.db.execute(
            "select count(*), max(recorded_at), total(length(tags)) from list_entries"
            " where route = ?",
            [route],
        ).fetchone()
        return f"{tuple(notes)}|{tuple(listed)}"

    def tagged_with(self, routes: Sequence[str], tag: str, limit: int = 20) -> list[StoredPaper]:
        """Papers carrying `tag` (any case) on any of these routes, newest first."""
        if not routes:
            return []
        marks = ",".join("?" * len(routes))
        rows = self.db.query(
            "select * from papers where id in (select paper_notes.paper_id from paper_notes,"
            f" json_each(paper_notes.tags) where paper_notes.route in ({marks})"
            " and lower(json_each.value) = lower(?))"
            " order by listing_date desc, rowid desc limit ?",
            [*routes, tag, limit],
        )
        return [_stored(r) for r in rows]

    def summary(self, paper_id: str, route: str) -> Summary | None:
        rows = list(
            self.db.query(
                "select * from summaries where paper_id = ? and route = ?", [paper_id, route]
            )
        )
        return _summary(rows[0]) if rows else None

    def save_summary(self, summary: Summary) -> None:
        self.db.execute(
            "insert or replace into summaries (paper_id, route, status, relevant, tags, tldr,"
            " created_at) values (?, ?, ?, ?, ?, ?, ?)",
            [
                summary.paper_id,
                summary.route,
                summary.status,
                None if summary.relevant is None else int(summary.relevant),
                json.dumps(list(summary.tags)),
                summary.tldr,
                _iso(self.clock()),
            ],
        )

    def take_llm_call(self, day: date, budget: int) -> bool:
        """Count one summariser call against the day's budget; False when it is spent."""
        with self.atomic():
            row = self.db.execute(
                "select calls from llm_calls where day = ?", [day.isoformat()]
            ).fetchone()
            calls = int(row[0]) if row else 0
            if calls >= budget:
                return False
            self.db.execute(
                "insert into llm_calls (day, calls) values (?, 1)"
                " on conflict(day) do update set calls = calls + 1",
                [day.isoformat()],
            )
        return True

    def llm_calls(self, day: date) -> int:
        row = self.db.execute(
            "select calls from llm_calls where day = ?", [day.isoformat()]
        ).fetchone()
        return int(row[0]) if row else 0

    def unmatched_candidates(self, route: str, since: datetime) -> list[StoredPaper]:
        """Candidate papers first seen since `since` that match no rule of the route and were
        never summarised for it, oldest first."""
        rows = self.db.query(
            "select * from papers where candidate = 1 and first_seen >= ?"
            " and not exists (select 1 from matches where matches.paper_id = papers.id"
            " and matches.route = ?)"
            " and not exists (select 1 from summaries where summaries.paper_id = papers.id"
            " and summaries.route = ?) order by first_seen, rowid",
            [_iso(since), route, route],
        )
        return [_stored(r) for r in rows]

    def posts_without_reply(self, since: datetime) -> list[Post]:
        """Sent posts since `since` whose subscription reply is not settled, oldest first."""
        rows = self.db.query(
            "select * from posts where state = 'sent' and sent_at >= ? and not exists ("
            " select 1 from subscription_replies r where r.paper_id = posts.paper_id"
            " and r.channel = posts.channel) order by sent_at, paper_id",
            [_iso(since)],
        )
        return [_post(r) for r in rows]

    def reply_intent(self, paper_id: str, channel: str, state: str = "intent") -> bool:
        """Record that the post's subscription reply is settled now; False if it already was."""
        cursor = self.db.execute(
            "insert or ignore into subscription_replies (paper_id, channel, state, created_at)"
            " values (?, ?, ?, ?)",
            [paper_id, channel, state, _iso(self.clock())],
        )
        return cursor.rowcount == 1

    def reply_sent(self, paper_id: str, channel: str) -> None:
        self.db.execute(
            "update subscription_replies set state = 'sent' where paper_id = ? and channel = ?",
            [paper_id, channel],
        )

    def reply_state(self, paper_id: str, channel: str) -> str | None:
        row = self.db.execute(
            "select state from subscription_replies where paper_id = ? and channel = ?",
            [paper_id, channel],
        ).fetchone()
        return str(row[0]) if row else None

    def subscribe(self, user: str, channel: str, what: str) -> bool:
        """Add a subscription; False when the user already had it in that channel."""
        cursor = self.db.execute(
            "insert or ignore into subscriptions (user, channel, what, created_at)"
            " values (?, ?, ?, ?)",
            [user, channel, what, _iso(self.clock())],
        )
        return cursor.rowcount == 1

    def unsubscribe(self, user: str, channel: str, what: str) -> bool:
        cursor = self.db.execute(
            "delete from subscriptions where user = ? and channel = ? and lower(what) = lower(?)",
            [user, channel, what],
        )
        return cursor.rowcount > 0

    def subscriptions(
        self, *, user: str | None = None, channel: str | None = None
    ) -> list[Subscription]:
        sql, params = "select * from subscriptions where 1 = 1", list[str]()
        if user is not None:
            sql, params = sql + " and user = ?", [*params, user]
        if channel is not None:
            sql, params = sql + " and channel = ?", [*params, channel]
        rows = self.db.query(sql + " order by created_at, user, what", params)
        return [Subscription(r["user"], r["channel"], r["what"]) for r in rows]

    def mail_intent(self, subscriber: str, period: str, papers: int) -> bool:
        """Record that a digest is about to be sent; False when this period already has one."""
        cursor = self.db.execute(
            "insert or ignore into mail_sends (subscriber, period, state, papers, at)"
            " values (?, ?, 'intent', ?, ?)",
            [subscriber, period, papers, _iso(self.clock())],
        )
        return cursor.rowcount == 1

    def mail_done(self, subscriber: str, period: str, state: str) -> None:
        """The digest's outcome: sent, empty (nothing to send) or failed (cleared: retried)."""
        if state == "failed":
            self.db.execute(
                "delete from mail_sends where subscriber = ? and period = ? and state = 'intent'",
                [subscriber, period],
            )
            return
        self.db.execute(
            "update mail_sends set state = ?, at = ? where subscriber = ? and period = ?",
            [state, _iso(self.clock()), subscriber, period],
        )

    def mail_state(self, subscriber: str, period: str) -> str | None:
        row = self.db.execute(
            "select state from mail_sends where subscriber = ? and period = ?",
            [subscriber, period],
        ).fetchone()
        return str(row[0]) if row else None

    def last_mail(self, subscriber: str) -> datetime | None:
        """When the subscriber's last digest with papers was sent (or meant to be)."""
        row = self.db.execute(
            "select max(at) from mail_sends where subscriber = ? and state in ('sent', 'intent')",
            [subscriber],
        ).fetchone()
        return _dt(row[0]) if row and row[0] else None

    # --- the list as paperbot last saw it, and what lists say of papers (bot/publish.py) -------

    def replace_listed(self, route: str, ids: Iterable[str]) -> None:
        """The route's list, as paperbot last saw it, holds exactly these papers."""
        now = _iso(self.clock())
        with self.atomic():
            self.db.execute("delete from list_lines where route = ?", [route])
            self.db.conn.executemany(
                "insert or ignore into list_lines (route, paper_id, since) values (?, ?, ?)",
                [(route, pid, now) for pid in ids],
            )

    def list_seen(self, route: str) -> str | None:
        """The commit of the route's list paperbot last read (None: it never read one)."""
        return self._get_state(f"list-seen:{route}")

    def set_list_seen(self, route: str, commit: str) -> None:
        self._set_state(f"list-seen:{route}", commit)

    def save_list_entries(self, route: str, entries: Sequence[ListEntryRecord]) -> None:
        """Remember what a list file says of these papers (the newest word wins)."""
        now = _iso(self.clock())
        with self.atomic():
            self.db.conn.executemany(
                "insert into list_entries"
                " (route, paper_id, day, markup, version, tags, tldr, source, recorded_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " on conflict(route, paper_id) do update set day = excluded.day,"
                " markup = excluded.markup, version = excluded.version, tags = excluded.tags,"
                " tldr = excluded.tldr, source = excluded.source,"
                " recorded_at = excluded.recorded_at",
                [
                    (
                        route,
                        e.paper_id,
                        _iso_date(e.day),
                        e.markup,
                        e.version,
                        json.dumps(list(e.tags), ensure_ascii=False),
                        e.tldr,
                        e.source,
                        now,
                    )
                    for e in entries
                ],
            )

    def list_entries(self, route: str, ids: Sequence[str]) -> dict[str, ListEntryRecord]:
        """paper id -> what a list file said of it, for those of `ids` it said something of."""
        found: dict[str, ListEntryRecord] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), 500):
            rows = self.db.query(
                f"select * from list_entries where route = ? and paper_id in"
                f" ({','.join('?' * len(chunk))})",
                [route, *chunk],
            )
            for r in rows:
                found[r["paper_id"]] = ListEntryRecord(
                    paper_id=r["paper_id"],
                    day=date.fromisoformat(r["day"]) if r["day"] else None,
                    markup=r["markup"],
                    version=r["version"],
                    tags=tuple(json.loads(r["tags"])),
                    tldr=r["tldr"],
                    source=r["source"],
                )
        return found


class _RolledBack(Exception):
    """Raised inside a transaction only to roll it back."""


_savepoints = iter(range(1, 1 << 62))


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    if conn.in_transaction:
        name = f"paperbot_{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if conn.in_transaction:  # an error may already have ended the transaction
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL. The switch takes its lock without waiting (no busy timeout), so it is
    retried, with jitter, within the busy timeout while another process holds the file."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode = wal")
            return
        except sqlite3.OperationalError as exc:
            if _primary(exc) not in (_BUSY, _LOCKED) or time.monotonic() >= deadline:
                raise
        time.sleep(random.uniform(0.005, 0.05))  # noqa: S311 - jitter, not cryptography


def _primary(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _storage_error(path: str, exc: sqlite3.Error) -> StorageError:
    """One sentence naming the real cause of a failed open or write, and what to do."""
    code = _primary(exc)
    if code in (_BUSY, _LOCKED):
        return StorageError(
            f"the database {path} stayed locked by another process for {BUSY_TIMEOUT_S:.0f} s;"
            " wait for the other paperbot command to finish, or stop it, and try again"
        )
    if code in (_READONLY, _PERM, _CANTOPEN):
        return StorageError(
            f"the database {path} cannot be opened for writing ({exc}); check PAPERBOT_DB and"
            " that the file and its folder exist and are writable by this user"
        )
    if code == _FULL:
        return StorageError(f"the disk holding {path} is full ({exc}); free space and retry")
    if code in (_CORRUPT, _NOTADB):
        return _damaged(path, str(exc))
    if code == _IOERR:
        return StorageError(
            f"reading or writing {path} failed ({exc}); check that its disk has free space"
            " and is healthy, and the file's permissions"
        )
    return StorageError(f"the database {path} failed: {exc}; check PAPERBOT_DB and retry")


def _damaged(path: str, problem: str, refusing: str | None = None) -> StorageError:
    start = f"refusing to {refusing} {path}: it" if refusing else f"the database {path}"
    return StorageError(
        f"{start} is not a sound SQLite database ({problem}); check PAPERBOT_DB, or move the"
        " file aside and restore the latest backup"
    )


def _quick_check(conn: sqlite3.Connection) -> list[str]:
    """What PRAGMA quick_check finds wrong (empty when the database is sound)."""
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        if _primary(exc) in (_CORRUPT, _NOTADB):
            return [str(exc)]
        raise
    return [] if rows == ["ok"] else rows


def _table_counts(conn: sqlite3.Connection) -> dict[str, int | None]:
    """Every table's name with its row count (None for virtual tables, which are not counted:
    their shadow tables are)."""
    tables = conn.execute("select name, sql from sqlite_master where type = 'table'").fetchall()
    counts: dict[str, int | None] = {}
    for name, sql in tables:
        virtual = (sql or "").lower().startswith("create virtual")
        quoted = '"' + name.replace('"', '""') + '"'
        counts[name] = (
            None if virtual else conn.execute(f"select count(*) from {quoted}").fetchone()[0]
        )
    return counts


def _filename(conn: sqlite3.Connection) -> str:
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main":
            return str(row[2]) or ":memory:"
    return ":memory:"


def _fsync_dir(folder: Path) -> None:
    with suppress(OSError):  # not every platform or file system lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fts_query(words: Sequence[str]) -> str | None:
    """Every word as a quoted FTS5 string (all must match); None when nothing is left."""
    terms = ["".join(ch for ch in w if ch.isprintable()) for w in words]
    terms = [t for t in terms if t.strip()]
    if not terms:
        return None
    return " ".join('"' + w.replace('"', '""') + '"' for w in terms)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _iso_date(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _paper_row(p: Paper) -> dict[str, Any]:
    return {
        "id": p.id,
        "version": p.version,
        "title": p.title,
        "authors": json.dumps(list(p.authors), ensure_ascii=False),
        "abstract": p.abstract,
        "categories": json.dumps(list(p.categories)),
        "primary_category": p.primary_category,
        "published": _iso(p.published),
        "updated": _iso(p.updated),
        "doi": p.doi,
        "journal_ref": p.journal_ref,
        "comment": p.comment,
    }


def _stored(row: dict[str, Any]) -> StoredPaper:
    paper = Paper(
        id=row["id"],
        version=row["version"],
        title=row["title"],
        authors=tuple(json.loads(row["authors"])),
        abstract=row["abstract"],
        categories=tuple(json.loads(row["categories"])),
        primary_category=row["primary_category"],
        published=_dt(row["published"]),
        updated=_dt(row["updated"]),
        doi=row["doi"],
        journal_ref=row["journal_ref"],
        comment=row["comment"],
    )
    listed = row["listing_date"]
    first_seen = _dt(row["first_seen"])
    assert first_seen is not None
    return StoredPaper(
        paper=paper,
        listing_date=date.fromisoformat(listed) if listed else None,
        first_seen=first_seen,
        candidate=bool(row["candidate"]),
        source=row["source"],
    )


def _feed_run(row: dict[str, Any]) -> FeedRun:
    started = _dt(row["started_at"])
    assert started is not None
    listed = row["listing_date"]
    return FeedRun(
        source=row["source"],
        started_at=started,
        status=row["status"],
        listing_date=date.fromisoformat(listed) if listed else None,
        items=row["items"],
        new_papers=row["new_papers"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        ids_digest=row["ids_digest"],
        error=row["error"],
    )


def _decision(row: dict[str, Any]) -> Decision:
    decided = _dt(row["decided_at"])
    assert decided is not None
    return Decision(
        paper_id=row["paper_id"],
        route=row["route"],
        status=row["status"],
        decided_by=row["decided_by"],
        decided_at=decided,
        reason=row["reason"],
        seq=row["seq"],
    )


def _post(row: dict[str, Any]) -> Post:
    created = _dt(row["created_at"])
    assert created is not None
    return Post(
        paper_id=row["paper_id"],
        channel=row["channel"],
        routes=tuple(json.loads(row["routes"])),
        state=row["state"],
        ref=row["ref"],
        created_at=created,
        sent_at=_dt(row["sent_at"]),
        shown=row["shown"],
    )


def _vote(row: dict[str, Any]) -> StoredVote:
    updated = _dt(row["updated_at"])
    assert updated is not None
    return StoredVote(
        paper_id=row["paper_id"],
        user=row["user"],
        value=row["value"],
        cast_by=row["cast_by"],
        channel=row["channel"],
        updated_at=updated,
    )


def _reasons_json(reasons: Sequence[Reason]) -> str:
    return json.dumps([r.as_dict() for r in reasons], ensure_ascii=False)


def _match(row: dict[str, Any]) -> Match:
    reasons = tuple(Reason(**r) for r in json.loads(row["reasons"]))
    return Match(paper_id=row["paper_id"], route=row["route"], reasons=reasons)


def _note(row: dict[str, Any]) -> PaperNote:
    return PaperNote(
        paper_id=row["paper_id"],
        route=row["route"],
        tags=tuple(json.loads(row["tags"])),
        tags_by=row["tags_by"],
        tldr=row["tldr"],
        tldr_by=row["tldr_by"],
    )


def _summary(row: dict[str, Any]) -> Summary:
    relevant = row["relevant"]
    return Summary(
        paper_id=row["paper_id"],
        route=row["route"],
        status=row["status"],
        relevant=None if relevant is None else bool(relevant),
        tags=tuple(json.loads(row["tags"])),
        tldr=row["tldr"],
        asked_at=_dt(row["created_at"]),
    )
