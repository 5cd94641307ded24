"""The site's papers from the store: a route's accepted decisions with their papers, reasons,
votes, tags and TL;DR; the list text, when given, supplies section dates (and tags and TL;DR
the store does not have)."""

from __future__ import annotations

import re
from datetime import date

from bot import paperlist
from bot.models import Route
from bot.site.render import SitePaper
from storage.store import Store

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def site_papers(store: Store, route: Route, list_text: str | None = None) -> list[SitePaper]:
    """Every paper accepted on the route, in acceptance order."""
    accepted = store.decisions(route.name, "accepted")
    stored = {p.paper.id: p for p in store.get_papers([d.paper_id for d in accepted])}
    reasons = store.site_reasons(route.name)
    votes = store.site_votes(route.name)
    notes = store.notes(route.name)  # tags and TL;DR kept by paperbot; else the list's own
    listed = _listed(list_text) if list_text is not None else {}
    papers = []
    for decision in accepted:
        found = stored.get(decision.paper_id)
        if found is None:
            continue
        paper, (entry, day, section) = (
            found.paper,
            listed.get(decision.paper_id, (None, None, None)),
        )
        if entry is None:
            day = found.listing_date or decision.decided_at.date()
        primary = (paper.primary_category,) if paper.primary_category else ()
        ups, downs = votes.get(paper.id, (0, 0))
        note = notes.get(paper.id)
        papers.append(
            SitePaper(
                id=paper.id,
                title=paper.title,
                accepted_at=decision.decided_at,
                seq=decision.seq,
                date=day,
                section=section,
                authors=paper.authors,
                abstract=paper.abstract,
                categories=primary + tuple(c for c in paper.categories if c not in primary),
                published=paper.published,
                decided_by=decision.decided_by,
                tags=note.tags if note and note.tags else entry.tags if entry else (),
                tldr=note.tldr if note and note.tldr else entry.tldr if entry else None,
                reasons=reasons.get(paper.id, ()),
                ups=ups,
                downs=downs,
            )
        )
    return papers


def _listed(text: str) -> dict[str, tuple[paperlist.Entry, date | None, str | None]]:
    """id -> (its first entry, its date, the heading of an undated section such as
    "2025-10-01 ~ 2025-10-07", dated by the newest date in it)."""
    parsed = paperlist.parse(text)
    found: dict[str, tuple[paperlist.Entry, date | None, str | None]] = {}
    for entry in parsed.entries:  # header entries: undated
        found.setdefault(entry.id, (entry, entry.date, None))
    for section in parsed.sections:
        if section.date is not None:
            continue
        days = [date.fromisoformat(d) for d in _DAY.findall(section.heading) if _valid(d)]
        label = section.heading.strip().lstrip("#").strip() or None
        for entry in section.entries:
            if found[entry.id][0] is entry:
                found[entry.id] = (entry, max(days) if days else None, label)
    return found


def _valid(day: str) -> bool:
    try:
        date.fromisoformat(day)
    except ValueError:
        return False
    return True
