"""Plain data the whole bot speaks. Imports nothing of ours and no SDK."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal

SignalKind = Literal["reaction", "button"]


class AnnounceType(StrEnum):
    """How a paper appears in a daily listing (`arxiv:announce_type`)."""

    NEW = "new"
    CROSS = "cross"
    REPLACE = "replace"
    REPLACE_CROSS = "replace-cross"

    @property
    def is_candidate(self) -> bool:
        """New submissions and cross-lists may be posted; replacements never are."""
        return self in (AnnounceType.NEW, AnnounceType.CROSS)


@dataclass(frozen=True, slots=True)
class Paper:
    """One arXiv paper, keyed by its base id (no version, no subject class)."""

    id: str
    title: str
    version: int = 1
    authors: tuple[str, ...] = ()
    abstract: str = ""
    categories: tuple[str, ...] = ()
    primary_category: str = ""
    published: datetime | None = None  # v1 submission time (API `published`)
    updated: datetime | None = None  # this version's time (API `updated`)
    doi: str | None = None
    journal_ref: str | None = None
    comment: str | None = None

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.id}"


@dataclass(frozen=True, slots=True)
class Listing:
    """A paper as one listing feed announced it."""

    paper: Paper
    announce_type: AnnounceType


@dataclass(frozen=True, slots=True)
class FeedBatch:
    """One parsed listing feed: one announcement day (possibly a quiet one, with no items)."""

    listings: tuple[Listing, ...]
    listing_date: date | None  # the announcement's date, US Eastern (RSS pubDate / Atom published)
    built: datetime | None = None  # lastBuildDate / feed updated, when given


@dataclass(frozen=True, slots=True)
class ApiPage:
    """One page of an arXiv API answer."""

    papers: tuple[Paper, ...]
    total_results: int | None
    start_index: int
    items_per_page: int | None


@dataclass(frozen=True, slots=True)
class VotePolicy:
    """A route's ``[routes.votes]`` table."""

    accept_at: int = 2
    reject_at: int = 2
    curator_veto: bool = False
    expire_days: int = 7
    curators: frozenset[str] = frozenset()  # empty: everyone's votes count

    def __post_init__(self) -> None:
        if self.accept_at < 1:
            raise ValueError(f"accept_at must be at least 1, got {self.accept_at}.")
        if self.reject_at < 1:
            raise ValueError(f"reject_at must be at least 1, got {self.reject_at}.")
        if self.expire_days < 1:
            raise ValueError(f"expire_days must be at least 1, got {self.expire_days}.")
        if isinstance(self.curators, str):
            raise ValueError(
                f"curators must be a list of user ids, not the string {self.curators!r}."
            )
        object.__setattr__(self, "curators", frozenset(self.curators))
        if self.curator_veto and not self.curators:
            raise ValueError("curator_veto needs a non-empty curators list: nobody could veto.")

    def counts(self, user: str) -> bool:
        """Whether this user's vote counts on this route."""
        return not self.curators or user in self.curators

    def may_decide(self, user: str) -> bool:
        """Whether this user may use the commands that decide (`add`): curators, when set."""
        return self.counts(user)

    def accepts(self, ups: int, downs: int) -> bool:
        """The accept rule: at least ``accept_at`` ups and more ups than downs."""
        return ups >= self.accept_at and ups > downs

    def rejects(self, ups: int, downs: int) -> bool:
        """The reject rule: at least ``reject_at`` downs and at least as many downs as ups."""
        return downs >= self.reject_at and downs >= ups

    def expires_at(self, posted_at: datetime) -> datetime:
        """When an undecided paper posted at ``posted_at`` expires (that instant included)."""
        return posted_at + timedelta(days=self.expire_days)


@dataclass(frozen=True, slots=True)
class ListTarget:
    """Where a route's accepted papers are published: a markdown file in a git work tree."""

    repo: Path
    path: str = "papers.md"
    branch: str = "main"
    remote: str | None = None  # push there when set
    author: str = "paperbot <paperbot@localhost>"
    date: str = "listing"  # section a paper goes under: its "listing" date or v1 "submitted" date


@dataclass(frozen=True, slots=True)
class SiteTarget:
    """A route's `[routes.site]`: the static page, feed and data built with the list."""

    path: str = "docs"  # a folder inside the list's git work tree
    title: str = ""
    url: str | None = None  # where the site is served, for the feed's links and id
    templates: Path | None = None  # a folder whose templates replace the built-in ones


@dataclass(frozen=True, slots=True)
class TagSpec:
    """One topic tag of a route's `[routes.tags]`: its meaning, and terms that assign it."""

    name: str
    about: str = ""
    terms: tuple[str, ...] = ()  # accept-term syntax; none: the learnt tagger assigns it


