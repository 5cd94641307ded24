"""The site's files from its papers: pure, Jinja2 templates from the package or a route's
folder. Output depends only on the papers (never on the clock), so rebuilding changes nothing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from itertools import groupby
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from bot.models import Reason, Route, SiteTarget
from bot.site import fast
from bot.site.fast import rfc3339

FEED_SIZE = 100  # entries in feed.xml: the papers accepted last
STATIC = ("site.js", "site.css")  # copied as they are (from the templates folder)
SCHEMA = "paperbot-site/1"  # papers.json's "schema"; docs/site.md says what it promises


@dataclass(frozen=True, slots=True)
class SitePaper:
    """One accepted paper as the site shows it."""

    id: str
    title: str
    accepted_at: datetime
    seq: int  # acceptance order on the route
    date: date | None = None  # the list section it stands under
    section: str | None = None  # that section's heading when it is not one date
    authors: tuple[str, ...] = ()
    abstract: str = ""
    categories: tuple[str, ...] = ()
    published: datetime | None = None
    decided_by: str = ""
    tags: tuple[str, ...] = ()
    tldr: str | None = None
    reasons: tuple[Reason, ...] = ()
    ups: int = 0
    downs: int = 0

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.id}"


def site_settings(route: Route) -> SiteTarget:
    """The route's `[routes.site]`, or the defaults (titled by the route) when it has none."""
    return route.site if route.site is not None else SiteTarget(title=route.name)


@dataclass(frozen=True, slots=True)
class Day:
    """One section of the page: its heading, its papers and their HTML."""

    label: str
    papers: list[SitePaper]
    html: Markup


def render_site(papers: Sequence[SitePaper], route: Route, now: datetime) -> dict[str, bytes]:
    """Relative path -> bytes of every file of the site. `now` dates only an empty feed."""
    site = site_settings(route)
    env = _environment(site.templates)
    listed = sorted(papers, key=lambda p: p.seq)
    listed.sort(key=lambda p: p.date or date.min, reverse=True)  # stable: seq within a day
    latest = sorted(papers, key=lambda p: (p.accepted_at, p.date or date.min, p.seq), reverse=True)
    updated = latest[0].accepted_at if latest else now
    tags: dict[str, int] = {}
    for kind, n in Counter(p.tags for p in listed).items():
        for tag in {t.casefold() for t in kind}:
            tags[tag] = tags.get(tag, 0) + n
    common = fast.shared(listed)
    if site.templates is not None and (site.templates / "paper.html").is_file():
        one = env.get_template("paper.html")
        html = [one.render(p=p) for p in listed]
    else:
        html = fast.paper_html(listed, common)
    days, start = [], 0
    for (day, section), group in groupby(listed, key=lambda p: (p.date, p.section)):
        members = list(group)
        label = section or (day.isoformat() if day else "Undated")
        chunk = "".join(html[start : start + len(members)])
        days.append(Day(label, members, Markup(chunk)))  # noqa: S704 (escaped in paper_html)
        start += len(members)
    del html  # its memory serves the files that follow
    title = site.title or route.name
    context: dict[str, Any] = {
        "route": route.name,
        "title": title,
        "url": site.url.rstrip("/") + "/" if site.url else None,
        "feed_id": (site.url.rstrip("/") + "/feed.xml")
        if site.url
        else uuid.uuid5(uuid.NAMESPACE_URL, f"paperbot:site:{route.name}").urn,
        "updated": updated,
        "count": len(listed),
        "days": days,
        "tags": sorted(tags.items()),
        "first_day": next((p.date for p in reversed(listed) if p.date), None),
        "last_day": next((p.date for p in listed if p.date), None),
        "feed": latest[:FEED_SIZE],
    }
    head = {
        "schema": SCHEMA,
        "route": route.name,
        "title": title,
        "updated": rfc3339(updated),
        "count": len(listed),
    }
    files = {
        "index.html": env.get_template("index.html").render(context).encode(),
        "feed.xml": env.get_template("feed.xml").render(context).encode(),
        "papers.bib": fast.bibtex(listed, common).encode(),
        "papers.json": fast.papers_json(head, listed, common),
    }
    for name in STATIC:
        assert env.loader is not None
        source, _, _ = env.loader.get_source(env, name)
        files[name] = source.encode()
    return files


@lru_cache(maxsize=8)
def _environment(templates: Path | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("bot.site", "templates")]
    if templates is not None:
        loaders.insert(0, jinja2.FileSystemLoader(templates))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["rfc3339"] = rfc3339
    env.filters["tagattr"] = fast.tag_attr
    return env
