"""Posting exactly once: intent recorded, then sent, then its reference recorded.

An intent whose outcome is unknown (left by an earlier process or round) is looked up with
the chat's `find_post` before it is sent again. Also keeps sent posts showing their votes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from bot.channels import Channels
from bot.clock import Clock
from bot.errors import PaperbotError
from bot.models import Match, PostState, PostStatus, PostView, Reason, Reply, Route, StoredPaper
from bot.posting_policy import plan_posts
from bot.voting import is_final, tally
from storage.store import Store

if TYPE_CHECKING:
    from bot.taste_loop import Taste

log = logging.getLogger(__name__)


def post_nonce(paper_id: str, channel: str) -> str:
    """A stable 25-character nonce per (paper, channel), so a retried send is one message."""
    return hashlib.sha256(f"{paper_id}|{channel}".encode()).hexdigest()[:25]


def posted_at(store: Store, paper_id: str, route: str) -> datetime | None:
    """When the paper was first posted for this route (None: not posted yet)."""
    sent = [
        p.sent_at
        for p in store.posts(paper_id=paper_id)
        if route in p.routes and p.sent_at is not None
    ]
    return min(sent) if sent else None


FINAL_SHOWN = "|final"  # the end of a post's `shown` key once it shows a final decision


def shown_key(view: PostView) -> str:
    """What a post last showed, to skip updates that would change nothing."""
    shown = f"{view.status}|{view.ups}|{view.downs}"
    if view.tags or view.tldr:  # tags and TL;DR arrive later: the post is edited then
        shown += "|notes:" + hashlib.sha256(f"{view.tags}|{view.tldr}".encode()).hexdigest()[:12]
    return shown + (FINAL_SHOWN if view.final else "")


class Poster:
    def __init__(
        self, *, store: Store, channels: Channels, clock: Clock, taste: Taste | None = None
    ) -> None:
        self.store = store
        self.channels = channels
        self.clock = clock
        self.taste = taste  # the routes' learnt taste: each post's fit, best first
        self.lock = asyncio.Lock()  # one posting round at a time (votes never wait on it)
        self._refreshing: set[str] = set()
        self._again: set[str] = set()

    async def reconcile(self) -> None:
        """Settle posts whose outcome is unknown (a crash between send and record)."""
        async with self.lock:
            for post in self.store.posts(state=PostState.INTENT):
                await self._settle(post.paper_id, post.channel)
            self._offer_to_new_channels()

    def _offer_to_new_channels(self) -> None:
        """A channel with no post yet (its platform just configured, say) gets what a new
        channel gets: the latest listing's undecided matches, queued again (posted once per
        channel: channels that have them keep their posts)."""
        for route in self.channels.routes():
            channels = self.channels.of_route(route)
            if not channels or all(self.store.count_posts(ch) > 0 for ch in channels):
                continue
            waiting = self.store.undecided_posted(route.name)
            latest = max((day for _, day in waiting if day is not None), default=None)
            for paper_id, day in waiting:
                if day == latest:
                    self.store.requeue(paper_id, route.name)

    async def post_queued(self) -> int:
        """Post every queued match: once per (paper, channel), within each route's limits."""
        async with self.lock:
            return await self.post_queued_locked()

    async def post_queued_locked(self) -> int:
        queued = self.store.queued_matches()
        if not queued:
            return 0
        papers = {p.paper.id: p for p in self.store.get_papers([m.paper_id for m in queued])}
        if self.taste is not None:
            await self.taste.load()  # off the event loop: the first load imports scikit-learn
        plan: dict[tuple[str, str], list[Match]] = {}
        held: list[tuple[str, str]] = []
        overflow: list[tuple[str, int]] = []
        for name in dict.fromkeys(m.route for m in queued):
            route = self.channels.route(name)
            mine = {m.paper_id: m for m in queued if m.route == name and m.paper_id in papers}
            channels = self.channels.of_route(route) if route else []
            if route is None or not channels:
                log.warning("route %s has no channel on a running chat; holding its posts", name)
                held += [(pid, name) for pid in mine]
                continue
            decided = plan_posts(
                [(pid, papers[pid].listing_date) for pid in mine],
                limit=route.max_posts_per_poll,
                new_channel=all(self.store.count_posts(ch) == 0 for ch in channels),
                scores=self._scores(route, [papers[pid] for pid in mine]),
            )
            if decided.backlog:
                log.info(
                    "%s: first posts in a new channel; %d older held", name, len(decided.backlog)
                )
            held += [(pid, name) for pid in decided.held]
            if decided.over:
                overflow += [(ch, len(decided.over)) for ch in channels]
            for pid in decided.post:
                for channel in channels:
                    plan.setdefault((pid, channel), []).append(mine[pid])
        self.store.set_post_status(held, PostStatus.HELD)

        posted = 0
        sent: set[tuple[str, str]] = set()
        failed: set[tuple[str, str]] = set()
        for (paper_id, channel), matches in plan.items():
            fresh = self.store.get_post(paper_id, channel) is None
            post = self.store.post_intent(paper_id, channel, [m.route for m in matches])
            ok = post.state == PostState.SENT or await self._settle(
                paper_id, channel, unknown=not fresh
            )
            posted += ok
            (sent if ok else failed).update((m.paper_id, m.route) for m in matches)
        self.store.set_post_status(sent - failed, PostStatus.POSTED)  # failed: stays queued
        for channel, count in overflow:
            await self.channels.send(channel, Reply(f"…and {count} more: /papers pending"))
        return posted

    async def _settle(self, paper_id: str, channel: str, *, unknown: bool = True) -> bool:
        """Make sure an intended post exists exactly once; True when it does now.

        Only an intent whose outcome is `unknown` (an earlier process or round tried to
        send it) is looked for in the channel first; a fresh one is simply sent.
        """
        if not self.channels.is_running(channel) or not self.channels.usable(channel):
            return False  # not running now, or refused for good: settled when it works
        chat, channel_id = self.channels.chat(channel)
        try:
            ref = await chat.find_post(channel_id, paper_id) if unknown else None
            if ref is None:
                view = self.view(paper_id, channel)
                if view is None:
                    return False
                ref = await chat.post_paper(channel_id, view, post_nonce(paper_id, channel))
        except PaperbotError as exc:
            self.channels.failed(channel, exc, f"the post of {paper_id}")
            return False
        self.store.post_sent(paper_id, channel, ref)
        self.channels.worked(channel)
        return True

    def view(self, paper_id: str, channel: str) -> PostView | None:
        """What the post of a paper in a channel shows now."""
        stored = self.store.get_paper(paper_id)
        if stored is None:
            return None
        post = self.store.get_post(paper_id, channel)
        matches = self.store.matches_for(paper_id)
        routes = post.routes if post else tuple(m.route for m in matches)
        reasons: list[Reason] = []
        for match in matches:
            if match.route in routes:
                reasons += [r for r in match.reasons if r not in reasons]
        ups, downs = tally({v.user: v.value for v in self.store.votes_for(paper_id, [channel])})
        decisions = [d for r in routes if (d := self.store.decision(paper_id, r)) is not None]
        now = self.clock()
        final = bool(decisions) and all(
            is_final(d.status, d.decided_by, past_expiry=self._past_expiry(paper_id, d.route, now))
            for d in decisions
        )
        status, note = "pending", ""
        if decisions:
            status = decisions[0].status
            note = "; ".join(
                f"{d.status} by {d.decided_by}" + (f" ({d.route})" if len(routes) > 1 else "")
                for d in decisions
            )
        notes = [n for r in routes if (n := self.store.note(paper_id, r)) is not None]
        tags = tuple(dict.fromkeys(t for n in notes for t in n.tags))
        tldr = next((n.tldr for n in notes if n.tldr), "")
        fit = self.taste.fit(stored, routes) if self.taste is not None else None
        score, rank, of = fit if fit is not None else (None, 0, 0)
        return PostView(
            stored.paper,
            tuple(routes),
            tuple(reasons),
            status,
            note,
            ups,
            downs,
            final,
            tags,
            tldr,
            score=score,
            rank=rank,
            of=of,
        )

    def _scores(self, route: Route, papers: list[StoredPaper]) -> dict[str, float]:
        """The route's scores of these papers, where its model speaks."""
        if self.taste is None:
            return {}
        found = {p.paper.id: self.taste.fit(p, [route.name]) for p in papers}
        return {pid: fit[0] for pid, fit in found.items() if fit is not None}

    def _past_expiry(self, paper_id: str, route_name: str, now: datetime) -> bool:
        route: Route | None = self.channels.route(route_name)
        first = posted_at(self.store, paper_id, route_name)
        return route is not None and first is not None and now >= route.votes.expires_at(first)

    async def refresh(self, paper_id: str) -> None:
        """Update every sent post of the paper whose shown status or votes changed.

        Coalesced per paper: while one refresh is in flight, later calls only ask it to run
        once more, so a burst of votes costs two updates, not one per vote.
        """
        if paper_id in self._refreshing:
            self._again.add(paper_id)
            return
        self._refreshing.add(paper_id)
        try:
            while True:
                self._again.discard(paper_id)
                await self._refresh_once(paper_id)
                if paper_id not in self._again:
                    return
        finally:
            self._refreshing.discard(paper_id)

    async def _refresh_once(self, paper_id: str) -> None:
        for post in self.store.posts(paper_id=paper_id, state=PostState.SENT):
            if post.ref is None or not self.channels.is_running(post.channel):
                continue
            if not self.channels.usable(post.channel):
                continue
            view = self.view(paper_id, post.channel)
            if view is None:
                continue
            shown = shown_key(view)
            if post.shown == shown:
                continue
            chat, channel_id = self.channels.chat(post.channel)
            try:
                await chat.update_post(channel_id, post.ref, view)
            except PaperbotError as exc:
                self.channels.failed(post.channel, exc, f"updating the post of {paper_id}")
                continue
            self.store.set_post_shown(paper_id, post.channel, shown)
