"""Named schema migrations, applied in order at start-up. Never edit one that has shipped:
add a new one below it."""

from __future__ import annotations

import sqlite_utils

MIGRATIONS = sqlite_utils.Migrations("paperbot")


@MIGRATIONS(name="0001_papers_feed_runs_matches_state")
def _initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        create table papers (
            id text primary key,          -- base arXiv id: no version, no subject class
            version integer not null,     -- latest version seen
            title text not null,
            authors text not null,        -- JSON list
            abstract text not null,
            categories text not null,     -- JSON list, primary first
            primary_category text not null,
            published text,               -- v1 submission time, ISO UTC
            updated text,                 -- latest version's time, ISO UTC
            doi text,
            journal_ref text,
            comment text,
            listing_date text,            -- first announcement it came in (US Eastern date)
            first_seen text not null,     -- when paperbot first stored it, ISO UTC
            candidate integer not null,   -- 1: may be posted (new/cross/API); 0: a replacement
            source text not null          -- what first delivered it: rss:..., atom:..., api:...
        )
        """
    )
    db.execute("create index papers_listing_date on papers (listing_date)")
    db.execute(
        """
        create table feed_runs (
            id integer primary key autoincrement,
            source text not null,
            started_at text not null,
            status text not null,         -- ok | quiet | stale | not-modified | error
            listing_date text,
            items integer not null default 0,
            new_papers integer not null default 0,
            etag text,
            last_modified text,
            ids_digest text,              -- hash of the batch's sorted id set (stale detection)
            error text
        )
        """
    )
    db.execute("create index feed_runs_source on feed_runs (source, id)")
    db.execute(
        """
        create table matches (
            paper_id text not null references papers(id),
            route text not null,
            reasons text not null,        -- JSON list of {term, field, text}
            matched_at text not null,
            origin text not null,         -- poll | catch-up | backfill (never posted) | manual
            primary key (paper_id, route)
        )
        """
    )
    db.execute("create index matches_route on matches (route, matched_at)")
    db.execute("create table state (key text primary key, value text not null)")


@MIGRATIONS(name="0002_decisions_and_list_lines")
def _decisions(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        create table decision_log (
            id integer primary key autoincrement,  -- also the order decisions were made in
            paper_id text not null,
            route text not null,
            status text not null,         -- accepted | rejected | expired
            decided_by text not null,     -- import | votes | hand-edit | a curator's name
            decided_at text not null,
            reason text not null
        )
        """
    )
    db.execute(
        """
        create table decisions (          -- the current decision per (paper, route)
            paper_id text not null,
            route text not null,
            status text not null,
            decided_by text not null,
            decided_at text not null,
            reason text not null,
            seq integer not null,         -- decision_log.id of the decision in force
            primary key (paper_id, route)
        )
        """
    )
    db.execute("create index decisions_route_status on decisions (route, status, seq)")
    db.execute(
        """
        create table list_lines (         -- papers known to stand in a route's published list
            route text not null,
            paper_id text not null,
            since text not null,
            primary key (route, paper_id)
        )
        """
    )


@MIGRATIONS(name="0003_posts_votes_search")
def _posts_votes(db: sqlite_utils.Database) -> None:
    # queued: to be posted | held: over the flood limit or backlog | posted | none: never posted
    db.execute("alter table matches add column post_status text not null default 'none'")
    db.execute("create index matches_post_status on matches (post_status)")
    db.execute(
        """
        create table posts (               -- one message per (paper, channel), ever
            paper_id text not null,
            channel text not null,        -- platform:channel-id, e.g. slack:C0123
            routes text not null,         -- JSON list of the routes it stands for
            state text not null,          -- intent: being sent, outcome unknown | sent
            ref text,                     -- the platform's message reference once sent
            created_at text not null,
            sent_at text,
            shown text,                   -- the decision status the message last showed
            primary key (paper_id, channel)
        )
        """
    )
    db.execute("create index posts_ref on posts (channel, ref)")
    db.execute(
        """
        create table votes (               -- current vote per (paper, user); redelivery: no-op
            paper_id text not null,
            user text not null,           -- platform:user-id
            value integer not null,       -- +1 or -1
            cast_by text not null,        -- reaction:<emoji> | button
            channel text not null,
            updated_at text not null,
            primary key (paper_id, user)
        )
        """
    )
    db.execute(
        "create virtual table papers_fts using fts5("
        "title, abstract, authors, content='papers', content_rowid='rowid')"
    )
    # Inserts and updates are indexed by Store.upsert_papers in bulk: a per-row trigger
    # costs six times as much (bench/ingest.py).
    db.execute(
        """
        create trigger papers_fts_delete after delete on papers begin
            insert into papers_fts (papers_fts, rowid, title, abstract, authors)
            values ('delete', old.rowid, old.title, old.abstract, old.authors);
        end
        """
    )
    db.execute("insert into papers_fts (papers_fts) values ('rebuild')")


