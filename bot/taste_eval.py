"""An honest replay of a route's history: each day is scored by a model trained only on
labels dated before it, then compared with the rules and with what the team accepted."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bot.models import ModelPolicy, Paper, Route
from bot.paperlist import ids_in
from bot.taste import (
    Label,
    Record,
    TasteModel,
    TasteParams,
    average_precision,
    daily_ranks,
    examples_from,
    pick_suggestions,
    train,
)
from bot.taste_store import rule_terms

# A plain TF-IDF + logistic regression: words only, every label alike, default strength.
BASELINE = TasteParams(
    weak_weight=1.0,
    c=1.0,
    half_life_days=0.0,
    use_title=False,
    use_rules=False,
    use_categories=False,
    use_authors=False,
    ngram_max=1,
    stop_words=False,
)


@dataclass(frozen=True, slots=True)
class Scored:
    record: Record
    accepted: bool
    score: float
    rank: int
    suggested: bool

    def as_dict(self) -> dict[str, Any]:
        r = self.record
        return {
            "id": r.id,
            "date": r.day.isoformat() if r.day else None,
            "score": round(self.score, 5),
            "rank": self.rank,
            "matched": r.matched,
            "suggested": self.suggested,
            "accepted": self.accepted,
        }


def read_pool(path: Path, route: Route) -> list[Record]:
    """The pool file (one JSON paper a line: id, title, abstract, categories, date)."""
    raw = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                raw.append(json.loads(line))
    papers = [
        Paper(
            id=p["id"],
            title=p["title"],
            abstract=p.get("abstract", ""),
            categories=tuple(p.get("categories", ())),
            primary_category=(p.get("categories") or [""])[0],
            authors=tuple(p.get("authors", ())),
        )
        for p in raw
    ]
    hits = rule_terms(route, papers)
    wanted = set(route.categories)
    return [
        Record(
            id=paper.id,
            title=paper.title,
            abstract=paper.abstract,
            categories=paper.categories,
            authors=paper.authors,
            day=date.fromisoformat(p["date"][:10]),
            rule_terms=hits.get(paper.id, ()),
        )
        for paper, p in zip(papers, raw, strict=True)
        if wanted.intersection(paper.categories)
    ]


def read_accepted(path: Path) -> set[str]:
    return set(ids_in(path.read_text(encoding="utf-8")))


def replay(
    records: Sequence[Record],
    accepted: set[str],
    start: date,
    end: date,
    *,
    params: TasteParams,
    policy: ModelPolicy,
    retrain_days: int = 7,
    train_from: date | None = None,
) -> Iterator[Scored]:
    """Walk the days from `start` to `end` in order; a day's model only knows earlier labels.

    Every pool paper on the list is an acceptance dated on its listing day; the rest of a day
    with an acceptance are weak negatives (the list records no rejections)."""
    labels = [Label(r.id, True, r.day) for r in records if r.id in accepted]
    train_pool = [r for r in records if train_from is None or (r.day and r.day >= train_from)]
    days = sorted({r.day for r in records if r.day is not None and start <= r.day <= end})
    row = {r.id: i for i, r in enumerate(records)}
    counts = TasteModel("replay", params).counts(records)  # stateless: computed once
    model: TasteModel | None = None
    trained: date | None = None
    for day in days:
        if model is None or trained is None or (day - trained).days >= retrain_days:
            examples = examples_from(train_pool, labels, weak_weight=params.weak_weight, before=day)
            if {e.label for e in examples} == {0, 1}:
                rows = counts[[row[e.record.id] for e in examples]]
                model, _ = train("replay", examples, params, today=day, counts=rows)
                trained = day
        todays = [r for r in records if r.day == day]
        if model is not None:
            scores = model.score(todays, counts[[row[r.id] for r in todays]])
        else:
            scores = [0.0] * len(todays)
        ranks = daily_ranks([day] * len(todays), scores)
        picked = pick_suggestions(todays, scores, policy) if model is not None else set()
        for r, s, rank in zip(todays, scores, ranks, strict=True):
            yield Scored(r, r.id in accepted, s, rank, r.id in picked)


@dataclass(frozen=True, slots=True)
class Summary:
    days: int
    skipped_days: int  # days with no acceptance at all (the list's outages): not measured
    candidates: int
    accepted: int
    average_precision: float
    volume: int  # how many the rules matched: the model is taken at the same daily volume
    precision: float
    recall: float
    rules_precision: float
    rules_recall: float
    suggested: int
    suggested_accepted: int
    posted_precision: float  # what the bot posts: the rules' matches plus the suggestions
    posted_recall: float

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def summarise(scored: Sequence[Scored]) -> Summary:
    by_day: dict[date | None, list[Scored]] = {}
    for s in scored:
        by_day.setdefault(s.record.day, []).append(s)
    kept = [day for day, items in by_day.items() if any(s.accepted for s in items)]
    measured = [s for day in kept for s in by_day[day]]
    positives = sum(s.accepted for s in measured)
    volume = {day: sum(s.record.matched for s in by_day[day]) for day in kept}
    picked = [s for s in measured if s.rank <= volume[s.record.day]]
    hits = sum(s.accepted for s in picked)
    rules = [s for s in measured if s.record.matched]
    rule_hits = sum(s.accepted for s in rules)
    suggested = [s for s in measured if s.suggested]
    taken = sum(s.accepted for s in suggested)
    return Summary(
        days=len(kept),
        skipped_days=len(by_day) - len(kept),
        candidates=len(measured),
        accepted=positives,
        average_precision=round(
            average_precision([s.score for s in measured], [int(s.accepted) for s in measured]),
            4,
        ),
        volume=len(picked),
        precision=_ratio(hits, len(picked)),
        recall=_ratio(hits, positives),
        rules_precision=_ratio(rule_hits, len(rules)),
        rules_recall=_ratio(rule_hits, positives),
        suggested=len(suggested),
        suggested_accepted=sum(s.accepted for s in suggested),
        posted_precision=_ratio(rule_hits + taken, len(rules) + len(suggested)),
        posted_recall=_ratio(rule_hits + taken, positives),
    )


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def run_eval(
    records: Sequence[Record],
    accepted: set[str],
    start: date,
    end: date,
    *,
    params: TasteParams,
    policy: ModelPolicy,
    retrain_days: int = 7,
    train_from: date | None = None,
    on_line: Callable[[Scored], None] | None = None,
) -> Summary:
    scored = []
    for item in replay(
        records,
        accepted,
        start,
        end,
        params=params,
        policy=policy,
        retrain_days=retrain_days,
        train_from=train_from,
    ):
        scored.append(item)
        if on_line is not None:
            on_line(item)
    return summarise(scored)


def one_day(value: date) -> date:
    return value + timedelta(days=1)
