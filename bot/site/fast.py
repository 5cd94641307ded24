"""The per-paper parts of a large site in bulk: each field kind is escaped or encoded in one C
call over all papers, not one call a paper. `paper_html` gives byte for byte what
templates/paper.html gives (tests/test_site.py holds them together); a route's own paper.html
replaces it. `papers_json` writes what `pydantic_core.to_json` writes of each paper's dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from markupsafe import escape
from pydantic_core import to_json

from bot.models import Reason

if TYPE_CHECKING:
    from bot.site.render import SitePaper

_SEP = "\x00"  # never in a title: joined fields are escaped at once and split back
_JSON_SEP = "\\u0000"  # how to_json writes _SEP; only ever _SEP's, checked by counting
_ITEM = "\x01"  # between the items of one paper's list, written "\\u0001" by to_json


@dataclass(frozen=True, slots=True)
class Shared:
    """What more than one output needs of each paper, worked out once."""

    days: list[str]  # the date's JSON: '"2026-03-01"' or 'null'
    kinds: list[int]  # index of the paper's reasons in `reasons`
    reasons: list[tuple[Reason, ...]]  # distinct reasons, in order of first use


def shared(papers: Sequence[SitePaper]) -> Shared:
    """The papers' dates and distinct reasons."""
    days = to_json([p.date for p in papers]).decode()[1:-1].split(",") if papers else []
    index: dict[tuple[Reason, ...], int] = {}
    kinds = []
    for p in papers:
        kind = index.get(p.reasons)
        if kind is None:
            kind = index[p.reasons] = len(index)
        kinds.append(kind)
    return Shared(days, kinds, list(index))


def escape_many(texts: Sequence[str]) -> list[str]:
    """markupsafe.escape of each text, in one pass over all of them."""
    joined = _SEP.join(texts)
    if joined.count(_SEP) != max(len(texts) - 1, 0):
        return [str(escape(t)) for t in texts]
    return str(escape(joined)).split(_SEP) if texts else []


def tag_attr(tags: Iterable[str]) -> str:
    """The `data-tags` value: case-folded distinct tags, sorted, joined by `|`."""
    return "|".join(sorted({t.casefold() for t in tags}))


def paper_html(papers: Sequence[SitePaper], common: Shared | None = None) -> list[str]:
    """Each paper's <article>, as templates/paper.html renders it."""
    common = common or shared(papers)
    ids = escape_many([p.id for p in papers])
    titles = escape_many([p.title for p in papers])
    authors = escape_many([", ".join(p.authors) for p in papers])
    tldrs = escape_many([p.tldr or "" for p in papers])
    days = [d[1:-1] if d != "null" else "" for d in common.days]
    whys = []
    for reasons in common.reasons:
        terms = ", ".join(f"<b>{escape(r.term)}</b> in {escape(r.field)}" for r in reasons)
        whys.append(f'<p class="why">Matched {terms}</p>\n' if terms else "")
    tag_parts: dict[tuple[str, ...], tuple[str, str]] = {}
    out = []
    for p, pid, title, author, tldr, day, kind in zip(
        papers, ids, titles, authors, tldrs, days, common.kinds, strict=True
    ):
        tags = tag_parts.get(p.tags)
        if tags is None:
            spans = "".join(f'<span class="tag">{escape(t)}</span> ' for t in p.tags)
            bar = f'<p class="tags">{spans}</p>\n' if p.tags else ""
            tags = tag_parts[p.tags] = (str(escape(tag_attr(p.tags))), bar)
        line = f'<p class="authors">{author}</p>\n' if author else ""
        note = f'<p class="tldr"><strong>TL;DR:</strong> <span>{tldr}</span></p>\n' if tldr else ""
        out.append(
            f'<article class="paper" id="p-{pid}" data-date="{day}" data-tags="{tags[0]}">\n'
            f'<h3><a href="https://arxiv.org/abs/{pid}">{title}</a></h3>\n{line}{tags[1]}{note}'
            f'{whys[kind]}<p class="votes"><span title="votes for">&#9650; {p.ups}</span> '
            f'<span title="votes against">&#9660; {p.downs}</span> &middot; '
            f'<a href="https://arxiv.org/abs/{pid}">arXiv:{pid}</a></p>\n</article>\n'
        )
    return out


_BIBTEX = (
    ("\\", "\\textbackslash{}"),
    *((c, "\\" + c) for c in "{}&%$#_"),
    ("~", "\\~{}"),
    ("\r", " "),
    ("\n", " "),
    ("\t", " "),
)


def bibtex_many(texts: Sequence[str]) -> list[str]:
    """Each text with BibTeX's special characters escaped and on one line."""
    joined = _SEP.join(texts)
    if joined.count(_SEP) != max(len(texts) - 1, 0):
        return bibtex_many([t.replace(_SEP, "") for t in texts])
    for old, new in _BIBTEX:
        if old in joined:
            joined = joined.replace(old, new)
    return joined.split(_SEP) if texts else []


def year(p: SitePaper) -> int:
    """The v1 year: from the submission time, else from the id (YYMM.NNNNN or archive/YYMMNNN)."""
    if p.published is not None:
        return p.published.year
    digits = p.id.rpartition("/")[2][:2]
    if not digits.isdigit():
        return p.accepted_at.year
    yy = int(digits)
    return 1900 + yy if yy >= 91 else 2000 + yy


