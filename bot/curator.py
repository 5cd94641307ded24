"""The team loop around the pipeline: post matches, count votes, decide, publish, remind.

Exactly-once posting lives in the database: a post's intent is recorded before it is sent
and its message reference after; on start, intents whose outcome is unknown are looked up
through the chat's `find_post` before anything is sent again. Votes are stored as the current
vote per (paper, user), so a redelivered event changes nothing, and every decision is a
function of the current votes (`bot.curation.decide`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.announcements import EASTERN, latest_listing_date
from bot.chat.base import Chat, CommandEvent, PostView, Reply, VoteEvent
from bot.clock import Clock
from bot.commands import Commands, StatusInfo
from bot.curation import BY_EXPIRY, BY_VOTES, Outcome, Vote, apply_signal, decide, tally
from bot.errors import PaperbotError
from bot.models import Match, Paper, Reason, Route
from bot.publish import PublishResult
from bot.service import RulesSource, feed_key
from storage.store import Incoming, Store

log = logging.getLogger(__name__)

AUTOMATIC = (BY_VOTES, BY_EXPIRY)  # decisions the votes may still change
FetchPaper = Callable[[str], Awaitable[Paper | None]]


def post_nonce(paper_id: str, channel: str) -> str:
    """A stable 25-character nonce per (paper, channel), so a retried send is one message."""
    return hashlib.sha256(f"{paper_id}|{channel}".encode()).hexdigest()[:25]


class Curator:
    def __init__(
        self,
        *,
        store: Store,
        chats: Mapping[str, Chat],
        rules: RulesSource,
        clock: Clock,
        publish: Callable[[Route], PublishResult] | None = None,
        fetch_paper: FetchPaper | None = None,
        holidays: Sequence[date] = (),
        next_poll: Callable[[], datetime | None] | None = None,
    ) -> None:
        self.store = store
        self.chats = dict(chats)
        self.rules = rules
        self.clock = clock
        self.publish = publish  # runs in a worker thread, with its own database connection
        self.fetch_paper = fetch_paper
        self.holidays = tuple(holidays)
        self.commands = Commands(store, clock, add=self.add_paper, status=self._status)
        self.next_poll = next_poll  # when the scheduler polls next, for `status`
        self._lock = asyncio.Lock()  # one writer of posts and decisions at a time

    # --- where a route's papers go -------------------------------------------------------------

    def routes(self) -> tuple[Route, ...]:
        return self.rules.current()[0].routes

    def channels(self, route: Route) -> list[str]:
        """The route's channels on the chats that are running, as platform:channel-id."""
        found = []
        if route.slack_channel and "slack" in self.chats:
            found.append(f"slack:{route.slack_channel}")
        if route.discord_channel and "discord" in self.chats:
            found.append(f"discord:{route.discord_channel}")
        if not found:  # console and test chats: one channel per route, named after it
            found += [f"{p}:{route.name}" for p in self.chats if p not in ("slack", "discord")]
        return found

    def routes_of_channel(self, channel: str) -> list[Route]:
        return [r for r in self.routes() if channel in self.channels(r)]

    def _chat(self, channel: str) -> tuple[Chat, str]:
        platform, _, channel_id = channel.partition(":")
        return self.chats[platform], channel_id

    async def check_channels(self) -> None:
        """At start-up: every configured channel must be visible to the bot."""
        for route in self.routes():
            for channel in self.channels(route):
                chat, channel_id = self._chat(channel)
                await chat.check_channel(channel_id)

    # --- posting exactly once ------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Settle posts whose outcome is unknown (a crash between send and record)."""
        async with self._lock:
            for post in self.store.posts(state="intent"):
                await self._settle(post.paper_id, post.channel)

    async def _settle(self, paper_id: str, channel: str) -> bool:
        """Make sure an intended post exists exactly once; True when it does now."""
        if channel.partition(":")[0] not in self.chats:
            return False  # that platform is not running now: settled when it is
        chat, channel_id = self._chat(channel)
        try:
            ref = await chat.find_post(channel_id, paper_id)
            if ref is None:
                view = self.view(paper_id, channel)
                if view is None:
                    return False
                ref = await chat.post_paper(channel_id, view, post_nonce(paper_id, channel))
        except PaperbotError as exc:
            log.warning("post of %s to %s failed, will retry: %s", paper_id, channel, exc)
            return False
        self.store.post_sent(paper_id, channel, ref)
        return True

    async def post_queued(self) -> int:
        """Post every queued match: once per (paper, channel), within each route's limits."""
        async with self._lock:
            return await self._post_queued()

    async def _post_queued(self) -> int:
        queued = self.store.queued_matches()
        if not queued:
            return 0
        routes = {r.name: r for r in self.routes()}
        papers = {p.paper.id: p for p in self.store.get_papers([m.paper_id for m in queued])}
        plan: dict[tuple[str, str], list[Match]] = {}
        held: list[tuple[str, str]] = []
        announcements: list[tuple[str, int]] = []
        for name in dict.fromkeys(m.route for m in queued):
            route = routes.get(name)
            mine = [m for m in queued if m.route == name and m.paper_id in papers]
            channels = self.channels(route) if route else []
            if route is None or not channels:
                log.warning("route %s has no channel on a running chat; holding its posts", name)
                held += [(m.paper_id, m.route) for m in mine]
                continue
            mine.sort(key=lambda m: papers[m.paper_id].listing_date or date.min, reverse=True)
            if all(self.store.count_posts(ch) == 0 for ch in channels):
                latest = papers[mine[0].paper_id].listing_date
                backlog = [m for m in mine if papers[m.paper_id].listing_date != latest]
                if backlog:
                    log.info("%s: first posts in a new channel; %d older held", name, len(backlog))
                held += [(m.paper_id, m.route) for m in backlog]
                mine = [m for m in mine if papers[m.paper_id].listing_date == latest]
            over = mine[route.max_posts_per_poll :]
            held += [(m.paper_id, m.route) for m in over]
            if over:
                announcements += [(ch, len(over)) for ch in channels]
            for match in mine[: route.max_posts_per_poll]:
                for channel in channels:
                    plan.setdefault((match.paper_id, channel), []).append(match)
        self.store.set_post_status(held, "held")

        posted = 0
        sent: set[tuple[str, str]] = set()
        failed: set[tuple[str, str]] = set()
        for (paper_id, channel), matches in plan.items():
            post = self.store.post_intent(paper_id, channel, [m.route for m in matches])
            ok = post.state == "sent" or await self._settle(paper_id, channel)
            posted += ok
            (sent if ok else failed).update((m.paper_id, m.route) for m in matches)
        done = sent - failed  # a match failed on one channel stays queued for that channel
        self.store.set_post_status(done, "posted")
        for channel, count in announcements:
            chat, channel_id = self._chat(channel)
            await self._send(chat, channel_id, f"…and {count} more: /papers pending")
        return posted

    def view(self, paper_id: str, channel: str) -> PostView | None:
        stored = self.store.get_paper(paper_id)
        if stored is None:
            return None
        post = self.store.get_post(paper_id, channel)
        routes = post.routes if post else tuple(m.route for m in self.store.matches_for(paper_id))
        reasons: list[Reason] = []
        for match in self.store.matches_for(paper_id):
            if match.route in routes:
                reasons += [r for r in match.reasons if r not in reasons]
        ups, downs = tally({v.user: v.value for v in self.store.votes_for(paper_id)})
        status, note = "pending", ""
        decisions = [d for r in routes if (d := self.store.decision(paper_id, r)) is not None]
        final = bool(decisions) and all(
            d.status == Outcome.EXPIRED or d.decided_by not in AUTOMATIC for d in decisions
        )
        if decisions:
            first = decisions[0]
            status = first.status
            note = "; ".join(
                f"{d.status} by {d.decided_by}" + (f" ({d.route})" if len(routes) > 1 else "")
                for d in decisions
            )
        return PostView(
            stored.paper, tuple(routes), tuple(reasons), status, note, ups, downs, final
        )

    # --- votes and decisions --------------------------------------------------------------------

    async def on_vote(self, event: VoteEvent) -> str | None:
        """Apply a vote; returns a confirmation for the voter, or None when ignored."""
        if event.from_bot:
            return None
        async with self._lock:
            post = self.store.post_by_ref(event.channel, event.message_ref)
            if post is None:
                return None  # not one of our posts, or another channel's
            signal = event.signal
            stored = self.store.get_vote(post.paper_id, signal.user)
            current = Vote(stored.value, stored.cast_by) if stored else None
            new = apply_signal(current, signal)
            if new == current:
                return _confirmation(new)
            self.store.set_vote(
                post.paper_id,
                signal.user,
                new.value if new else None,
                new.cast_by if new else "",
                event.channel,
            )
            await self._evaluate(post.paper_id)
            return _confirmation(new)

    async def _evaluate(self, paper_id: str) -> None:
        """Re-decide a paper on every route it was posted for; update posts that changed."""
        routes = {r.name: r for r in self.routes()}
        votes = {v.user: v.value for v in self.store.votes_for(paper_id)}
        now = self.clock()
        changed = False
        posts = self.store.posts(paper_id=paper_id)
        for name in dict.fromkeys(r for p in posts for r in p.routes):
            route = routes.get(name)
            posted = [p.sent_at for p in posts if name in p.routes and p.sent_at is not None]
            if route is None or not posted:
                continue
            current = self.store.decision(paper_id, name)
            past_expiry = now >= route.votes.expires_at(min(posted))
            final = None
            if current is not None and (
                current.decided_by not in AUTOMATIC
                or current.status == Outcome.EXPIRED
                or (past_expiry and current.status in (Outcome.ACCEPTED, Outcome.REJECTED))
            ):
                final = current.status  # a curator's word, or the state at expiry: final
            verdict = decide(votes, route.votes, posted_at=min(posted), now=now, final=final)
            if verdict.by == "final":
                continue
            if verdict.status == Outcome.PENDING and current is None:
                continue
            if self.store.decide(paper_id, name, verdict.status, verdict.by, verdict.reason):
                log.info("%s on %s: %s (%s)", paper_id, name, verdict.status, verdict.reason)
                self.store.set_state(f"unpublished:{name}", now.isoformat())
                changed = True
        if changed or posts:
            await self._refresh_posts(paper_id)

    async def _refresh_posts(self, paper_id: str) -> None:
        for post in self.store.posts(paper_id=paper_id, state="sent"):
            view = self.view(paper_id, post.channel)
            if view is None or post.ref is None or post.channel.partition(":")[0] not in self.chats:
                continue
            shown = f"{view.status}|{view.ups}|{view.downs}"
            if post.shown == shown:
                continue
            chat, channel_id = self._chat(post.channel)
            try:
                await chat.update_post(channel_id, post.ref, view)
            except PaperbotError as exc:
                log.warning("could not update the post of %s: %s", paper_id, exc)
                continue
            self.store.set_post_shown(paper_id, post.channel, shown)

    async def decide_by_hand(self, paper_id: str, status: str, who: str) -> str:
        """A curator's decision (CLI or command): final, recorded with who made it."""
        async with self._lock:
            matches = self.store.matches_for(paper_id)
            if not matches:
                raise PaperbotError(f"{paper_id} matched no route; nothing to {status[:-2]}")
            for match in matches:
                if self.store.decide(paper_id, match.route, status, who, f"{status} by {who}"):
                    self.store.set_state(f"unpublished:{match.route}", self.clock().isoformat())
            await self._refresh_posts(paper_id)
            return f"{paper_id} {status} on {', '.join(m.route for m in matches)} by {who}"

    async def expire_due(self) -> int:
        """Undecided posted papers past their route's expiry become expired (final)."""
        async with self._lock:
            expired = 0
            for route in self.routes():
                for stored, state in self.store.pending([route.name], limit=100_000):
                    if state != "posted":
                        continue
                    before = self.store.decision(stored.paper.id, route.name)
                    await self._evaluate(stored.paper.id)
                    after = self.store.decision(stored.paper.id, route.name)
                    if after is not None and after != before and after.status == Outcome.EXPIRED:
                        expired += 1
            return expired

    # --- publishing -------------------------------------------------------------------------

    def unpublished(self) -> list[str]:
        return [r.name for r in self.routes() if self.store.get_state(f"unpublished:{r.name}")]

    async def publish_due(self) -> list[PublishResult]:
        """Publish every route whose decisions changed since its last publish: one commit."""
        if self.publish is None:
            return []
        results = []
        for route in self.routes():
            mark = self.store.get_state(f"unpublished:{route.name}")
            if mark is None or route.list_target is None:
                continue
            result = await asyncio.to_thread(self.publish, route)
            if self.store.get_state(f"unpublished:{route.name}") == mark:
                self.store.delete_state(f"unpublished:{route.name}")
            results.append(result)
            if result.changed:
                log.info(
                    "%s: list published (%d added, %d removed)",
                    route.name,
                    len(result.added),
                    len(result.removed),
                )
        return results

    # --- commands ---------------------------------------------------------------------------

    async def on_command(self, event: CommandEvent) -> Reply:
        routes = self.routes_of_channel(event.channel) or list(self.routes())
        return await self.commands.run(event.text, [r.name for r in routes], event.user)

    async def add_paper(
        self, paper_id: str, routes: Sequence[str], who: str, *, post_now: bool = True
    ) -> Reply:
        """`add <id>`: fetch the paper if needed and post it for votes in the routes' channels.

        Without `post_now` (the CLI) the paper is queued; the running bot posts it.
        """
        stored = self.store.get_paper(paper_id)
        if stored is None:
            if self.fetch_paper is None:
                return Reply(
                    f"{paper_id} is not in the database and arXiv is not reachable here", ok=False
                )
            paper = await self.fetch_paper(paper_id)
            if paper is None:
                return Reply(f"arXiv has no paper {paper_id}; check the id", ok=False)
            when = paper.published.date() if paper.published else self.clock().date()
            self.store.upsert_papers([Incoming(paper, when, True, "api:add")])
            stored = self.store.get_paper(paper_id)
            assert stored is not None
        reason = (Reason(f"added by {who}", "request", ""),)
        self.store.add_matches([Match(paper_id, r, reason) for r in routes], "manual")
        for route in routes:
            self.store.requeue(paper_id, route)
        title = f"{stored.paper.title} <{stored.paper.url}>"
        if not post_now:
            return Reply(f"Queued {title}; the running bot posts it within a minute")
        async with self._lock:
            await self._post_queued()
        return Reply(f"Posted {title} for votes", public=True)

    def _status(self) -> StatusInfo:
        return StatusInfo(
            next_poll=self.next_poll() if self.next_poll else None,
            unpublished=tuple(self.unpublished()),
        )

    # --- digests and notices -------------------------------------------------------------------

    def digest_text(self, route: Route, timezone: str) -> str:
        now = self.clock()
        since_raw = self.store.get_state(f"digest:{route.name}")
        since = datetime.fromisoformat(since_raw) if since_raw else now - timedelta(days=7)
        lines = [f"*paperbot digest for {route.name}*"]
        posted = [
            p
            for p in self.store.posts(state="sent")
            if route.name in p.routes and p.sent_at is not None and p.sent_at >= since
        ]
        seen: set[str] = set()
        recent = []
        for post in posted:
            if post.paper_id in seen:
                continue
            seen.add(post.paper_id)
            view = self.view(post.paper_id, post.channel)
            if view:
                recent.append(
                    f"• {view.paper.title} <{view.paper.url}> 👍 {view.ups} 👎 {view.downs}"
                )
        lines.append(f"Posted since the last digest: {len(recent)}")
        lines += recent
        pending = [s for s, state in self.store.pending([route.name]) if state == "posted"]
        lines.append(f"Still pending, needs your votes: {len(pending)}")
        lines += [f"• {s.paper.title} <{s.paper.url}>" for s in pending[:20]]
        local = now.astimezone(ZoneInfo(timezone))
        if local.weekday() == 0:
            week = self.store.decided_since([route.name], "accepted", now - timedelta(days=7), 200)
            papers = {s.paper.id: s for s in self.store.get_papers([d.paper_id for d in week])}
            lines.append(f"Accepted last week: {len(week)}")
            lines += [
                f"• {papers[d.paper_id].paper.title} <{papers[d.paper_id].paper.url}>"
                for d in week
                if d.paper_id in papers
            ]
        return "\n".join(lines)

    async def send_digest(self, route_name: str) -> None:
        route = next((r for r in self.routes() if r.name == route_name), None)
        if route is None:
            return
        timezone = route.digest.timezone if route.digest else "UTC"
        text = self.digest_text(route, timezone)
        for channel in self.channels(route):
            chat, channel_id = self._chat(channel)
            await self._send(chat, channel_id, text)
        self.store.set_state(f"digest:{route.name}", self.clock().isoformat())

    async def check_listings(self) -> int:
        """One notice per route and day when the expected listing has not come (or is stale)."""
        now = self.clock()
        expected = latest_listing_date(now, self.holidays)
        if now.astimezone(EASTERN).date() != expected:
            return 0  # no listing is due today (weekend or holiday)
        sent = 0
        for route in self.routes():
            key = f"notice:{route.name}:{expected.isoformat()}"
            if self.store.get_state(key):
                continue
            good = [
                run
                for fmt in ("rss", "atom")
                for run in self.store.feed_runs(f"{fmt}:{feed_key(route.categories)}", limit=20)
                if run.status in ("ok", "quiet", "not-modified") and run.listing_date == expected
            ]
            if good:
                continue
            text = (
                f"arXiv's listing for {expected.isoformat()} has not reached paperbot yet "
                f"(feed {feed_key(route.categories)} missing or stale); it keeps polling and will "
                "catch up through the API"
            )
            for channel in self.channels(route):
                chat, channel_id = self._chat(channel)
                await self._send(chat, channel_id, text)
            self.store.set_state(key, now.isoformat())
            sent += 1
        return sent

    async def _send(self, chat: Chat, channel_id: str, text: str) -> None:
        try:
            await chat.send_text(channel_id, text)
        except PaperbotError as exc:
            log.warning("could not send a message to %s:%s: %s", chat.platform, channel_id, exc)


def _confirmation(vote: Vote | None) -> str:
    if vote is None:
        return "Your vote is withdrawn."
    return "You voted to accept." if vote.value > 0 else "You voted to reject."
