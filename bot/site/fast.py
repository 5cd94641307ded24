"""The per-paper parts of a large site in bulk: each field kind is escaped in one C call over
all papers, not one call a paper. `paper_html` gives byte for byte what templates/paper.html
gives (tests/test_site.py holds them together); a route's own paper.html replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from markupsafe import escape
from pydantic_core import to_json

if TYPE_CHECKING:
    from bot.site.render import SitePaper

_SEP = "\x00"  # never in a title: joined fields are escaped at once and split back


def escape_many(texts: Sequence[str]) -> list[str]:
    """markupsafe.escape of each text, in one pass over all of them."""
    joined = _SEP.join(texts)
    if joined.count(_SEP) != max(len(texts) - 1, 0):
        return [str(escape(t)) for t in texts]
    return str(escape(joined)).split(_SEP) if texts else []


def tag_attr(tags: Iterable[str]) -> str:
    """The `data-tags` value: case-folded distinct tags, sorted, joined by `|`."""
    return "|".join(sorted({t.casefold() for t in tags}))


def paper_html(papers: Sequence[SitePaper]) -> list[str]:
    """Each paper's <article>, as templates/paper.html renders it."""
    ids = escape_many([p.id for p in papers])
    titles = escape_many([p.title for p in papers])
    authors = escape_many([", ".join(p.authors) for p in papers])
    tldrs = escape_many([p.tldr or "" for p in papers])
    tag_parts: dict[tuple[str, ...], tuple[str, str]] = {}
    why_parts: dict[tuple[Any, ...], str] = {}
    out = []
    for p, pid, title, author, tldr in zip(papers, ids, titles, authors, tldrs, strict=True):
        tags = tag_parts.get(p.tags)
        if tags is None:
            spans = "".join(f'<span class="tag">{escape(t)}</span> ' for t in p.tags)
            line = f'<p class="tags">{spans}</p>\n' if p.tags else ""
            tags = tag_parts[p.tags] = (str(escape(tag_attr(p.tags))), line)
        why = why_parts.get(p.reasons)
        if why is None:
            terms = ", ".join(f"<b>{escape(r.term)}</b> in {escape(r.field)}" for r in p.reasons)
            why = why_parts[p.reasons] = f'<p class="why">Matched {terms}</p>\n' if terms else ""
        url = f"https://arxiv.org/abs/{pid}"
        out.append(
            f'<article class="paper" id="p-{pid}" data-date="{p.date or ""}" '
            f'data-tags="{tags[0]}">\n<h3><a href="{url}">{title}</a></h3>\n'
            + (f'<p class="authors">{author}</p>\n' if author else "")
            + tags[1]
            + (f'<p class="tldr"><strong>TL;DR:</strong> <span>{tldr}</span></p>\n' if tldr else "")
            + why
            + f'<p class="votes"><span title="votes for">&#9650; {p.ups}</span> '
            f'<span title="votes against">&#9660; {p.downs}</span> &middot; '
            f'<a href="{url}">arXiv:{pid}</a></p>\n</article>\n'
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
    out = []
    for p, title, author in zip(papers, titles, authors, strict=True):
        out.append(
            f"@misc{{arxiv:{p.id.replace('/', '_')},\n  title = {{{title}}},\n"
            + (f"  author = {{{author}}},\n" if author else "")
            + f"  year = {{{year(p)}}},\n  eprint = {{{p.id}}},\n  archivePrefix = {{arXiv}},\n"
            + (f"  primaryClass = {{{p.categories[0]}}},\n" if p.categories else "")
            + f"  url = {{https://arxiv.org/abs/{p.id}}}\n}}\n\n"
        )
    return "".join(out)


def papers_json(head: dict[str, Any], papers: Sequence[dict[str, Any]]) -> bytes:
    """`head` with "papers" last, one paper a line (so git shows which papers changed)."""
    body = to_json(papers)
    # Each paper's object starts with its "id" key, and a quote inside a string is escaped, so
    # `},{"id":` only ever stands between two papers.
    body = body.replace(b'},{"id":', b'},\n{"id":')
    if papers:
        body = b"[\n" + body[1:-1] + b"\n]"
    return to_json(head)[:-1] + b',"papers":' + body + b"}\n"
