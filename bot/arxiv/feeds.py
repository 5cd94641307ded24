"""Listing feeds from rss.arxiv.org (RSS 2.0 and Atom 1.0) turned into a `FeedBatch`.

A feed with no items is a quiet day; anything else that is not a complete listing raises
`FeedError`; a single unusable item is skipped and logged. The full contract: docs/arxiv.md.
"""

from __future__ import annotations

import io
import logging
import re
import time
import xml.sax
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import feedparser

from bot.arxiv.ids import parse_arxiv_id
from bot.errors import FeedError
from bot.models import AnnounceType, FeedBatch, Listing, Paper

__all__ = ["parse_listing"]

log = logging.getLogger(__name__)

ARXIV_NS = "http://arxiv.org/schemas/atom"
EASTERN = ZoneInfo("America/New_York")

_SUPPORTED = {"rss20": "RSS 2.0", "atom10": "Atom 1.0"}

# "arXiv:2503.12228v1 Announce Type: new \nAbstract: ..."
_PREFIX = re.compile(
    r"\s*arXiv:(?P<id>\S+)\s+Announce\s+Type:\s*(?P<type>[A-Za-z-]+)\s*", re.IGNORECASE
)
_ABSTRACT = re.compile(r"\s*Abstract:\s*", re.IGNORECASE)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# What expat says when the input stops inside the document: a cut-short body.
_AT_END_OF_INPUT = {"no element found", "unclosed token", "unclosed CDATA section"}
_HTML_START = re.compile(rb"\s*(?:<\?xml[^>]*>\s*)?<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE)


def parse_listing(body: bytes) -> FeedBatch:
    """Parse one listing feed body (RSS 2.0 or Atom 1.0). Raises only `FeedError`."""
    if not body or not body.strip():
        raise FeedError("The listing feed body is empty (a throttled or failed fetch); retry it.")
    opening = body[:1024].removeprefix(b"\xef\xbb\xbf")
    if _HTML_START.match(opening):
        raise FeedError("The listing feed is an HTML page, not an RSS or Atom feed.")
    if not opening.lstrip().startswith(b"<") and not opening.startswith(_UTF16_BOMS):
        raise FeedError(f"The listing feed is not XML (it starts {_opening(body)}).")
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),  # a stream: feedparser would open bytes that name a local file
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser on untrusted bytes: any failure means "unusable"
        raise FeedError(f"The listing feed could not be parsed ({exc!r}).") from exc
    try:
        return _to_batch(parsed)
    except FeedError:
        raise
    except Exception as exc:  # a shape feedparser produced that we did not foresee
        raise FeedError(f"The listing feed has an unexpected structure ({exc!r}).") from exc


def _to_batch(parsed: Mapping[str, Any]) -> FeedBatch:
    _check_well_formed(parsed)
    version = str(_get(parsed, "version") or "")
    if version not in _SUPPORTED:
        raise FeedError(_unsupported_message(version))
    feed: Mapping[str, Any] = _get(parsed, "feed") or {}
    entries: list[Mapping[str, Any]] = list(_get(parsed, "entries") or [])
    if not entries and not (_get(feed, "title") or _get(feed, "link") or _get(feed, "id")):
        raise FeedError(f"The {_SUPPORTED[version]} feed has no channel (no title, link or id).")

    ns_prefix = _arxiv_prefix(_get(parsed, "namespaces") or {})
    listings: list[Listing] = []
    skipped: list[tuple[int, str]] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        listing, problem = _to_listing(entry, ns_prefix)
        if listing is None:
            skipped.append((position, problem or "unusable"))
            continue
        if listing.paper.id in seen:
            skipped.append((position, f"{listing.paper.id} is listed twice"))
            continue
        seen.add(listing.paper.id)
        listings.append(listing)
    if entries and not listings:
        raise FeedError(
            f"None of the {len(entries)} feed items has an arXiv id and announce type "
            f"(item 1: {skipped[0][1]}): this is not an arXiv listing feed."
        )
    for position, problem in skipped:
        log.warning("listing feed: item %d of %d skipped: %s", position, len(entries), problem)

    if version == "rss20":
        listing_date = _eastern_date(_get(feed, "published_parsed")) or _latest_date(entries)
    else:
        listing_date = _latest_date(entries)
    built = _utc(_get(feed, "updated_parsed"))
    return FeedBatch(listings=tuple(listings), listing_date=listing_date, built=built)