def bibtex(papers: Sequence[SitePaper]) -> str:
    """papers.bib: one @misc entry a paper, keyed arxiv:ID (a `/` in old ids becomes `_`)."""
    titles = bibtex_many([p.title for p in papers])
    authors = bibtex_many([" and ".join(p.authors) for p in papers])
    ids = [p.id for p in papers]
    keys = _SEP.join(ids).replace("/", "_").split(_SEP) if papers else []
    if len(keys) != len(ids):
        keys = [i.replace("/", "_") for i in ids]
    years: dict[str, int] = {}  # by the id's first two characters, for new-style ids
    out = []
    for p, key, title, author in zip(papers, keys, titles, authors, strict=True):
        if p.published is not None:
            when = p.published.year
        elif "/" in p.id or (when := years.get(p.id[:2], 0)) == 0:
            when = year(p)
            if "/" not in p.id and p.id[:2].isdigit():
                years[p.id[:2]] = when
        line = f"  author = {{{author}}},\n" if author else ""
        primary = f"  primaryClass = {{{p.categories[0]}}},\n" if p.categories else ""
        out.append(
            f"@misc{{arxiv:{key},\n  title = {{{title}}},\n{line}  year = {{{when}}},\n"
            f"  eprint = {{{p.id}}},\n  archivePrefix = {{arXiv}},\n{primary}"
            f"  url = {{https://arxiv.org/abs/{p.id}}}\n}}\n\n"
        )
    return "".join(out)


def json_strings(texts: Sequence[str]) -> list[str]:
    """Each text as to_json writes it, without the quotes, in one call over all of them."""
    if not texts:
        return []
    body = to_json(_SEP.join(texts)).decode()[1:-1]
    if body.count(_JSON_SEP) != len(texts) - 1:  # a NUL, or "\\u0000" as text, in one
        return [to_json(t).decode()[1:-1] for t in texts]
    return body.split(_JSON_SEP)


def json_lists(lists: Sequence[tuple[str, ...]]) -> list[str]:
    """Each tuple of texts as to_json writes it, in one call over all of them."""
    if not lists:
        return []
    items = json_strings([_ITEM.join(x) for x in lists])
    joints = sum(map(len, lists)) - sum(1 for x in lists if x)
    body = _SEP.join(items)
    if body.count("\\u0001") != joints:  # \x01, or "\\u0001" as text, in an item
        return [to_json(x).decode() for x in lists]
    items = body.replace("\\u0001", '","').split(_SEP)
    return [f'["{s}"]' if x else "[]" for s, x in zip(items, lists, strict=True)]


def rfc3339(moment: datetime) -> str:
    """`2026-03-30T08:00:00Z`: UTC; a time with no zone is taken as UTC."""
    if moment.tzinfo is not None and moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds")[:19] + "Z"


def rfc3339_many(moments: Sequence[datetime]) -> list[str]:
    """rfc3339 of each moment, in one call over all of them."""
    if not moments:
        return []
    utc = [m if m.tzinfo is UTC else _utc(m) for m in moments]
    body = to_json(utc).decode()  # "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" each, in UTC
    texts = body[2:-2].split('","')
    if len(body) != 23 * len(moments) + 1:  # some with a fraction of a second
        texts = [t[:19] + "Z" for t in texts]
    return texts


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None and moment.utcoffset():
        return moment.astimezone(UTC)
    return moment.replace(tzinfo=UTC)


def papers_json(
    head: dict[str, Any], papers: Sequence[SitePaper], common: Shared | None = None
) -> bytes:
    """`head` with "papers" last, one paper a line (so git shows which papers changed), each
    paper as to_json writes its dict."""
    common = common or shared(papers)
    ids = json_strings([p.id for p in papers])
    titles = json_strings([p.title for p in papers])
    authors = json_lists([p.authors for p in papers])
    sections = json_strings([p.section or "" for p in papers])
    tldrs = json_strings([p.tldr or "" for p in papers])
    accepted = rfc3339_many([p.accepted_at for p in papers])
    deciders = json_strings([p.decided_by for p in papers])
    reasons = [to_json([r.as_dict() for r in rs]).decode() for rs in common.reasons]
    lists: dict[tuple[str, ...], str] = {}
    out = []
    for p, pid, title, author, section, tldr, day, when, by, kind in zip(
        papers,
        ids,
        titles,
        authors,
        sections,
        tldrs,
        common.days,
        accepted,
        deciders,
        common.kinds,
        strict=True,
    ):
        tags = lists.get(p.tags) or lists.setdefault(p.tags, to_json(p.tags).decode())
        cats = lists.get(p.categories) or lists.setdefault(
            p.categories, to_json(p.categories).decode()
        )
        sec = "null" if p.section is None else f'"{section}"'
        note = "null" if p.tldr is None else f'"{tldr}"'
        out.append(
            f'{{"id":"{pid}","url":"https://arxiv.org/abs/{pid}","title":"{title}",'
            f'"authors":{author},"date":{day},'
            f'"section":{sec},'
            f'"accepted_at":"{when}","decided_by":"{by}","tags":{tags},'
            f'"tldr":{note},"categories":{cats},'
            f'"reasons":{reasons[kind]},"votes":{{"up":{p.ups},"down":{p.downs}}}}}'
        )
    body = ("[\n" + ",\n".join(out) + "\n]" if out else "[]").encode()
    return to_json(head)[:-1] + b',"papers":' + body + b"}\n"
