"""arXiv API (`export.arxiv.org/api/query`) pages turned into `ApiPage`, and query URLs.

Parsed with lxml by namespace (no entities, no DTD, no network). What raises, what is
skipped and how fields are cleaned: docs/arxiv.md.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

from lxml import etree

from bot.arxiv.ids import parse_arxiv_id
from bot.errors import FeedError
from bot.models import ApiPage, Paper

__all__ = ["build_query_url", "category_query", "parse_api_page"]

log = logging.getLogger(__name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
OPENSEARCH_NS = "http://a9.com/-/spec/opensearch/1.1/"
ARXIV_NS = "http://arxiv.org/schemas/atom"

_FEED = f"{{{ATOM_NS}}}feed"
_ENTRY = f"{{{ATOM_NS}}}entry"
_ID = f"{{{ATOM_NS}}}id"
_TITLE = f"{{{ATOM_NS}}}title"
_SUMMARY = f"{{{ATOM_NS}}}summary"
_AUTHOR = f"{{{ATOM_NS}}}author"
_NAME = f"{{{ATOM_NS}}}name"
_CATEGORY = f"{{{ATOM_NS}}}category"
_PUBLISHED = f"{{{ATOM_NS}}}published"
_UPDATED = f"{{{ATOM_NS}}}updated"
_PRIMARY = f"{{{ARXIV_NS}}}primary_category"
_DOI = f"{{{ARXIV_NS}}}doi"
_JOURNAL_REF = f"{{{ARXIV_NS}}}journal_ref"
_COMMENT = f"{{{ARXIV_NS}}}comment"
_TOTAL = f"{{{OPENSEARCH_NS}}}totalResults"
_START = f"{{{OPENSEARCH_NS}}}startIndex"
_PER_PAGE = f"{{{OPENSEARCH_NS}}}itemsPerPage"

# Entry children the parser reads, numbered for a cheap dispatch in `_to_paper`.
_ID_F, _PUBLISHED_F, _UPDATED_F, _AUTHOR_F, _CATEGORY_F, _PRIMARY_F = range(6)
_TITLE_F, _SUMMARY_F, _DOI_F, _JOURNAL_REF_F, _COMMENT_F = range(6, 11)
_FIELDS: dict[object, int] = {
    _ID: _ID_F,
    _PUBLISHED: _PUBLISHED_F,
    _UPDATED: _UPDATED_F,
    _AUTHOR: _AUTHOR_F,
    _CATEGORY: _CATEGORY_F,
    _PRIMARY: _PRIMARY_F,
    _TITLE: _TITLE_F,
    _SUMMARY: _SUMMARY_F,
    _DOI: _DOI_F,
    _JOURNAL_REF: _JOURNAL_REF_F,
    _COMMENT: _COMMENT_F,
}

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_HTML_START = re.compile(rb"\s*(?:<\?xml[^>]*>\s*)?<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE)
_ERROR_ID = re.compile(r"^https?://(?:export\.)?arxiv\.org/api/errors", re.IGNORECASE)

SORT_BY = ("relevance", "lastUpdatedDate", "submittedDate")
SORT_ORDER = ("ascending", "descending")
MAX_RESULTS_PER_CALL = 2000
MAX_RESULTS_PER_QUERY = 30000
_CATEGORY_NAME = re.compile(r"[a-z]+(?:-[a-z]+)?(?:\.[A-Za-z]+(?:-[A-Za-z]+)?)?", re.ASCII)


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parser objects must not be shared between threads, and
    # building one costs microseconds.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
        remove_blank_text=True,  # drops the indentation nodes: a third less to build and free
    )


def parse_api_page(body: bytes) -> ApiPage:
    """Parse one API answer page. Raises only `FeedError`."""
    if not body or not body.strip():
        raise FeedError("The API response body is empty (a throttled or failed fetch); retry it.")
    opening = body[:1024].removeprefix(b"\xef\xbb\xbf")
    if _HTML_START.match(opening):
        raise FeedError("The API response is an HTML page, not an Atom feed.")
    if not opening.lstrip().startswith(b"<") and not opening.startswith(_UTF16_BOMS):
        raise FeedError(f"The API response is not XML (it starts {body.lstrip()[:40]!r}).")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise FeedError(_syntax_message(exc, body)) from exc
    except Exception as exc:  # lxml on untrusted bytes: any failure means "unusable"
        raise FeedError(f"The API response could not be parsed as XML ({exc!r}).") from exc
    if root is None or root.tag != _FEED:
        tag = root.tag if root is not None else None
        raise FeedError(f"The API response is XML but not an Atom feed (its root is {tag!r}).")
    try:
        return _to_page(root)
    except FeedError:
        raise
    except Exception as exc:  # a shape we did not foresee must still be a FeedError
        raise FeedError(f"The API response has an unexpected structure ({exc!r}).") from exc


def _syntax_message(exc: etree.XMLSyntaxError, body: bytes) -> str:
    reason = str(exc.msg)
    if _cut_short(body):
        return f"The API response is truncated: its XML ends before the feed closes ({reason})."
    return f"The API response is not well-formed XML ({reason})."


def _cut_short(body: bytes) -> bool:
    """True when every byte is acceptable XML and only the end is missing: fed to a push
    parser, such a body raises nothing until `close()`. Runs only on the error path."""
    parser = etree.XMLPullParser(
        events=(), resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False
    )
    try:
        parser.feed(body)
    except Exception:  # any error before the end: the body is broken, not just short
        return False
    try:
        parser.close()
    except Exception:
        return True
    return False


def _to_page(root: etree._Element) -> ApiPage:
    total = start = per_page = None
    entries: list[etree._Element] = []
    for child in root:
        tag = child.tag
        if tag == _ENTRY:
            entries.append(child)
        elif tag == _TOTAL:
            total = _int(child)
        elif tag == _START:
            start = _int(child)
        elif tag == _PER_PAGE:
            per_page = _int(child)

    papers: list[Paper] = []
    for position, entry in enumerate(entries, start=1):
        paper = _to_paper(entry)
        if paper is None:
            log.warning(
                "API page: entry %d of %d skipped: no arXiv id in <id>", position, len(entries)
            )
            continue
        papers.append(paper)
    return ApiPage(
        papers=tuple(papers),
        total_results=total,
        start_index=start or 0,
        items_per_page=per_page,
    )


def _to_paper(entry: etree._Element) -> Paper | None:
    # One pass over the entry's children with a dict dispatch and no helper calls: this runs
    # 2000 times for a full page, where every microsecond an entry costs 2 ms a page.
    raw_id = title = summary = primary = ""
    published = updated = None
    authors: list[str] = []
    categories: list[str] = []
    doi = journal_ref = comment = None
    for child in entry:
        field = _FIELDS.get(child.tag)  # comments/PIs have a non-str tag: .get gives None
        if field is None:
            continue
        if field == _CATEGORY_F:
            if term := (child.get("term") or "").strip():
                categories.append(term)
        elif field == _AUTHOR_F:
            for name in child:
                if name.tag == _NAME and name.text and (folded := " ".join(name.text.split())):
                    authors.append(folded)
        elif field == _PRIMARY_F:
            primary = (child.get("term") or "").strip()
        else:
            raw = child.text if len(child) == 0 else _all_text(child)
            text = " ".join(raw.split()) if raw else ""
            if field == _ID_F:
                raw_id = text
            elif field == _TITLE_F:
                title = text
            elif field == _SUMMARY_F:
                summary = text
            elif field == _PUBLISHED_F:
                published = _datetime(text)
            elif field == _UPDATED_F:
                updated = _datetime(text)
            elif field == _DOI_F:
                doi = text or None
            elif field == _JOURNAL_REF_F:
                journal_ref = text or None
            else:
                comment = text or None

    parsed = parse_arxiv_id(raw_id)
    if parsed is None:
        if _ERROR_ID.match(raw_id) or title == "Error":
            raise FeedError(f"arXiv API error: {summary or title or raw_id}.")
        return None
    ordered = tuple(dict.fromkeys([primary, *categories] if primary else categories))
    return Paper(
        id=parsed[0],
        version=parsed[1] or 1,
        title=title,
        authors=tuple(authors),
        abstract=summary,
        categories=ordered,
        primary_category=ordered[0] if ordered else "",
        published=published,
        updated=updated,
        doi=doi,
        journal_ref=journal_ref,
        comment=comment,
    )


def _all_text(element: etree._Element) -> str:
    """Text of an element that has children (never seen from arXiv, but legal Atom)."""
    return "".join(t for t in element.itertext() if isinstance(t, str))


def _int(element: etree._Element) -> int | None:
    text = (element.text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


def _datetime(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:  # arXiv writes `Z`; a bare time is taken as UTC as well
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # unreadable, or out of range once moved to UTC
        return None


def build_query_url(
    base_url: str,
    *,
    search_query: str | None = None,
    id_list: Sequence[str] = (),
    start: int = 0,
    max_results: int = 100,
    sort_by: str = "submittedDate",
    sort_order: str = "descending",
) -> str:
    """The API URL for one page. `id_list` takes any id form (`parse_arxiv_id`), versions kept.

    Raises ValueError for a request arXiv would refuse or cut short: neither a query nor ids,
    an unreadable id, `start` < 0, `max_results` outside 1..2000, a page past result 30000,
    or an unknown sort.
    """
    if not search_query and not id_list:
        raise ValueError("An arXiv API query needs a search_query, an id_list or both.")
    if isinstance(id_list, str):
        raise ValueError("id_list must be a sequence of ids, not one string.")
    if start < 0:
        raise ValueError(f"start must be 0 or more, not {start}.")
    if not 1 <= max_results <= MAX_RESULTS_PER_CALL:
        raise ValueError(f"max_results must be 1 to {MAX_RESULTS_PER_CALL}, not {max_results}.")
    if start + max_results > MAX_RESULTS_PER_QUERY:
        raise ValueError(
            f"arXiv serves at most {MAX_RESULTS_PER_QUERY} results a query; "
            f"start={start} with max_results={max_results} goes past that: narrow the query."
        )
    if sort_by not in SORT_BY:
        raise ValueError(f"sort_by must be one of {', '.join(SORT_BY)}, not {sort_by!r}.")
    if sort_order not in SORT_ORDER:
        raise ValueError(f"sort_order must be one of {', '.join(SORT_ORDER)}, not {sort_order!r}.")

    ids: list[str] = []
    for raw in id_list:
        parsed = parse_arxiv_id(raw)
        if parsed is None:
            raise ValueError(f"{raw!r} in id_list is not an arXiv id.")
        ids.append(f"{parsed[0]}v{parsed[1]}" if parsed[1] else parsed[0])

    params: list[tuple[str, str]] = []
    if search_query:
        params.append(("search_query", search_query))
    if ids:
        params.append(("id_list", ",".join(ids)))
    params += [
        ("start", str(start)),
        ("max_results", str(max_results)),
        ("sortBy", sort_by),
        ("sortOrder", sort_order),
    ]
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}{urlencode(params, safe=':,/')}"


def category_query(categories: Sequence[str], since: datetime, until: datetime) -> str:
    """`(cat:A OR cat:B) AND submittedDate:[YYYYMMDDHHMM TO YYYYMMDDHHMM]`, times in GMT.

    `since` and `until` must be aware; both are cut to the minute (the API's resolution) and
    the range is inclusive. Categories are checked (`cs.DC`, `hep-th`, `physics.acc-ph`) so a
    stray term cannot change the query, and deduplicated in order.
    """
    if isinstance(categories, str):
        raise ValueError("categories must be a sequence of category names, not one string.")
    names = tuple(dict.fromkeys(c.strip() for c in categories))
    if not names:
        raise ValueError("category_query needs at least one category.")
    for name in names:
        if not _CATEGORY_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an arXiv category name (e.g. cs.DC, hep-th).")
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware datetimes.")
    if since > until:
        raise ValueError(f"since ({since.isoformat()}) is after until ({until.isoformat()}).")
    cats = " OR ".join(f"cat:{name}" for name in names)
    if len(names) > 1:
        cats = f"({cats})"
    window = f"[{_gmt_minute(since)} TO {_gmt_minute(until)}]"
    return f"{cats} AND submittedDate:{window}"


def _gmt_minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M")
