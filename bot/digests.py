"""What channels are told on a schedule: digests, and a notice when a listing is missing.

A digest is a `Reply`; each chat renders it in its own markup.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TypeVar

from bot.channels import Channels
from bot.clock import Clock
from bot.ingest import feed_key
from bot.listing_calendar import EASTERN, latest_listing_date
from bot.models import FeedStatus, Outcome, PostState, PostStatus, Reply, ReplyItem, Route
from bot.posting import Poster
from storage.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

PENDING_SHOWN = 20  # pending papers listed in a digest; the rest are counted
DECIDED_SHOWN = 200  # decisions of each kind listed in a digest
FIRST_DIGEST_DAYS = 7  # a route's first digest looks this far back


class Digests:
    def __init__(
        self,
        *,
        store: Store,
        channels: Channels,
        poster: Poster,
        clock: Clock,
        holidays: Sequence[date] = (),
    ) -> None:
        self.store = store
        self.channels = channels
        self.poster = poster
        self.clock = clock
        self.holidays = tuple(holidays)

    def digest(self, route: Route) -> Reply:
        """Posted since the last digest (with outcome and votes), decided since the last
        digest, and what is still pending."""
        now = self.clock()
        since = self.store.last_digest(route.name) or now - timedelta(days=FIRST_DIGEST_DAYS)
        items: list[ReplyItem] = []
        fits: list[float | None] = []  # each posted item's score: the best are listed first
        seen: set[str] = set()
        for post in self.store.posts(state=PostState.SENT):
            if route.name not in post.routes or post.sent_at is None or post.sent_at < since:
                continue
            if post.paper_id in seen:
                continue
            seen.add(post.paper_id)
            view = self.poster.view(post.paper_id, post.channel)
            if view:
                detail = " · ".join(
                    part
                    for part in (
                        f"posted · {view.status} · 👍 {view.ups} 👎 {view.downs}",
                        f"fits {view.score:.2f}" if view.score is not None else "",
                        " ".join(view.tags),
                        f"TL;DR: {view.tldr}" if view.tldr else "",
                    )
                    if part
                )
                items.append(ReplyItem(view.paper.id, view.paper.title, view.paper.url, detail))
                fits.append(view.score)
        items = best_first(items, fits)
        sections = [f"Posted since the last digest: {len(items)}"]
        decided = [
            d
            for status in (Outcome.ACCEPTED, Outcome.REJECTED, Outcome.EXPIRED)
            for d in self.store.decided_since([route.name], status, since, DECIDED_SHOWN)
        ]
        papers = {s.paper.id: s for s in self.store.get_papers([d.paper_id for d in decided])}
        items += [
            ReplyItem(
                d.paper_id,
                papers[d.paper_id].paper.title,
                papers[d.paper_id].paper.url,
                f"{d.status} by {d.decided_by}",
            )
            for d in sorted(decided, key=lambda d: d.decided_at)
            if d.paper_id in papers
        ]
        sections.append(f"decided: {len(decided)}")
        pending = [s for s, state in self.store.pending([route.name]) if state == PostStatus.POSTED]
        taste = self.poster.taste
        if taste is not None:
            pending = best_first(
                pending, [taste.score_of(s.paper.id, [route.name]) for s in pending]
            )
        items += [
            ReplyItem(s.paper.id, s.paper.title, s.paper.url, "pending: needs your votes")
            for s in pending[:PENDING_SHOWN]
        ]
        sections.append(f"still pending: {len(pending)}")
        return Reply(f"paperbot digest for {route.name}. " + "; ".join(sections), tuple(items))

    async def send_digest(self, route_name: str) -> None:
        route = self.channels.route(route_name)
        if route is None:
            return
        reply = self.digest(route)
        for channel in self.channels.of_route(route):
            await self.channels.send(channel, reply)
        self.store.set_last_digest(route.name, self.clock())

    async def check_listings(self) -> int:
        """One notice per route and day when the expected listing has not come (or is stale)."""
        now = self.clock()
        expected = latest_listing_date(now, self.holidays)
        if now.astimezone(EASTERN).date() != expected:
            return 0  # no listing is due today (weekend or holiday)
        sent = 0
        good = (FeedStatus.OK, FeedStatus.QUIET, FeedStatus.NOT_MODIFIED)
        for route in self.channels.routes():
            if self.store.notice_sent(route.name, expected):
                continue
            key = feed_key(route.categories)
            if any(
                run.status in good and run.listing_date == expected
                for fmt in ("rss", "atom")
                for run in self.store.feed_runs(f"{fmt}:{key}", limit=20)
            ):
                continue
            text = (
                f"arXiv's listing for {expected.isoformat()} has not reached paperbot yet "
                f"(feed {key} missing or stale); it keeps polling and will catch up through the API"
            )
            for channel in self.channels.of_route(route):
                await self.channels.send(channel, Reply(text))
            self.store.record_notice(route.name, expected)
            sent += 1
        return sent


def best_first(items: Sequence[T], scores: Sequence[float | None]) -> list[T]:
    """Items by score, best first; those without one after them, each in the order given."""
    order = sorted(range(len(items)), key=lambda i: (scores[i] is None, -(scores[i] or 0.0)))
    return [items[i] for i in order]
