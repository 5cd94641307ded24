"""`/papers`: one catalogue of commands, parsed once, answered from the store.

The chat usage, the CLI's commands and Discord's app commands are all built from
`CATALOGUE`. Answers are `Reply` objects; each chat renders them its own way.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.arxiv.ids import parse_arxiv_id
from bot.channels import Channels
from bot.clock import Clock
from bot.display import reason_text
from bot.errors import UsageError
from bot.models import (
    CommandEvent,
    Incoming,
    Match,
    Paper,
    Reason,
    Reply,
    ReplyItem,
    StoredPaper,
)
from bot.posting import Poster
from storage.store import Store

ArgKind = Literal["days", "words", "id"] | None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    arg: ArgKind
    help: str
    default_days: int | None = None

    @property
    def usage(self) -> str:
        arg = {"days": " [days]", "words": " <words>", "id": " <arXiv id>", None: ""}[self.arg]
        return f"{self.name}{arg}"


CATALOGUE: tuple[CommandSpec, ...] = (
    CommandSpec("recent", "days", "papers matched in the last days (default 3)", 3),
    CommandSpec("search", "words", "search titles, abstracts and authors, newest first"),
    CommandSpec("accepted", "days", "papers accepted in the last days (default 7)", 7),
    CommandSpec("rejected", "days", "papers rejected in the last days (default 7)", 7),
    CommandSpec("pending", None, "posted papers still waiting for votes"),
    CommandSpec("stats", None, "counts and top voters"),
    CommandSpec("why", "id", "which rule matched what, and the votes"),
    CommandSpec("add", "id", "fetch a paper by id and post it for votes"),
    CommandSpec("status", None, "last good poll, next poll, pending posts, unpublished decisions"),
    CommandSpec("help", None, "this text"),
)
SPECS = {spec.name: spec for spec in CATALOGUE}
MAX_DAYS = 365
USAGE = "Usage: /papers <command>\n" + "\n".join(
    f"  {spec.usage:<18} {spec.help}" for spec in CATALOGUE
)
COMMANDS = tuple(spec.name for spec in CATALOGUE if spec.name != "help")
DECIDING = ("add",)  # commands that change what the team votes on: curators only, where set
NO_ROUTE_HERE = (
    "this channel belongs to no route: ask in a route's channel (/papers help works anywhere)"
)


@dataclass(frozen=True, slots=True)
class Parsed:
    name: str
    days: int | None = None
    words: tuple[str, ...] = ()
    paper_id: str | None = None


def parse_command(text: str) -> Parsed:
    """Parse `/papers` text; raises UsageError with one sentence for anything off."""
    try:
        parts = shlex.split(text)
    except ValueError:
        parts = text.split()
    if not parts or parts[0].lower() in ("help", "-h", "--help"):
        return Parsed("help")
    name, args = parts[0].lower(), parts[1:]
    spec = SPECS.get(name)
    if spec is None:
        raise UsageError(f"'{parts[0][:40]}' is not a command")
    if spec.arg == "days":
        if len(args) > 1:
            raise UsageError(f"{name} takes at most one number of days")
        return Parsed(name, days=parse_days(args[0]) if args else spec.default_days)
    if spec.arg == "words":
        if not args:
            raise UsageError("search needs words to look for, such as: search kv cache")
        return Parsed(name, words=tuple(w[:100] for w in args[:20]))
    if spec.arg == "id":
        if len(args) != 1:
            raise UsageError(f"{name} needs one arXiv id, such as: {name} 2503.12228")
        return Parsed(name, paper_id=parse_paper_id(args[0]))
    if args:
        raise UsageError(f"{name} takes no arguments")
    return Parsed(name)


def parse_paper_id(text: str) -> str:
    found = parse_arxiv_id(text)
    if found is None:
        raise UsageError(f"'{text[:40]}' is not an arXiv id such as 2503.12228")
    return found[0]


def parse_days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
        raise UsageError(f"'{text[:20]}' is not a number of days from 1 to {MAX_DAYS}")
    return int(text)


@dataclass(frozen=True, slots=True)
class StatusInfo:
    next_poll: datetime | None = None
    unpublished: tuple[str, ...] = ()


FetchPaper = Callable[[str], Awaitable[Paper | None]]  # an arXiv id -> the paper, from the API


class PapersCommand:
    """Answers commands from the store; `add` fetches a paper and queues or posts it."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        channels: Channels | None = None,
        poster: Poster | None = None,
        fetch: FetchPaper | None = None,
        status: Callable[[], StatusInfo] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.channels = channels
        self.poster = poster  # None: `add` only queues; the running bot posts
        self.fetch = fetch
        self._status = status or StatusInfo

    async def on_command(self, event: CommandEvent) -> Reply:
        """A `/papers` command from a chat: answered for the routes of its channel only.

        In a channel of no route only `help` works; `add` obeys each route's curators.
        """
        routes = self.channels.routes_of(event.channel) if self.channels else []
        try:
            parsed = parse_command(event.text)
        except UsageError as exc:
            return Reply(f"{exc}.\n{USAGE}", ok=False)
        if parsed.name == "help":
            return Reply(USAGE)
        if not routes:
            return Reply(NO_ROUTE_HERE, ok=False)
        if parsed.name in DECIDING:
            allowed = [r for r in routes if r.votes.may_decide(event.user)]
            if not allowed:
                return Reply(f"only this channel's curators may use {parsed.name}", ok=False)
            routes = allowed
        return await self.run_parsed(parsed, [r.name for r in routes], event.user)

    async def run(self, text: str, routes: Sequence[str], user: str = "cli") -> Reply:
        try:
            parsed = parse_command(text)
        except UsageError as exc:
            return Reply(f"{exc}.\n{USAGE}", ok=False)
        return await self.run_parsed(parsed, routes, user)

    async def run_parsed(self, parsed: Parsed, routes: Sequence[str], user: str = "cli") -> Reply:
        if parsed.name == "help":
            return Reply(USAGE)
        if parsed.name == "add":
            assert parsed.paper_id is not None
            return await self.add(parsed.paper_id, routes, user)
        return self.answer(parsed, routes)

    async def add(self, paper_id: str, routes: Sequence[str], who: str) -> Reply:
        """Fetch the paper if needed and post it for votes (or queue it, without chats)."""
        stored = self.store.get_paper(paper_id)
        if stored is None:
            if self.fetch is None:
                return Reply(
                    f"{paper_id} is not in the database and arXiv is not reachable here", ok=False
                )
            paper = await self.fetch(paper_id)
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
        if self.poster is None:
            return Reply(f"Queued {title}; the running bot posts it within a minute")
        await self.poster.post_queued()
        return Reply(f"Posted {title} for votes", public=True)

    def answer(self, parsed: Parsed, routes: Sequence[str]) -> Reply:
        now = self.clock()
        if parsed.name == "recent":
            days = parsed.days or 3
            since = (now - timedelta(days=days)).date()
            papers = self.store.matched_since(routes, since)
            return _papers(f"Matched in the last {days} days: {len(papers)}", papers)
        if parsed.name == "search":
            found = self.store.search(parsed.words)
            return _papers(f"Search for {' '.join(parsed.words)!r}: {len(found)} found", found)
        if parsed.name in ("accepted", "rejected"):
            days = parsed.days or 7
            decided = self.store.decided_since(routes, parsed.name, now - timedelta(days=days))
            stored = {p.paper.id: p for p in self.store.get_papers([d.paper_id for d in decided])}
            items = tuple(
                ReplyItem(
                    d.paper_id,
                    stored[d.paper_id].paper.title if d.paper_id in stored else d.paper_id,
                    f"https://arxiv.org/abs/{d.paper_id}",
                    f"{d.route}, by {d.decided_by}",
                )
                for d in decided
            )
            return Reply(f"{parsed.name.capitalize()} in the last {days} days: {len(items)}", items)
        if parsed.name == "pending":
            pending = self.store.pending(routes)
            items = tuple(
                ReplyItem(
                    p.paper.id,
                    p.paper.title,
                    p.paper.url,
                    "waiting for votes" if state == "posted" else "not posted: /papers add to post",
                )
                for p, state in pending
            )
            return Reply(f"Pending: {len(items)}", items)
        if parsed.name == "stats":
            return Reply(self._stats())
        if parsed.name == "why":
            assert parsed.paper_id is not None
            return self._why(parsed.paper_id)
        return Reply(self._status_text())

    def _stats(self) -> str:
        counts = self.store.counts()
        lines = [
            f"{counts['papers']} papers seen, {counts['matched']} matched, "
            f"{counts['posted']} posted; {counts['accepted']} accepted, "
            f"{counts['rejected']} rejected, {counts['expired']} expired; {counts['votes']} votes"
        ]
        voters = self.store.top_voters()
        if voters:
            lines.append("Top voters: " + ", ".join(f"{u} ({n})" for u, n in voters))
        return "\n".join(lines)

    def _why(self, paper_id: str) -> Reply:
        stored = self.store.get_paper(paper_id)
        if stored is None:
            return Reply(f"{paper_id} is not in the database; /papers add {paper_id} fetches it")
        lines = [f"{stored.paper.title} <{stored.paper.url}>"]
        matches = self.store.matches_for(paper_id)
        if not matches:
            lines.append("It matched no route.")
        for match in matches:
            reasons = "; ".join(reason_text(r) for r in match.reasons)
            lines.append(f"Route {match.route}: {reasons}")
        history = self.store.decision_history(paper_id)
        for route in dict.fromkeys(d.route for d in history):
            lines.append(f"Decisions on {route}:")
            lines += [
                f"  {d.decided_at:%Y-%m-%d %H:%M} UTC: {d.status} by {d.decided_by} ({d.reason})"
                for d in history
                if d.route == route
            ]
        votes = self.store.votes_for(paper_id)
        for channel in dict.fromkeys(v.channel for v in votes):
            lines.append(
                f"Votes in {channel}: "
                + ", ".join(f"{v.user} {v.value:+d}" for v in votes if v.channel == channel)
            )
        return Reply("\n".join(lines))

    def _status_text(self) -> str:
        info = self._status()
        last = self.store.last_good_run()
        queued = len(self.store.queued_matches())
        intents = len(self.store.posts(state="intent"))
        lines = [
            "Last good poll: "
            + (f"{last.started_at:%Y-%m-%d %H:%M} UTC ({last.source})" if last else "never"),
            "Next poll: "
            + (f"{info.next_poll:%Y-%m-%d %H:%M %Z}" if info.next_poll else "not scheduled"),
            f"Posts pending: {queued + intents}",
            "Unpublished decisions: " + (", ".join(info.unpublished) or "none"),
        ]
        return "\n".join(lines)


def _papers(text: str, papers: Sequence[StoredPaper]) -> Reply:
    items = tuple(
        ReplyItem(
            p.paper.id,
            p.paper.title,
            p.paper.url,
            p.listing_date.isoformat() if p.listing_date else "",
        )
        for p in papers
    )
    return Reply(text, items)