@dataclass(frozen=True, slots=True)
class ModelPolicy:
    """A route's `[routes.model]`: when the learnt taste may speak, and how much."""

    suggest_at: float | None = None  # post unmatched papers scoring at least this; None: never
    max_suggestions_per_day: int = 3
    min_decisions: int = 30  # fewer decisions than this: no scores, no suggestions


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    """A route's `[routes.digest]`: standard crontab meaning, in the given timezone."""

    cron: str = "0 9 * * mon-fri"
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Route:
    """A team's rule set: which categories to watch and which papers to keep."""

    name: str
    categories: tuple[str, ...]
    accept: tuple[str, ...] = ()
    reject: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()  # followed authors: any of them matching accepts the paper
    fields: tuple[str, ...] = ("title", "abstract")  # where accept/reject terms are looked for
    primary_only: bool = False  # only papers whose primary category is one of `categories`
    list_target: ListTarget | None = None  # the `[routes.list]` table
    slack_channel: str | None = None  # a Slack channel id, such as C0123456789
    discord_channel: str | None = None  # a Discord channel id, such as 123456789012345678
    max_posts_per_poll: int = 30
    votes: VotePolicy = field(default_factory=VotePolicy)
    digest: DigestSchedule | None = None
    tags: tuple[TagSpec, ...] = ()  # the `[routes.tags]` vocabulary, in file order
    llm_filter: bool = False  # unmatched papers the summariser calls relevant are candidates
    site: SiteTarget | None = None  # the `[routes.site]` table
    model: ModelPolicy = field(default_factory=ModelPolicy)  # `[routes.model]`


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a paper matched: which term, in which field, on what text."""

    term: str
    field: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"term": self.term, "field": self.field, "text": self.text}


SUGGESTED = "suggested"  # the origin (and reason term) of a match the model made, not a rule
MODEL_FIELD = "model"  # a suggestion's reason field: its text is the words behind the score


@dataclass(frozen=True, slots=True)
class Match:
    paper_id: str
    route: str
    reasons: tuple[Reason, ...] = field(default=())


# --- statuses: every set of states is one StrEnum (values are what the database holds) ---


class FeedStatus(StrEnum):
    """What one fetch of a feed came to."""

    OK = "ok"
    QUIET = "quiet"  # a listing with no papers
    STALE = "stale"  # the previous batch served under a new date
    NOT_MODIFIED = "not-modified"
    ERROR = "error"


class PostStatus(StrEnum):
    """Where a (paper, route) match stands on its way to the route's channels."""

    NONE = "none"  # never to be posted (backfill, import)
    QUEUED = "queued"
    HELD = "held"  # over the flood limit or backlog of a new channel: `add` posts it
    POSTED = "posted"


class PostState(StrEnum):
    """A post in one channel: intended (outcome unknown until recorded) or sent."""

    INTENT = "intent"
    SENT = "sent"


# --- what the store keeps ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Incoming:
    """A paper as a source delivered it, before it meets the store."""

    paper: Paper
    listing_date: date | None
    candidate: bool  # new/cross listings and API finds may be posted; replacements may not
    source: str


@dataclass(frozen=True, slots=True)
class StoredPaper:
    paper: Paper
    listing_date: date | None
    first_seen: datetime
    candidate: bool
    source: str


@dataclass(frozen=True, slots=True)
class FeedRun:
    """One fetch of one source, whatever came of it."""

    source: str  # e.g. "rss:cs.DC+cs.OS" or "api:cs.DC+cs.OS"
    started_at: datetime
    status: str  # a FeedStatus
    listing_date: date | None = None
    items: int = 0
    new_papers: int = 0
    etag: str | None = None
    last_modified: str | None = None
    ids_digest: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    paper_id: str
    route: str
    status: str  # an Outcome: accepted | rejected | expired
    decided_by: str
    decided_at: datetime
    reason: str
    seq: int


@dataclass(frozen=True, slots=True)
class Post:
    paper_id: str
    channel: str  # platform:channel-id
    routes: tuple[str, ...]
    state: str  # a PostState
    ref: str | None
    created_at: datetime
    sent_at: datetime | None
    shown: str | None


@dataclass(frozen=True, slots=True)
class StoredVote:
    paper_id: str
    user: str
    value: int
    cast_by: str
    channel: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UpsertResult:
    new_ids: tuple[str, ...]  # papers the store had never seen
    updated_ids: tuple[str, ...]  # papers whose stored version went up


@dataclass(frozen=True, slots=True)
class ListEntryRecord:
    """What a list file says of a paper: its section, title as written, version, tags, TL;DR."""

    paper_id: str
    day: date | None
    markup: str
    version: int | None = None
    tags: tuple[str, ...] = ()
    tldr: str | None = None
    source: str = "import"  # import | hand-edit


# --- votes and decisions -------------------------------------------------------------


