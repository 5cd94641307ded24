"""One command layer for slash commands and the CLI: parse, check, answer.

`recent [days]`, `search <words>`, `accepted [days]`, `rejected [days]`, `pending`, `stats`,
`why <id>`, `add <id>`, `status`, `help`. Anything else gets the usage text. Answers are
`Reply` objects; each platform renders them its own way.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.arxiv.ids import parse_arxiv_id
from bot.chat.base import Reply, ReplyItem
from bot.clock import Clock
from storage.store import Store, StoredPaper

USAGE = """\
Usage: /papers <command>
  recent [days]      papers matched in the last days (default 3)
  search <words>     search titles, abstracts and authors, newest first
  accepted [days]    papers accepted in the last days (default 7)
  rejected [days]    papers rejected in the last days (default 7)
  pending            posted papers still waiting for votes
  stats              counts and top voters
  why <arXiv id>     which rule matched what, and the votes
  add <arXiv id>     fetch a paper by id and post it for votes
  status             last good poll, next poll, pending posts, unpublished decisions
  help               this text"""

COMMANDS = ("recent", "search", "accepted", "rejected", "pending", "stats", "why", "add", "status")


class UsageError(ValueError):
    """The command text cannot be understood; the message says how to write it."""


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
    if name not in COMMANDS:
        raise UsageError(f"'{parts[0][:40]}' is not a command")
    if name in ("recent", "accepted", "rejected"):
        if len(args) > 1:
            raise UsageError(f"{name} takes at most one number of days")
        return Parsed(name, days=_days(args[0]) if args else (3 if name == "recent" else 7))
    if name == "search":
        if not args:
            raise UsageError("search needs words to look for, such as: search kv cache")
        return Parsed(name, words=tuple(w[:100] for w in args[:20]))
    if name in ("why", "add"):
        if len(args) != 1:
            raise UsageError(f"{name} needs one arXiv id, such as: {name} 2503.12228")
        found = parse_arxiv_id(args[0])
        if found is None:
            raise UsageError(f"'{args[0][:40]}' is not an arXiv id such as 2503.12228")
        return Parsed(name, paper_id=found[0])
    if args:
        raise UsageError(f"{name} takes no arguments")
    return Parsed(name)


def _days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 365:
        raise UsageError(f"'{text[:20]}' is not a number of days from 1 to 365")
    return int(text)


@dataclass(frozen=True, slots=True)
class StatusInfo:
    next_poll: datetime | None = None
    unpublished: tuple[str, ...] = ()


AddPaper = Callable[[str, Sequence[str], str], Awaitable[Reply]]  # (paper id, routes, who)


class Commands:
    """Answers commands from the store; `add` is delegated to the curator."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        add: AddPaper | None = None,
        status: Callable[[], StatusInfo] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self._add = add
        self._status = status or StatusInfo

    async def run(self, text: str, routes: Sequence[str], user: str = "cli") -> Reply:
        try:
            parsed = parse_command(text)
        except UsageError as exc:
            return Reply(f"{exc}.\n{USAGE}", ok=False)
        if parsed.name == "help":
            return Reply(USAGE)
        if parsed.name == "add":
            assert parsed.paper_id is not None
            if self._add is None:
                return Reply("adding papers needs the running bot", ok=False)
            return await self._add(parsed.paper_id, routes, user)
        return self.answer(parsed, routes)

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
            reasons = "; ".join(f"'{r.term}' in {r.field}: \"{r.text}\"" for r in match.reasons)
            lines.append(f"Route {match.route}: {reasons}")
            decision = self.store.decision(paper_id, match.route)
            if decision is not None:
                lines.append(
                    f"  {decision.status} by {decision.decided_by} "
                    f"({decision.reason}) on {decision.decided_at:%Y-%m-%d %H:%M} UTC"
                )
        votes = self.store.votes_for(paper_id)
        if votes:
            lines.append(
                "Votes: " + ", ".join(f"{v.user} {'+1' if v.value > 0 else '-1'}" for v in votes)
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