@MIGRATIONS(name="0004_votes_per_post")
def _votes_per_post(db: sqlite_utils.Database) -> None:
    # A vote belongs to the post (channel) it was cast on: it counts for that post's routes.
    db.execute(
        """
        create table votes_by_post (
            paper_id text not null,
            user text not null,           -- platform:user-id
            channel text not null,        -- the post's channel, platform:channel-id
            value integer not null,       -- +1 or -1
            cast_by text not null,        -- reaction:<emoji> | button
            updated_at text not null,
            primary key (paper_id, channel, user)
        )
        """
    )
    db.execute(
        "insert into votes_by_post (paper_id, user, channel, value, cast_by, updated_at)"
        " select paper_id, user, channel, value, cast_by, updated_at from votes"
    )
    db.execute("drop table votes")
    db.execute("alter table votes_by_post rename to votes")


@MIGRATIONS(name="0005_tags_summaries_subscriptions")
def _tags_summaries_subscriptions(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        create table paper_notes (         -- a paper's tags and TL;DR on a route
            paper_id text not null,
            route text not null,
            tags text not null,           -- JSON list, in the order shown
            tags_by text not null,        -- list | curator:<user> | terms | tagger | llm
            tldr text not null,           -- '' when none
            tldr_by text not null,        -- list | llm | ''
            updated_at text not null,
            primary key (paper_id, route)
        )
        """
    )
    db.execute(
        """
        create table summaries (           -- the summariser's answer, so nothing is asked twice
            paper_id text not null,
            route text not null,
            status text not null,         -- ok | bad-output | failed
            relevant integer,             -- 1 | 0 | null (no usable answer)
            tags text not null,           -- JSON list, vocabulary only
            tldr text not null,
            created_at text not null,
            primary key (paper_id, route)
        )
        """
    )
    db.execute(
        """
        create table llm_calls (           -- calls made per UTC day, against the daily budget
            day text primary key,
            calls integer not null
        )
        """
    )
    db.execute(
        """
        create table subscriptions (
            user text not null,           -- platform:user-id
            channel text not null,        -- platform:channel-id where they subscribed
            what text not null,           -- tag:serving | term:kv cache | author:Jane Doe
            created_at text not null,
            primary key (user, channel, what)
        )
        """
    )
    db.execute(
        """
        create table subscription_replies (  -- one mention reply per post, exactly once
            paper_id text not null,
            channel text not null,
            state text not null,          -- intent | sent | none (nobody to mention)
            created_at text not null,
            primary key (paper_id, channel)
        )
        """
    )
    db.execute(
        """
        create table mail_sends (          -- one e-mail digest per subscriber and period
            subscriber text not null,     -- email|every|route
            period text not null,         -- 2026-11-24 (daily) | 2026-W48 (weekly)
            state text not null,          -- intent | sent | empty
            papers integer not null,
            at text not null,
            primary key (subscriber, period)
        )
        """
    )


@MIGRATIONS(name="0006_search_stemmed")
def _search_stemmed(db: sqlite_utils.Database) -> None:
    # Search folds word forms ("cache" finds "Caches", "caching"): the index is rebuilt with
    # the porter stemmer over unicode61 (accents folded too).
    db.execute("drop trigger papers_fts_delete")
    db.execute("drop table papers_fts")
    db.execute(
        "create virtual table papers_fts using fts5("
        "title, abstract, authors, content='papers', content_rowid='rowid',"
        " tokenize='porter unicode61 remove_diacritics 2')"
    )
    db.execute(
        """
        create trigger papers_fts_delete after delete on papers begin
            insert into papers_fts (papers_fts, rowid, title, abstract, authors)
            values ('delete', old.rowid, old.title, old.abstract, old.authors);
        end
        """
    )
    db.execute("insert into papers_fts (papers_fts) values ('rebuild')")


@MIGRATIONS(name="0007_list_entries")
def _list_entries(db: sqlite_utils.Database) -> None:
    # What a list file says of a paper (import, a line added by hand): its section, title as
    # written, version, tags and TL;DR, so paperbot can write the line back the same way.
    db.execute(
        """
        create table list_entries (
            route text not null,
            paper_id text not null,
            day text,                     -- the section's date, ISO; null when undated
            markup text not null,         -- the title as the list writes it (escapes kept)
            version integer,              -- the link's vN, null when the link has none
            tags text not null,           -- JSON list, in the order written
            tldr text,
            source text not null,         -- import | hand-edit
            recorded_at text not null,
            primary key (route, paper_id)
        )
        """
    )