def _check_well_formed(parsed: Mapping[str, Any]) -> None:
    """Real XML errors are fatal; feedparser's encoding notes (`ThingsNobodyCaresAboutButMe`,
    e.g. a body declared UTF-8 that decoded as windows-1252) are not."""
    if not _get(parsed, "bozo"):
        return
    exc = _get(parsed, "bozo_exception")
    if isinstance(exc, feedparser.ThingsNobodyCaresAboutButMe):
        return
    if isinstance(exc, xml.sax.SAXParseException):
        reason = exc.getMessage()
        if reason in _AT_END_OF_INPUT:
            raise FeedError(f"The listing feed is truncated: its XML ends early ({reason}).")
        where = f"line {exc.getLineNumber()}, column {exc.getColumnNumber()}"
        raise FeedError(f"The listing feed is not well-formed XML ({reason} at {where}).")
    raise FeedError(f"The listing feed is not well-formed XML ({exc!r}).")


def _opening(body: bytes) -> str:
    return repr(body.lstrip()[:40].decode("utf-8", "replace"))


def _unsupported_message(version: str) -> str:
    if version == "rss10":
        return "The feed is RSS 1.0 (RDF), which arXiv retired in January 2024; use RSS 2.0."
    if version:
        return f"The feed is {version}, not an RSS 2.0 or Atom 1.0 listing feed."
    return "The body is XML but not an RSS 2.0 or Atom 1.0 listing feed."


def _to_listing(
    entry: Mapping[str, Any], ns_prefix: str
) -> tuple[Listing, None] | tuple[None, str]:
    description = _text(_get(entry, "summary"))
    prefix = _PREFIX.match(description)

    ident: tuple[str, int | None] | None = None
    for candidate in (
        _text(_get(entry, "id")),
        prefix["id"] if prefix else "",
        _text(_get(entry, "link")),
    ):
        found = parse_arxiv_id(candidate) if candidate else None
        if found is None:
            continue
        if ident is None:
            ident = found
        elif found[0] == ident[0] and ident[1] is None:
            ident = found  # same paper, and this form tells the version
        if ident[1] is not None:
            break
    if ident is None:
        return None, "no arXiv id in its guid, description or link"

    raw_type = _text(_get(entry, f"{ns_prefix}_announce_type")) or (
        prefix["type"] if prefix else ""
    )
    if not raw_type.strip():
        return None, f"{ident[0]} has no announce type"
    try:
        announce_type = AnnounceType(raw_type.strip().lower())
    except ValueError:
        return None, f"{ident[0]} has an unknown announce type {raw_type.strip()!r}"

    abstract = description[prefix.end() :] if prefix else description
    if marker := _ABSTRACT.match(abstract):
        abstract = abstract[marker.end() :]
    categories = _unique(_text(tag.get("term")) for tag in _get(entry, "tags") or [])
    paper = Paper(
        id=ident[0],
        version=ident[1] or 1,
        title=_fold(_text(_get(entry, "title"))),
        authors=_authors(_get(entry, "authors") or []),
        abstract=_fold(abstract),
        categories=categories,
        primary_category=categories[0] if categories else "",
        doi=_fold(_text(_get(entry, f"{ns_prefix}_doi"))) or None,
        journal_ref=_fold(_text(_get(entry, f"{ns_prefix}_journal_reference"))) or None,
    )
    return Listing(paper=paper, announce_type=announce_type), None


def _authors(details: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """`dc:creator` holds "A, B, C"; split on commas (a suffix such as ", Jr." becomes its own
    name: the feed does not say otherwise). Several `dc:creator` elements are all read."""
    names: list[str] = []
    for detail in details:
        raw = _text(detail.get("name")) or _text(detail.get("email"))
        names.extend(n for n in (_fold(part) for part in raw.split(",")) if n)
    return tuple(names)


def _arxiv_prefix(namespaces: Mapping[str, str]) -> str:
    """feedparser names unknown-namespace elements `<prefix>_<local>` after the document's own
    prefix; find the one bound to arXiv's namespace (normally `arxiv`)."""
    for prefix, uri in namespaces.items():
        if uri == ARXIV_NS and prefix:
            return prefix
    return "arxiv"


def _latest_date(entries: Iterable[Mapping[str, Any]]) -> date | None:
    dates = [d for e in entries if (d := _eastern_date(_get(e, "published_parsed")))]
    return max(dates) if dates else None


def _eastern_date(parsed: Any) -> date | None:
    moment = _utc(parsed)
    try:
        return moment.astimezone(EASTERN).date() if moment else None
    except (ValueError, OverflowError):  # e.g. year 1, which has no Eastern equivalent
        return None


def _utc(parsed: Any) -> datetime | None:
    """feedparser's `*_parsed` values are UTC `time.struct_time`s."""
    if not isinstance(parsed, time.struct_time):
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _get(mapping: Any, key: str) -> Any:
    """Plain dict lookup: bypasses FeedParserDict's aliases (e.g. its deprecated fallback from
    `updated` to `published`, which would pass an item date off as a build time)."""
    return dict.get(mapping, key) if isinstance(mapping, dict) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _fold(text: str) -> str:
    return " ".join(text.split())


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in (s.strip() for s in values) if v))
