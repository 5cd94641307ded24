"""Plain data the whole bot speaks. Imports nothing of ours and no SDK."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path


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


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a paper matched: which term, in which field, on what text."""

    term: str
    field: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"term": self.term, "field": self.field, "text": self.text}


@dataclass(frozen=True, slots=True)
class Match:
    paper_id: str
    route: str
    reasons: tuple[Reason, ...] = field(default=())
