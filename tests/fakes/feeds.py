"""Build arXiv listing feeds and API pages in the real formats (see ../shared/fixtures/arxiv).

Tests describe papers with `Item` and get the exact bytes rss.arxiv.org or export.arxiv.org
would send, so each test states its own data instead of depending on a shared file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    abstract: str = "We study systems."
    authors: tuple[str, ...] = ("Ada Lovelace", "Alan Turing")
    categories: tuple[str, ...] = ("cs.DC",)
    version: int = 1
    announce: str = "new"
    published: datetime = field(
        default_factory=lambda: datetime(2026, 11, 20, 15, 0, tzinfo=ZoneInfo("UTC"))
    )


def rss(day: date, items: list[Item], cats: str = "cs.DC+cs.OS") -> bytes:
    pub = format_datetime(datetime(day.year, day.month, day.day, tzinfo=EASTERN))
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">\n'
        "  <channel>\n"
        f"    <title>{cats.replace('+', ', ')} updates on arXiv.org</title>\n"
        f"    <link>http://rss.arxiv.org/rss/{cats}</link>\n"
        f"    <description>{cats} updates on the arXiv.org e-print archive.</description>\n"
        f'    <atom:link href="http://rss.arxiv.org/rss/{cats}" rel="self" '
        'type="application/rss+xml"/>\n'
        "    <docs>http://www.rssboard.org/rss-specification</docs>\n"
        "    <language>en-us</language>\n"
        f"    <lastBuildDate>{pub}</lastBuildDate>\n"
        "    <managingEditor>rss-help@arxiv.org</managingEditor>\n"
        f"    <pubDate>{pub}</pubDate>\n"
        "    <skipDays>\n      <day>Sunday</day>\n      <day>Saturday</day>\n    </skipDays>\n"
    ]
    for it in items:
        cat_lines = "".join(f"      <category>{c}</category>\n" for c in it.categories)
        parts.append(
            "    <item>\n"
            f"      <title>{escape(it.title)}</title>\n"
            f"      <link>https://arxiv.org/abs/{it.id}</link>\n"
            f"      <description>arXiv:{it.id}v{it.version} Announce Type: {it.announce} \n"
            f"Abstract: {escape(it.abstract)}</description>\n"
            f'      <guid isPermaLink="false">oai:arXiv.org:{it.id}v{it.version}</guid>\n'
            f"{cat_lines}"
            f"      <pubDate>{pub}</pubDate>\n"
            f"      <arxiv:announce_type>{it.announce}</arxiv:announce_type>\n"
            "      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>\n"
            f"      <dc:creator>{escape(', '.join(it.authors))}</dc:creator>\n"
            "    </item>\n"
        )
    parts.append("  </channel>\n</rss>\n")
    return "".join(parts).encode()


def api_page(items: list[Item], *, total: int | None = None, start: int = 0) -> bytes:
    total = len(items) if total is None else total
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">\n'
        "  <id>https://arxiv.org/api/test</id>\n"
        "  <title>arXiv Query: test</title>\n"
        "  <updated>2026-11-28T00:00:00Z</updated>\n"
        f"  <opensearch:itemsPerPage>{len(items)}</opensearch:itemsPerPage>\n"
        f"  <opensearch:totalResults>{total}</opensearch:totalResults>\n"
        f"  <opensearch:startIndex>{start}</opensearch:startIndex>\n"
    ]
    for it in items:
        stamp = it.published.strftime("%Y-%m-%dT%H:%M:%SZ")
        authors = "".join(
            f"    <author>\n      <name>{escape(a)}</name>\n    </author>\n" for a in it.authors
        )
        cats = "".join(
            f'    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>\n'
            for c in it.categories
        )
        parts.append(
            "  <entry>\n"
            f"    <id>http://arxiv.org/abs/{it.id}v{it.version}</id>\n"
            f"    <title>{escape(it.title)}</title>\n"
            f"    <updated>{stamp}</updated>\n"
            f'    <link href="https://arxiv.org/abs/{it.id}v{it.version}" rel="alternate" '
            'type="text/html"/>\n'
            f"    <summary>{escape(it.abstract)}</summary>\n"
            f"{cats}"
            f"    <published>{stamp}</published>\n"
            f'    <arxiv:primary_category term="{it.categories[0]}"/>\n'
            f"{authors}"
            "  </entry>\n"
        )
    parts.append("</feed>\n")
    return "".join(parts).encode()


def atom(day: date, items: list[Item], cats: str = "cs.DC+cs.OS") -> bytes:
    """The Atom flavour of the listing feed (rss.arxiv.org/atom/<cats>)."""
    stamp = datetime(day.year, day.month, day.day, tzinfo=EASTERN).isoformat()
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<feed xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns="http://www.w3.org/2005/Atom" '
        'xml:lang="en-us">\n'
        f"  <id>http://rss.arxiv.org/atom/{cats}</id>\n"
        f"  <title>{cats} updates on arXiv.org</title>\n"
        f"  <updated>{stamp}</updated>\n"
        f'  <link href="http://rss.arxiv.org/atom/{cats}" rel="self" '
        'type="application/atom+xml"/>\n'
    ]
    for it in items:
        cat_lines = "".join(f'    <category term="{c}"/>\n' for c in it.categories)
        parts.append(
            "  <entry>\n"
            f"    <id>oai:arXiv.org:{it.id}v{it.version}</id>\n"
            f"    <title>{escape(it.title)}</title>\n"
            f"    <updated>{stamp}</updated>\n"
            f'    <link href="https://arxiv.org/abs/{it.id}" rel="alternate" type="text/html"/>\n'
            f"    <summary>arXiv:{it.id}v{it.version} Announce Type: {it.announce} \n"
            f"Abstract: {escape(it.abstract)}</summary>\n"
            f"{cat_lines}"
            f"    <published>{stamp}</published>\n"
            f"    <arxiv:announce_type>{it.announce}</arxiv:announce_type>\n"
            f"    <dc:creator>{escape(', '.join(it.authors))}</dc:creator>\n"
            "  </entry>\n"
        )
    parts.append("</feed>\n")
    return "".join(parts).encode()
