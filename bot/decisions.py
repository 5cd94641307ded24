"""Votes -> decisions: store each vote, re-decide with the voting policy, record who and why.

Also a curator's decision by hand, expiry, and publishing each route whose decisions
changed (one commit per burst, at most every PAPERBOT_PUBLISH_INTERVAL).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from bot.channels import Channels
from bot.clock import Clock
from bot.errors import PaperbotError
from bot.models import Outcome, PostState, Route, Vote, VoteEvent
from bot.posting import FINAL_SHOWN, Poster, posted_at
from bot.publish import PublishResult
from bot.voting import BUTTON, apply_signal, decide, is_final
from storage.store import Store

log = logging.getLogger(__name__)

Publish = Callable[[Route], PublishResult]  # runs in a worker thread


class Decisions:
    def __init__(
        self,
        *,
        store: Store,
        channels: Channels,
        poster: Poster,
        clock: Clock,
        publish: Publish | None = None,
    ) -> None:
        self.store = store
        self.channels = channels
        self.poster = poster
        self.clock = clock
        self.publish = publish
        # Guards the database work of deciding, never chat I/O: a vote is stored at once,
        # whatever the chats are doing, and posts are refreshed after the lock is released.
        self.lock = asyncio.Lock()

    async def reconcile_votes(self) -> int:
        """At start: read the reactions of every post still open, so that votes cast or
        withdrawn while the bot was down count. Returns how many votes changed."""
        changed = 0
        for post in self.store.posts(state=PostState.SENT):
            if post.ref is None or (post.shown or "").endswith(FINAL_SHOWN):
                continue
            changed += await self._reconcile(post.channel, post.ref)
        return changed

    async def reconcile_post(self, channel: str, ref: str) -> None:
        """Re-read one post's reactions (after a bulk removal, or a removal that another
        reaction of the same user may still stand in for)."""
        await self._reconcile(channel, ref)

    async def _reconcile(self, channel: str, ref: str) -> int:
        if not self.channels.is_running(channel) or not self.channels.usable(channel):
            return 0
        chat, channel_id = self.channels.chat(channel)
        try:
            current = await chat.read_votes(channel_id, ref)
        except PaperbotError as exc:
            self.channels.failed(channel, exc, "reading the votes")
            return 0
        changed = 0
        async with self.lock:
            post = self.store.post_by_ref(channel, ref)
            if post is None:
                return 0
            stored = {v.user: v for v in self.store.votes_for(post.paper_id, [channel])}
            for user in sorted(set(stored) | set(current)):
                old = stored.get(user)
                new = reconciled(
                    Vote(old.value, old.cast_by) if old else None, current.get(user, {})
                )
                if new == (Vote(old.value, old.cast_by) if old else None):
                    continue
                if self._past_expiry(post.paper_id, post.routes):
                    continue  # late votes decide nothing
                self.store.set_vote(
                    post.paper_id,
                    user,
                    new.value if new else None,
                    new.cast_by if new else "",
                    channel,
                )
                changed += 1
            if changed:
                log.info("%s: %d vote(s) read from %s's reactions", post.paper_id, changed, channel)
                self._evaluate(post.paper_id)
        if changed:
            await self.poster.refresh(post.paper_id)
        return changed

    async def on_vote(self, event: VoteEvent) -> str | None:
        """Store a vote and re-decide; returns a confirmation, or None when ignored."""
        if event.from_bot:
            return None
        async with self.lock:
            post = self.store.post_by_ref(event.channel, event.message_ref)
            if post is None:
                return None  # not one of our posts, or another channel's
            signal = event.signal
            stored = self.store.get_vote(post.paper_id, signal.user, event.channel)
            current = Vote(stored.value, stored.cast_by) if stored else None
            new = apply_signal(current, signal)
            if new == current:
                return confirmation(new)
            if self._past_expiry(post.paper_id, post.routes):
                self._evaluate(post.paper_id)  # settle the decision as it stood at expiry
            self.store.set_vote(
                post.paper_id,
                signal.user,
                new.value if new else None,
                new.cast_by if new else "",
                event.channel,
            )
            self._evaluate(post.paper_id)
        await self.poster.refresh(post.paper_id)
        return confirmation(new)

    def _past_expiry(self, paper_id: str, routes: tuple[str, ...]) -> bool:
        now = self.clock()
        for name in routes:
            route = self.channels.route(name)
            first = posted_at(self.store, paper_id, name)
            if route and first and now >= route.votes.expires_at(first):
                return True
        return False

    def _evaluate(self, paper_id: str) -> None:
        """Re-decide a paper on every route it was posted for (database only)."""
        now = self.clock()
        posts = self.store.posts(paper_id=paper_id)
        for name in dict.fromkeys(r for p in posts for r in p.routes):
            channels = [p.channel for p in posts if name in p.routes]
            votes = {v.user: v.value for v in self.store.votes_for(paper_id, channels)}
            route = self.channels.route(name)
            first = posted_at(self.store, paper_id, name)
            if route is None or first is None:
                continue
            current = self.store.decision(paper_id, name)
            past_expiry = now >= route.votes.expires_at(first)
            if current is not None and is_final(
                current.status, current.decided_by, past_expiry=past_expiry
            ):
                continue  # a curator's word, or the state at expiry: final
            verdict = decide(votes, route.votes, posted_at=first, now=now)
            if verdict.status == Outcome.PENDING and current is None:
                continue
            if self.store.decide(paper_id, name, verdict.status, verdict.by, verdict.reason):
                log.info("%s on %s: %s (%s)", paper_id, name, verdict.status, verdict.reason)
                self.store.mark_unpublished(name)

    async def decide_by_hand(self, paper_id: str, status: Outcome, who: str) -> str:
        """A curator's decision (CLI or command): final, recorded with who made it."""
        verb = "accept" if status == Outcome.ACCEPTED else "reject"
        async with self.lock:
            matches = self.store.matches_for(paper_id)
            if not matches:
                raise PaperbotError(f"{paper_id} matched no route; nothing to {verb}")
            for match in matches:
                if self.store.decide(paper_id, match.route, status, who, f"{status} by {who}"):
                    self.store.mark_unpublished(match.route)
        await self.poster.refresh(paper_id)
        return f"{paper_id} {status} on {', '.join(m.route for m in matches)} by {who}"

    async def expire_due(self) -> int:
        """Papers past their route's voting time: undecided ones expire, decided ones freeze.

        Either way the decision is final from then on, and every post shows it (no buttons).
        """
        due: list[str] = []
        expired = 0
        async with self.lock:
            for post in self.store.posts(state=PostState.SENT):
                if post.shown is not None and post.shown.endswith(FINAL_SHOWN):
                    continue  # already shows a final decision
                if post.paper_id in due or not self._past_expiry(post.paper_id, post.routes):
                    continue
                due.append(post.paper_id)
                before = {r: self.store.decision(post.paper_id, r) for r in post.routes}
                self._evaluate(post.paper_id)
                for name, was in before.items():
                    after = self.store.decision(post.paper_id, name)
                    if after is not None and after != was and after.status == Outcome.EXPIRED:
                        expired += 1
        for paper_id in due:
            await self.poster.refresh(paper_id)
        return expired

    def unpublished(self) -> list[str]:
        """Routes whose decisions changed since their list was last published."""
        return [r.name for r in self.channels.routes() if self.store.unpublished_mark(r.name)]

    async def publish_due(self) -> list[PublishResult]:
        """Sync every route's list from its remote (hand edits are decisions), then publish
        every route whose decisions changed since its last publish: one commit."""
        if self.publish is None:
            return []
        results = []
        sync = getattr(self.publish, "sync", None)  # a Publisher's: learn the remote's hand edits
        for route in self.channels.routes():
            if sync is not None and route.list_target is not None:
                await asyncio.to_thread(sync, route)  # marks the route when its list must change
            mark = self.store.unpublished_mark(route.name)
            if mark is None or route.list_target is None:
                continue
            result = await asyncio.to_thread(self.publish, route)
            self.store.clear_unpublished(route.name, mark)
            results.append(result)
            if result.changed:
                log.info(
                    "%s: list published (%d added, %d removed)",
                    route.name,
                    len(result.added),
                    len(result.removed),
                )
        return results


def reconciled(stored: Vote | None, reactions: Mapping[str, int]) -> Vote | None:
    """A user's vote given the voting reactions they have on the post now.

    A button vote stands; a reaction vote stands while its reaction does; otherwise the
    reactions decide when they agree (one vote whatever the reaction's kind), else none.
    """
    if stored is not None and stored.cast_by == BUTTON:
        return stored
    if stored is not None and stored.cast_by.removeprefix("reaction:") in reactions:
        return stored
    values = set(reactions.values())
    if len(values) != 1:
        return None if not values else stored
    emoji = sorted(reactions)[0]
    return Vote(values.pop(), f"reaction:{emoji}")


def confirmation(vote: Vote | None) -> str:
    if vote is None:
        return "Your vote is withdrawn."
    return "You voted to accept." if vote.value > 0 else "You voted to reject."
