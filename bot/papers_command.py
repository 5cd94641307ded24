"""`/papers`: one catalogue of commands, parsed once, answered from the store.

The chat usage, the CLI's commands and Discord's app commands are all built from
`CATALOGUE`. Answers are `Reply` objects; each chat renders them its own way.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from bot.arxiv.ids import parse_arxiv_id
from bot.display import reason_text
from bot.errors import UsageError
from bot.models import (
    CommandEvent,
    Decision,
    Incoming,
    Match,
    Paper,
    Parsed,
    Reason,
    Reply,
    ReplyItem,
    Route,
    StoredPaper,
)

if TYPE_CHECKING:  # the CLI imports this module for its catalogue: keep that cheap
    from bot.channels import Channels
    from bot.clock import Clock
    from bot.posting import Poster
    from bot.taste_loop import Taste
    from storage.store import Store

ArgKind = Literal["days", "words", "id", "count"] | None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    arg: ArgKind
    help: str
    default_days: int | None = None

    @property
    def usage(self) -> str:
        arg = {
            "days": " [days]",
            "words": " <words>",
            "id": " <arXiv id>",
            "count": " [N]",
            None: "",
        }[self.arg]
        return f"{self.name}{arg}"


CATALOGUE: tuple[CommandSpec, ...] = (
    CommandSpec("recent", "days", "papers matched in the last days (default 3)", 3),
    CommandSpec("search", "words", "search titles, abstracts and authors, best match first"),
    CommandSpec("accepted", "days", "papers accepted in the last days (default 7)", 7),
    CommandSpec("rejected", "days", "papers rejected in the last days (default 7)", 7),
    CommandSpec("pending", None, "posted papers still waiting for votes"),
    CommandSpec("stats", None, "counts and top voters"),
    CommandSpec("why", "id", "which rule matched what, the votes, and the model's score"),
    CommandSpec("suggest", "count", "the N papers no rule matched that fit the taste best (10)"),
    CommandSpec("add", "id", "fetch a paper by id and post it for votes"),
    CommandSpec("status", None, "polls, errors, chats, next poll, pending posts, unpublished"),
    CommandSpec("tag", "words", "ID +tag -tag: change a paper's tags (curators, where set)"),
    CommandSpec("subscribe", "words", "a tag, a term or author:Name: be mentioned under posts"),
    CommandSpec("unsubscribe", "words", "stop a subscription"),
    CommandSpec("subscriptions", None, "your subscriptions in this channel"),
    CommandSpec("help", None, "this text"),
)
SUBSCRIBING = ("subscribe", "unsubscribe", "subscriptions")  # per user and channel: chat only
SPECS = {spec.name: spec for spec in CATALOGUE}
MAX_DAYS = 365
USAGE = "Usage: /papers <command>\n" + "\n".join(
    f"  {spec.usage:<18} {spec.help}" for spec in CATALOGUE
)
COMMANDS = tuple(spec.name for spec in CATALOGUE if spec.name != "help")
DECIDING = ("add", "tag")  # commands that change what the team votes on: curators only, where set
NO_ROUTE_HERE = (
    "this channel belongs to no route: ask in a route's channel (/papers help works anywhere)"
)


LIST_LIMIT = 50  # papers a list shows unless asked for more (search: SEARCH_LIMIT)
SEARCH_LIMIT = 20


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
            if name != "search":
                raise UsageError(f"{name} needs arguments: {spec.help}")
            raise UsageError("search needs words to look for, such as: search kv cache")
        return Parsed(name, words=command_words(args))
    if spec.arg == "count":
        if len(args) > 1:
            raise UsageError(f"{name} takes at most one number")
        return Parsed(name, limit=parse_count(args[0]) if args else -1)
    if spec.arg == "id":
        if len(args) != 1:
            raise UsageError(f"{name} needs one arXiv id, such as: {name} 2503.12228")
        return Parsed(name, paper_id=parse_paper_id(args[0]))
    if args:
        raise UsageError(f"{name} takes no arguments")
    return Parsed(name)


def command_words(words: Sequence[str]) -> tuple[str, ...]:
    """A command's words as the core takes them: at most 20, each at most 100 characters."""
    return tuple(w[:100] for w in words[:20])