class Outcome(StrEnum):
    """Where a paper stands on a route."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PENDING = "pending"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Signal:
    """One vote event as the core sees it, already translated from the platform."""

    user: str  # platform-prefixed, e.g. "slack:U123" or "discord:4242"
    value: int  # +1 or -1
    kind: SignalKind
    emoji: str | None = None  # the normalized base emoji of a reaction; None for a button
    added: bool = True  # False: the reaction was removed

    def __post_init__(self) -> None:
        if not self.user:
            raise ValueError("A signal needs a user id.")
        if self.value not in (1, -1):
            raise ValueError(f"A vote is +1 or -1, got {self.value!r}.")
        if self.kind == "reaction":
            if not self.emoji:
                raise ValueError("A reaction signal needs its emoji.")
        elif self.kind == "button":
            if self.emoji is not None:
                raise ValueError("A button signal has no emoji.")
            if not self.added:
                raise ValueError("A button cannot be removed, only overridden.")
        else:
            raise ValueError(f"A signal is a 'reaction' or a 'button', got {self.kind!r}.")


@dataclass(frozen=True, slots=True)
class Vote:
    """A user's current vote on a paper, and what cast it ("reaction:+1", "button")."""

    value: int
    cast_by: str

    def __post_init__(self) -> None:
        if self.value not in (1, -1):
            raise ValueError(f"A vote is +1 or -1, got {self.value!r}.")


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision and why: ``by`` is "votes", "expiry", "final" or the vetoing curator."""

    status: Outcome
    reason: str
    by: str


# --- what the chats show and send ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostView:
    """What a paper's post shows."""

    paper: Paper
    routes: tuple[str, ...]
    reasons: tuple[Reason, ...]
    status: str = "pending"  # pending | accepted | rejected | expired
    note: str = ""  # e.g. "accepted by votes: 2 up, 0 down"
    ups: int = 0
    downs: int = 0
    final: bool = False  # votes can no longer change it (expired, or decided by hand)
    tags: tuple[str, ...] = ()  # topic tags, once known
    tldr: str = ""  # the summariser's TL;DR, once known
    score: float | None = None  # the route's learnt taste: how well it fits; None: silent
    rank: int = 0  # its rank among the papers of its listing day, best first
    of: int = 0  # how many papers that listing day had


@dataclass(frozen=True, slots=True)
class VoteEvent:
    """A reaction or button press on a message, as the platform reported it."""

    channel: str  # platform:channel-id
    message_ref: str
    signal: Signal
    from_bot: bool = False  # the bot's own reactions are never votes


@dataclass(frozen=True, slots=True)
class ReplyItem:
    paper_id: str
    title: str
    url: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """A command's answer; adapters render it their own way."""

    text: str
    items: tuple[ReplyItem, ...] = ()
    public: bool = False  # False: only the asker sees it (where the platform can do that)
    ok: bool = True

    def as_text(self) -> str:
        lines = [self.text]
        lines += [
            f"- {item.title} <{item.url}>" + (f" ({item.detail})" if item.detail else "")
            for item in self.items
        ]
        return "\n".join(lines)


Sort = Literal["relevance", "newest"]


@dataclass(frozen=True, slots=True)
class Parsed:
    """A `/papers` command, its arguments checked and typed (chat, CLI and Discord alike)."""

    name: str
    days: int | None = None
    words: tuple[str, ...] = ()
    paper_id: str | None = None
    limit: int | None = -1  # -1: the command's default; None: all
    sort: Sort = "relevance"
    scoped: bool = False  # routes chosen by the asker (--route): search and stats keep to them

    def shown(self, default: int) -> int | None:
        return default if self.limit == -1 else self.limit


@dataclass(frozen=True, slots=True)
class CommandEvent:
    channel: str  # platform:channel-id
    user: str  # platform:user-id
    text: str  # everything after the command name, e.g. "search kv cache"
    extra: dict[str, str] = field(default_factory=dict)
    parsed: Parsed | None = None  # already typed by the platform (Discord's options): not re-parsed


# --- tags, summaries and subscriptions ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaperNote:
    """A paper's tags and TL;DR on a route, and where each came from."""

    paper_id: str
    route: str
    tags: tuple[str, ...] = ()
    tags_by: str = ""  # list | curator:<user> | terms | tagger | llm
    tldr: str = ""
    tldr_by: str = ""  # list | llm


@dataclass(frozen=True, slots=True)
class Summary:
    """The summariser's cached answer for a paper on a route (`status` ok, bad-output, failed)."""

    paper_id: str
    route: str
    status: str
    relevant: bool | None = None
    tags: tuple[str, ...] = ()
    tldr: str = ""
    asked_at: datetime | None = None  # when the answer (or the failure) was recorded


@dataclass(frozen=True, slots=True)
class Subscription:
    """A chat user's standing request to be mentioned: a tag, a term or ``author:Name``."""

    user: str  # platform:user-id
    channel: str  # platform:channel-id where they subscribed (a channel they can see)
    what: str  # "tag:serving", "term:kv cache" or "author:Jane Doe"


@dataclass(frozen=True, slots=True)
class MailSubscriber:
    """A `[[subscribers]]` entry: an e-mail digest of the papers accepted for it."""

    email: str
    tags: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    every: str = "daily"  # daily | weekly
    route: str | None = None  # None: every route

    @property
    def key(self) -> str:
        return f"{self.email.lower()}|{self.every}|{self.route or '*'}"
