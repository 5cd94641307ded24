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

    days: list[str]  # "2026-03-01", or "" for none
    kinds: list[int]  # index of the paper's reasons in `reasons`
    reasons: list[tuple[Reason, ...]]  # distinct reasons, in order of first use
    authors: list[str] | None  # each paper's authors joined by _ITEM; None if a name has it


def shared(papers: Sequence[SitePaper]) -> Shared:
    """The papers' dates, distinct reasons and joined authors."""
    days = to_json([p.date for p in papers]).decode()[1:-1].split(",") if papers else []
    days = [d[1:-1] if d != "null" else "" for d in days]
    index: dict[tuple[Reason, ...], int] = {}
    kinds = []
    for p in papers:
        kind = index.get(p.reasons)
        if kind is None:
            kind = index[p.reasons] = len(index)
        kinds.append(kind)
    lists = [p.authors for p in papers]
    joined = list(map(_ITEM.join, lists))
    joints = sum(map(len, lists)) - sum(map(bool, lists))  # _ITEMs if no name holds one
    authors = joined if "".join(joined).count(_ITEM) == joints else None
    return Shared(days, kinds, list(index), authors)


def escape_many(texts: Sequence[str], joint: str | None = None) -> list[str]:
    """markupsafe.escape of each text, in one pass over all of them; `joint`, when given,
    replaces each _ITEM (see `Shared.authors`)."""
    joined = _SEP.join(texts)
    if joined.count(_SEP) != max(len(texts) - 1, 0):
        each = [str(escape(t)) for t in texts]
        return each if joint is None else [t.replace(_ITEM, joint) for t in each]
    escaped = str(escape(joined))
    if joint is not None:
        escaped = escaped.replace(_ITEM, joint)
    elif len(escaped) == len(joined):  # nothing to escape (escaping only lengthens)
        return list(texts)
    return escaped.split(_SEP) if texts else []


def _authors(
    papers: Sequence[SitePaper], common: Shared, joint: str
) -> tuple[list[str], str | None]:
    """Each paper's authors joined by `joint`: the texts, and what replaces _ITEM in them."""
    if common.authors is None:
        return [joint.join(p.authors) for p in papers], None
    return common.authors, joint


def tag_attr(tags: Iterable[str]) -> str:
    """The `data-tags` value: case-folded distinct tags, sorted, joined by `|`."""
    return "|".join(sorted({t.casefold() for t in tags}))


def paper_html(papers: Sequence[SitePaper], common: Shared | None = None) -> list[str]:
    """Each paper's <article>, as templates/paper.html renders it."""
    common = common or shared(papers)
    ids = escape_many([p.id for p in papers])
    titles = escape_many([p.title for p in papers])
    authors = escape_many(*_authors(papers, common, ", "))
    tldrs = escape_many([p.tldr or "" for p in papers])
    days = common.days
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


def bibtex_many(texts: Sequence[str], joint: str | None = None) -> list[str]:
    """Each text with BibTeX's special characters escaped and on one line; `joint`, when
    given, replaces each _ITEM (see `Shared.authors`)."""
    joined = _SEP.join(texts)
    if joined.count(_SEP) != max(len(texts) - 1, 0):
        return bibtex_many([t.replace(_SEP, "") for t in texts], joint)
    changed = joint is not None
    if joint is not None:
        joined = joined.replace(_ITEM, joint)
    for old, new in _BIBTEX:
        if old in joined:
            joined, changed = joined.replace(old, new), True
    return (joined.split(_SEP) if texts else []) if changed else list(texts)


def year(p: SitePaper) -> int:
    """The v1 year: from the submission time, else from the id (YYMM.NNNNN or archive/YYMMNNN)."""
    if p.published is not None:
        return p.published.year
    digits = p.id.rpartition("/")[2][:2]
    if not digits.isdigit():
        return p.accepted_at.year
    yy = int(digits)
    return 1900 + yy if yy >= 91 else 2000 + yy


def bibtex(papers: Sequence[SitePaper], common: Shared | None = None) -> str:
    """papers.bib: one @misc entry a paper, keyed arxiv:ID (a `/` in old ids becomes `_`)."""
    titles = bibtex_many([p.title for p in papers])
    authors = bibtex_many(*_authors(papers, common or shared(papers), " and "))
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
    paper's object as to_json writes it."""
    common = common or shared(papers)
    ids = json_strings([p.id for p in papers])
    titles = json_strings([p.title for p in papers])
    tldrs = json_strings([p.tldr or "" for p in papers])
    accepted = rfc3339_many([p.accepted_at for p in papers])
    reasons = [to_json([r.as_dict() for r in rs]).decode() for rs in common.reasons]
    known: dict[Any, str] = {None: "null"}  # JSON of texts and tuples that recur
    out = []
    for p, pid, title, tldr, day, when, kind in zip(
        papers, ids, titles, tldrs, common.days, accepted, common.kinds, strict=True
    ):
        authors = to_json(p.authors).decode()
        if (section := known.get(p.section)) is None:
            section = known[p.section] = to_json(p.section).decode()
        if (by := known.get(p.decided_by)) is None:
            by = known[p.decided_by] = to_json(p.decided_by).decode()
        if (tags := known.get(p.tags)) is None:
            tags = known[p.tags] = to_json(p.tags).decode()
        if (cats := known.get(p.categories)) is None:
            cats = known[p.categories] = to_json(p.categories).decode()
        note = "null" if p.tldr is None else f'"{tldr}"'
        date = f'"{day}"' if day else "null"
        out.append(
            f'{{"id":"{pid}","url":"https://arxiv.org/abs/{pid}","title":"{title}",'
            f'"authors":{authors},"date":{date},"section":{section},'
            f'"accepted_at":"{when}","decided_by":{by},"tags":{tags},"tldr":{note},'
            f'"categories":{cats},"reasons":{reasons[kind]},'
            f'"votes":{{"up":{p.ups},"down":{p.downs}}}}}'
        )
    start = to_json(head).decode()[:-1] + ',"papers":'
    if not out:
        return f"{start}[]}}\n".encode()
    out[0] = f"{start}[\n{out[0]}"
    out[-1] += "\n]}\n"
    return ",\n".join(out).encode()  # one copy of the whole text, and its encoding


def json_strings(texts: Sequence[str]) -> list[str]:
    """Each text as to_json writes it, without the quotes, in one call over all of them."""
    if not texts:
        return []
    joined = _SEP.join(texts)
    body = to_json(joined).decode()[1:-1]
    if body.count(_JSON_SEP) != len(texts) - 1:  # a NUL, or "\\u0000" as text, in one
        return [to_json(t).decode()[1:-1] for t in texts]
    if len(body) == len(joined) + (len(_JSON_SEP) - 1) * (len(texts) - 1):
        return list(texts)  # only the separators were escaped
    return body.split(_JSON_SEP)


def _paper_dict(p: SitePaper) -> dict[str, Any]:
    return {
        "id": p.id,
        "url": f"https://arxiv.org/abs/{p.id}",
        "title": p.title,
        "authors": p.authors,
        "date": p.date.isoformat() if p.date else None,
        "section": p.section,
        "accepted_at": rfc3339(p.accepted_at),
        "decided_by": p.decided_by,
        "tags": p.tags,
        "tldr": p.tldr,
        "categories": p.categories,
        "reasons": [r.as_dict() for r in p.reasons],
        "votes": {"up": p.ups, "down": p.downs},
    }