def parse_paper_id(text: str) -> str:
    found = parse_arxiv_id(text)
    if found is None:
        raise UsageError(f"'{text[:40]}' is not an arXiv id such as 2503.12228")
    return found[0]


MAX_COUNT = 50  # papers `suggest` lists at most
SUGGEST_SHOWN = 10


def parse_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_COUNT:
        raise UsageError(f"'{text[:20]}' is not a number from 1 to {MAX_COUNT}")
    return int(text)


def parse_days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
        raise UsageError(f"'{text[:20]}' is not a number of days from 1 to {MAX_DAYS}")
    return int(text)


@dataclass(frozen=True, slots=True)
class ChatState:
    """A platform a route names a channel on: whether it has a token, and its channels."""

    platform: str
    configured: bool
    channels: tuple[tuple[str, str], ...] = ()  # (platform:channel-id, route)


@dataclass(frozen=True, slots=True)
class StatusInfo:
    next_poll: datetime | None = None
    unpublished: tuple[str, ...] = ()
    running: bool = True  # a `paperbot run` holds the database (the chat asks the run itself)
    pid: int | None = None
    chats: tuple[ChatState, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    """A command's answer for people (`reply`) and for programs (`record`: docs/cli.md)."""

    reply: Reply
    record: dict[str, Any] = field(default_factory=dict)


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
        taste: Taste | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.channels = channels
        self.poster = poster  # None: `add` only queues; the running bot posts
        self.fetch = fetch
        self._status = status or StatusInfo
        self.taste = taste  # the routes' learnt taste: `why` scores, `suggest`

    async def on_command(self, event: CommandEvent) -> Reply:
        """A `/papers` command from a chat: answered for the routes of its channel only.

        In a channel of no route only `help` works; `add` obeys each route's curators.
        """
        routes = self.channels.routes_of(event.channel) if self.channels else []
        try:
            parsed = event.parsed or parse_command(event.text)
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
        if parsed.name in SUBSCRIBING:
            from bot.subscriptions import subscription_command

            return subscription_command(
                self.store, routes, event.user, event.channel, parsed.name, parsed.words
            )
        if parsed.name == "tag":
            return await self._tag(routes, event.user, parsed.words)
        return await self.run_parsed(parsed, [r.name for r in routes], event.user)

    async def _tag(self, routes: Sequence[Route], user: str, words: Sequence[str]) -> Reply:
        from bot.subscriptions import tag_command

        try:
            reply = tag_command(self.store, routes, user, words)
        except UsageError as exc:
            return Reply(f"{exc}.", ok=False)
        if reply.ok and self.poster is not None:
            await self.poster.refresh(parse_paper_id(words[0]))
        return reply

    async def run(self, text: str, routes: Sequence[str], user: str = "cli") -> Reply:
        try:
            parsed = parse_command(text)
        except UsageError as exc:
            return Reply(f"{exc}.\n{USAGE}", ok=False)
        return await self.run_parsed(parsed, routes, user)

    async def run_parsed(self, parsed: Parsed, routes: Sequence[str], user: str = "cli") -> Reply:
        return (await self.run_full(parsed, routes, user)).reply

    async def run_full(self, parsed: Parsed, routes: Sequence[str], user: str = "cli") -> Answer:
        if parsed.name == "help":
            return Answer(Reply(USAGE), {"command": "help", "text": USAGE})
        if parsed.name == "add":
            assert parsed.paper_id is not None
            return await self.add_full(parsed.paper_id, routes, user)
        if parsed.name in SUBSCRIBING:
            text = "subscriptions are per chat user and channel: use /papers in the channel"
            return Answer(Reply(text, ok=False), {"command": parsed.name, "message": text})
        if parsed.name in ("why", "suggest") and self.taste is not None:
            await self.taste.load(routes)  # off the event loop: the first load is slow
        if parsed.name == "tag":
            found = [r for n in routes if self.channels and (r := self.channels.route(n))]
            reply = await self._tag(found, user, parsed.words)
            return Answer(reply, {"command": "tag", "ok": reply.ok, "message": reply.text})
        return self.answer_full(parsed, routes)

    async def add(self, paper_id: str, routes: Sequence[str], who: str) -> Reply:
        return (await self.add_full(paper_id, routes, who)).reply

    async def add_full(self, paper_id: str, routes: Sequence[str], who: str) -> Answer:
        """Fetch the paper if needed and post it for votes (or queue it, without chats)."""

        def out(outcome: str, reply: Reply) -> Answer:
            record = {
                "command": "add",
                "id": paper_id,
                "ok": reply.ok,
                "outcome": outcome,
                "routes": list(routes),
                "message": reply.text,
            }
            return Answer(reply, record)

        stored = self.store.get_paper(paper_id)
        if stored is None:
            if self.fetch is None:
                return out(
                    "unreachable",
                    Reply(
                        f"{paper_id} is not in the database and arXiv is not reachable here",
                        ok=False,
                    ),
                )
            paper = await self.fetch(paper_id)
            if paper is None:
                return out(
                    "not-found", Reply(f"arXiv has no paper {paper_id}; check the id", ok=False)
                )
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
            return out("queued", Reply(f"Queued {title}; the running bot posts it within a minute"))
        await self.poster.post_queued()
        return out("posted", Reply(f"Posted {title} for votes", public=True))

    def _tags_of(self, paper_id: str, routes: Sequence[str]) -> set[str]:
        return {t.casefold() for r in routes if (n := self.store.note(paper_id, r)) for t in n.tags}

    def answer(self, parsed: Parsed, routes: Sequence[str]) -> Reply:
        return self.answer_full(parsed, routes).reply

    def answer_full(self, parsed: Parsed, routes: Sequence[str]) -> Answer:
        now = self.clock()
        if parsed.name == "recent":
            days = parsed.days or 3
            since = (now - timedelta(days=days)).date()
            limit = parsed.shown(LIST_LIMIT)
            papers = self.store.matched_since(routes, since, limit)
            total = self.store.count_matched_since(routes, since)
            return self._list(parsed, f"Matched in the last {days} days", papers, total, routes)
        if parsed.name == "search" and any(w.lower().startswith("tag:") for w in parsed.words):
            tags = [w[4:] for w in parsed.words if w.lower().startswith("tag:")]
            rest = [w.casefold() for w in parsed.words if not w.lower().startswith("tag:")]
            hits = [
                p
                for p in self.store.tagged_with(routes, tags[0], SEARCH_LIMIT * 10)
                if all(t.casefold() in self._tags_of(p.paper.id, routes) for t in tags)
                and all(w in f"{p.paper.title} {p.paper.abstract}".casefold() for w in rest)
            ]
            shown = hits[: parsed.shown(SEARCH_LIMIT)]
            title = f"Search for {' '.join(parsed.words)!r}"
            return self._list(parsed, title, shown, len(hits), routes)
        if parsed.name == "search":
            scope = routes if parsed.scoped else None
            limit = parsed.shown(SEARCH_LIMIT)
            found = self.store.search(
                parsed.words, limit, routes=scope, sort=parsed.sort, today=now.date()
            )
            total = self.store.search_total(parsed.words, scope)
            title = f"Search for {' '.join(parsed.words)!r}"
            return self._list(parsed, title, found, total, routes)
        if parsed.name in ("accepted", "rejected"):
            days = parsed.days or 7
            groups, total = self.store.decided_papers(
                routes, parsed.name, now - timedelta(days=days), parsed.shown(LIST_LIMIT)
            )
            stored = {p.paper.id: p for p in self.store.get_papers([g[0].paper_id for g in groups])}
            title = f"{parsed.name.capitalize()} in the last {days} days"
            return self._list(
                parsed,
                title,
                [stored[g[0].paper_id] for g in groups if g[0].paper_id in stored],
                total,
                routes,
                decided={g[0].paper_id: g for g in groups},
            )
        if parsed.name == "pending":
            pending = self.store.pending(routes, parsed.shown(LIST_LIMIT))
            total = self.store.count_pending(routes)
            states = {p.paper.id: state for p, state in pending}
            return self._list(
                parsed, "Pending", [p for p, _ in pending], total, routes, post_states=states
            )
        if parsed.name == "stats":
            return self._stats(routes if parsed.scoped else None)
        if parsed.name == "why":
            assert parsed.paper_id is not None
            return self._why(parsed.paper_id, routes)
        if parsed.name == "suggest":
            return self._suggest(routes, parsed.shown(SUGGEST_SHOWN) or SUGGEST_SHOWN)
        return self.status()

    # --- lists: the true total, what is shown, one line per paper -------------------------

    def _list(
        self,
        parsed: Parsed,
        title: str,
        papers: Sequence[StoredPaper],
        total: int,
        routes: Sequence[str],
        *,
        decided: dict[str, list[Decision]] | None = None,
        post_states: dict[str, str] | None = None,
    ) -> Answer:
        ids = [p.paper.id for p in papers]
        matched = self.store.routes_of(ids, routes)
        records: list[dict[str, Any]] = []
        items: list[ReplyItem] = []
        for p in papers:
            pid = p.paper.id
            mine = decided.get(pid, []) if decided else []
            paper_routes = [d.route for d in mine] or matched.get(pid, [])
            decisions = mine or [
                d for r in paper_routes if (d := self.store.decision(pid, r)) is not None
            ]
            status = _status_of(decisions)
            votes = self.store.votes_for(pid)
            ups = sum(1 for v in votes if v.value > 0)
            downs = sum(1 for v in votes if v.value < 0)
            records.append(
                {
                    "id": pid,
                    "title": p.paper.title,
                    "url": p.paper.url,
                    "routes": paper_routes,
                    "status": status,
                    "votes": {"up": ups, "down": downs},
                    "listing_date": p.listing_date.isoformat() if p.listing_date else None,
                    "decided_by": mine[0].decided_by if mine else None,
                    "decided_at": _iso(max(d.decided_at for d in mine)) if mine else None,
                }
            )
            if decided is not None:
                who = ", ".join(dict.fromkeys(d.decided_by for d in mine))
                detail = f"{', '.join(paper_routes)}, by {who}"
            elif post_states is not None:
                state = post_states.get(pid)
                waiting = (
                    "waiting for votes" if state == "posted" else "not posted: /papers add to post"
                )
                detail = waiting
            else:
                detail = p.listing_date.isoformat() if p.listing_date else ""
            notes = [n for r in paper_routes if (n := self.store.note(pid, r)) is not None]
            tags = list(dict.fromkeys(t for n in notes for t in n.tags))
            records[-1]["tags"] = tags
            if tags:
                detail = " · ".join(filter(None, (detail, " ".join(f"`{t}`" for t in tags))))
            items.append(ReplyItem(pid, p.paper.title, p.paper.url, detail))
        shown = len(items)
        more = parsed.name in ("search", "recent") and total > self.store.search_cap
        count = f"more than {total - 1:,}" if more else f"{total}"
        header = f"{title}: {count}" + (f" (showing {shown})" if shown < total else "")
        record: dict[str, Any] = {
            "command": parsed.name,
            "total": total,
            "total_is_lower_bound": more,
            "shown": shown,
            "papers": records,
        }
        return Answer(Reply(header, tuple(items)), record)

    def _stats(self, routes: Sequence[str] | None) -> Answer:
        counts = self.store.counts(routes)
        lines = [
            f"{counts['papers']} papers seen, {counts['matched']} matched, "
            f"{counts['posted']} posted; {counts['accepted']} accepted, "
            f"{counts['rejected']} rejected, {counts['expired']} expired; {counts['votes']} votes"
        ]
        voters = self.store.top_voters()
        if voters:
            lines.append("Top voters: " + ", ".join(f"{u} ({n})" for u, n in voters))
        record: dict[str, Any] = {
            "command": "stats",
            "routes": list(routes) if routes is not None else None,
            **counts,
            "top_voters": [{"user": u, "votes": n} for u, n in voters],
        }
        return Answer(Reply("\n".join(lines)), record)

    def _suggest(self, routes: Sequence[str], count: int) -> Answer:
        """The best papers of recent listings no rule matched, with the words behind each."""
        items: list[ReplyItem] = []
        records: list[dict[str, Any]] = []
        lines: list[str] = []
        for name in routes:
            route = self.taste.route(name) if self.taste is not None else None
            found = self.taste.best(route, count) if self.taste and route else None
            if found is None:
                lines.append(f"{name}: the model is silent (too few decisions yet, or untrained)")
                continue
            lines.append(f"{name}: the {len(found)} best papers no rule matched")
            for s in found:
                detail = f"{name} · fits {s.score:.2f} · {s.why}"
                items.append(ReplyItem(s.record.id, s.record.title, _abs(s.record.id), detail))
                records.append(
                    {"id": s.record.id, "route": name, "score": round(s.score, 4), "why": s.why}
                )
        text = "Suggestions: " + "; ".join(lines) if lines else "Suggestions: no route here"
        return Answer(Reply(text, tuple(items)), {"command": "suggest", "papers": records})

    def _why(self, paper_id: str, routes: Sequence[str] = ()) -> Answer:
        stored = self.store.get_paper(paper_id)
        record: dict[str, Any] = {
            "command": "why",
            "id": paper_id,
            "in_database": stored is not None,
            "title": stored.paper.title if stored else None,
            "url": f"https://arxiv.org/abs/{paper_id}",
            "matches": [],
            "decisions": [],
            "votes": [],
        }
        if stored is None:
            text = f"{paper_id} is not in the database; /papers add {paper_id} fetches it"
            return Answer(Reply(text), record)
        lines = [f"{stored.paper.title} <{stored.paper.url}>"]
        matches = self.store.matches_for(paper_id)
        if not matches:
            lines.append("It matched no route.")
        for match in matches:
            reasons = "; ".join(reason_text(r) for r in match.reasons)
            lines.append(f"Route {match.route}: {reasons}")
            note = self.store.note(paper_id, match.route)
            if note and note.tags:
                lines.append(f"  tags: {' '.join(note.tags)} (by {note.tags_by})")
            if note and note.tldr:
                lines.append(f"  TL;DR: {note.tldr}")
        record["matches"] = [
            {"route": m.route, "reasons": [r.as_dict() for r in m.reasons]} for m in matches
        ]
        history = self.store.decision_history(paper_id)
        for route in dict.fromkeys(d.route for d in history):
            lines.append(f"Decisions on {route}:")
            lines += [
                f"  {d.decided_at:%Y-%m-%d %H:%M} UTC: {d.status} by {d.decided_by} ({d.reason})"
                for d in history
                if d.route == route
            ]
        record["decisions"] = [
            {
                "route": d.route,
                "status": d.status,
                "decided_by": d.decided_by,
                "decided_at": _iso(d.decided_at),
                "reason": d.reason,
            }
            for d in history
        ]
        taste = self.taste.why(stored, routes) if self.taste is not None else []
        lines += taste
        record["taste"] = taste
        votes = self.store.votes_for(paper_id)
        for channel in dict.fromkeys(v.channel for v in votes):
            lines.append(
                f"Votes in {channel}: "
                + ", ".join(f"{v.user} {v.value:+d}" for v in votes if v.channel == channel)
            )
        record["votes"] = [
            {
                "channel": v.channel,
                "user": v.user,
                "value": v.value,
                "cast_by": v.cast_by,
                "updated_at": _iso(v.updated_at),
            }
            for v in votes
        ]
        return Answer(Reply("\n".join(lines)), record)

    # --- status ----------------------------------------------------------------------------

    def status(self) -> Answer:
        """Polls per feed, the last error, chats and channels, the run, and one health word."""
        info = self._status()
        runs = self.store.latest_runs()
        problems = self.store.channel_problems()
        queued = len(self.store.queued_matches())
        intents = len(self.store.posts(state="intent"))
        last_good = max((g.started_at for _, g in runs if g is not None), default=None)
        errors = [r for r, _ in runs if r.status == "error"]
        last_error = max(
            (r for r in self.store.feed_runs(limit=200) if r.status == "error"),
            key=lambda r: r.started_at,
            default=None,
        )
        next_poll = info.next_poll if info.running else None
        unconfigured = [
            (c.platform, ch) for c in info.chats if not c.configured for ch, _ in c.channels
        ]
        if not info.running:
            health, why = "down", "no paperbot run holds the database"
        elif errors:
            health, why = "degraded", f"the last poll of {errors[0].source} failed"
        elif problems:
            channel = sorted(problems)[0]
            health, why = "degraded", f"{channel}: {problems[channel]}"
        elif unconfigured:
            platform, channel = unconfigured[0]
            health, why = (
                "degraded",
                f"{channel} is named in the routes but {platform} has no token",
            )
        elif not runs:
            health, why = "healthy", "running; no poll has finished yet"
        else:
            health, why = "healthy", "running; the last poll of every feed worked"

        lines = [
            "Run: "
            + (
                f"running (pid {info.pid})"
                if info.running and info.pid
                else "running"
                if info.running
                else "not running (no paperbot run holds the database)"
            ),
            "Last good poll: " + (f"{_hm(last_good)} UTC" if last_good else "never"),
        ]
        for run, good in runs:
            result = run.status + (f": {run.error}" if run.error else "")
            lines.append(
                f"  {run.source}: last attempt {_hm(run.started_at)} UTC, {result}"
                + (
                    ""
                    if good is run
                    else f"; last good {_hm(good.started_at) + ' UTC' if good else 'never'}"
                )
            )
        if last_error is not None:
            when = _hm(last_error.started_at)
            lines.append(f"Last error: {when} UTC, {last_error.source}: {last_error.error}")
        lines.append(
            "Next poll: "
            + (
                f"{next_poll:%Y-%m-%d %H:%M %Z}"
                if next_poll
                else "not scheduled" + ("" if info.running else " (start it with: paperbot run)")
            )
        )
        chats_record = []
        for chat in info.chats:
            state = "configured" if chat.configured else "no token"
            channels = []
            for channel, route in chat.channels:
                problem = problems.get(channel)
                if not chat.configured:
                    problem = problem or f"ignored: {chat.platform} has no token"
                channels.append({"channel": channel, "route": route, "problem": problem})
            named = ", ".join(
                f"{c['channel']} ({c['route']}{': ' + str(c['problem']) if c['problem'] else ''})"
                for c in channels
            )
            lines.append(f"Chat {chat.platform}: {state}" + (f"; {named}" if named else ""))
            chats_record.append(
                {"platform": chat.platform, "configured": chat.configured, "channels": channels}
            )
        lines += [
            f"Posts pending: {queued + intents}",
            "Unpublished decisions: " + (", ".join(info.unpublished) or "none"),
            f"Health: {health} ({why})",
        ]
        record: dict[str, Any] = {
            "command": "status",
            "health": health,
            "why": why,
            "running": info.running,
            "pid": info.pid,
            "next_poll": _iso(next_poll),
            "last_good_poll": _iso(last_good),
            "feeds": [
                {
                    "source": run.source,
                    "last_attempt": _iso(run.started_at),
                    "status": run.status,
                    "error": run.error,
                    "last_good": _iso(good.started_at) if good else None,
                }
                for run, good in runs
            ],
            "last_error": None
            if last_error is None
            else {
                "source": last_error.source,
                "at": _iso(last_error.started_at),
                "error": last_error.error,
            },
            "chats": chats_record,
            "posts_pending": queued + intents,
            "unpublished": list(info.unpublished),
        }
        return Answer(Reply("\n".join(lines)), record)


def _status_of(decisions: Sequence[Decision]) -> str:
    """One word for a paper's state on its routes: its decision, or pending."""
    found = list(dict.fromkeys(d.status for d in decisions))
    return found[0] if len(found) == 1 else ("mixed" if found else "pending")


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _hm(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def _abs(paper_id: str) -> str:
    return f"https://arxiv.org/abs/{paper_id}"
