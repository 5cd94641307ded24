"""Plain data the whole bot speaks. Imports nothing of ours and no SDK."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


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
class Route:
    """A team's rule set: which categories to watch and which papers to keep."""

    name: str
    categories: tuple[str, ...]
    accept: tuple[str, ...] = ()
    reject: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()  # followed authors: any of them matching accepts the paper
    fields: tuple[str, ...] = ("title", "abstract")  # where accept/reject terms are looked for
    primary_only: bool = False  # only papers whose primary category is one of `categories`


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
