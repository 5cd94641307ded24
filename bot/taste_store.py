"""A route's taste model on disk beside the database: `<db>.model.<route>.joblib` + `.json`.

Reads decisions and papers through `storage/taste.py`; a missing, corrupt or stale model is
rebuilt, never a crash. Below `min_decisions` the model stays silent (cold start)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import joblib

from bot.matching import Matcher
from bot.models import Outcome, Paper, Route, StoredPaper
from bot.taste import (
    MODEL_VERSION,
    Label,
    Record,
    TasteModel,
    TasteParams,
    TrainReport,
    examples_from,
    train,
)
from storage import taste as sql
from storage.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A route's labels and listed papers, read in the caller's thread (SQLite's rule)."""

    route: Route
    records: tuple[Record, ...]
    labels: tuple[Label, ...]
    fingerprint: str  # changes whenever a decision does

    @property
    def decisions(self) -> int:
        return len(self.labels)


def to_record(stored: StoredPaper, rule_terms: Sequence[str] = ()) -> Record:
    p = stored.paper
    cats = p.categories
    if p.primary_category and (not cats or cats[0] != p.primary_category):
        cats = (p.primary_category, *[c for c in cats if c != p.primary_category])
    return Record(
        id=p.id,
        title=p.title,
        abstract=p.abstract,
        categories=cats,
        authors=p.authors,
        day=stored.listing_date,
        rule_terms=tuple(rule_terms),
    )


def rule_terms(route: Route, papers: Sequence[Paper]) -> dict[str, tuple[str, ...]]:
    """The route's accept terms each paper matches now (absent: the rules keep it out)."""
    matcher = Matcher([route])
    return {
        m.paper_id: tuple(sorted({r.term for r in m.reasons})) for m in matcher.match_many(papers)
    }


def records_for(route: Route, stored: Sequence[StoredPaper]) -> list[Record]:
    hits = rule_terms(route, [s.paper for s in stored])
    return [to_record(s, hits.get(s.paper.id, ())) for s in stored]


def snapshot(store: Store, route: Route) -> Snapshot:
    """Everything training needs, read now: decisions in force and the route's listings."""
    decisions = [
        d
        for d in sql.route_decisions(store, route.name)
        if d.status in (Outcome.ACCEPTED, Outcome.REJECTED)
    ]
    listed = sql.listed_papers(store, route.categories)
    known = {s.paper.id for s in listed}
    extra = store.get_papers([d.paper_id for d in decisions if d.paper_id not in known])
    records = records_for(route, [*listed, *extra])
    labels = tuple(Label(d.paper_id, d.status == Outcome.ACCEPTED) for d in decisions)
    last = max((d.seq for d in decisions), default=0)
    return Snapshot(route, tuple(records), labels, f"{len(labels)}:{last}")


class TasteStore:
    """Trains, keeps and loads each route's model beside the database file."""

    def __init__(self, db_path: Path | str, params: TasteParams | None = None) -> None:
        self.db_path = Path(db_path)
        self.params = params or TasteParams()
        self._cache: dict[str, tuple[str, TasteModel, dict[str, Any]]] = {}

    def model_path(self, route: str) -> Path:
        return sql.model_file(self.db_path, route, "joblib")

    def report_path(self, route: str) -> Path:
        return sql.model_file(self.db_path, route, "json")

    # --- training (CPU: safe to run in a worker thread; it touches no SQLite) -----------------

    def train(self, snap: Snapshot, trained_at: str = "") -> TrainReport | None:
        """Fit and save the route's model; None (and no file) while it is in its cold start."""
        if not self.ready(snap):
            self._forget(snap.route.name)
            return None
        examples = examples_from(snap.records, snap.labels, weak_weight=self.params.weak_weight)
        latest = max((r.day for r in snap.records if r.day is not None), default=None)
        model, report = train(
            snap.route.name, examples, self.params, today=latest, trained_at=trained_at
        )
        meta = {**report.as_dict(), "fingerprint": snap.fingerprint}
        _atomic_write(
            self.model_path(snap.route.name),
            lambda f: joblib.dump({"version": MODEL_VERSION, "model": model, "meta": meta}, f),
        )
        text = json.dumps(meta, indent=2) + "\n"
        _atomic_write(self.report_path(snap.route.name), lambda f: f.write(text.encode()))
        self._cache[snap.route.name] = (snap.fingerprint, model, meta)
        return report

    def ready(self, snap: Snapshot) -> bool:
        """Enough decisions, both ways, for the model to speak."""
        accepted = sum(1 for lab in snap.labels if lab.accepted)
        enough = snap.decisions >= snap.route.model.min_decisions
        negatives = len(snap.records) > accepted  # rejections or weak negatives exist
        return enough and accepted > 0 and negatives

    def _forget(self, route: str) -> None:
        self._cache.pop(route, None)
        for path in (self.model_path(route), self.report_path(route)):
            path.unlink(missing_ok=True)

    # --- loading --------------------------------------------------------------------------------

    def stale(self, snap: Snapshot) -> bool:
        """True when the saved model does not reflect the current decisions (or is unreadable)."""
        loaded = self._load(snap.route.name)
        return loaded is None or loaded[0] != snap.fingerprint

    def model(self, snap: Snapshot, *, rebuild: bool = True) -> TasteModel | None:
        """The route's model; a missing or corrupt file is rebuilt; None in the cold start."""
        if not self.ready(snap):
            return None
        loaded = self._load(snap.route.name)
        if loaded is not None:
            return loaded[1]
        if not rebuild:
            return None
        self.train(snap)
        loaded = self._load(snap.route.name)
        return loaded[1] if loaded is not None else None

    def saved(self, route: str) -> TasteModel | None:
        """The route's saved model as it stands (no rebuild): for the team loop, whose retrain
        job keeps it current. A model is saved only once its route was ready."""
        loaded = self._load(route)
        return loaded[1] if loaded is not None else None

    def report(self, route: str) -> dict[str, Any] | None:
        loaded = self._load(route)
        return loaded[2] if loaded is not None else None

    def _load(self, route: str) -> tuple[str, TasteModel, dict[str, Any]] | None:
        if route in self._cache:
            return self._cache[route]
        path = self.model_path(route)
        if not path.exists():
            return None
        try:
            data = joblib.load(path)
            model, meta = data["model"], data["meta"]
            if data.get("version") != MODEL_VERSION or not isinstance(model, TasteModel):
                raise ValueError("an older or foreign model")
        except Exception as exc:  # any damage means: rebuild
            log.warning("%s: unreadable model (%s); it will be rebuilt", path, exc)
            return None
        self._cache[route] = (str(meta.get("fingerprint", "")), model, meta)
        return self._cache[route]


def _atomic_write(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def retrain_stale(
    store: Store,
    tastes: TasteStore,
    routes: Sequence[Route],
    trained_at: str = "",
    *,
    force: bool = False,
) -> list[str]:
    """Retrain each route whose decisions changed since its model (`force`: every ready
    route), in a worker thread (the event loop keeps serving votes); returns the routes
    retrained. For after a batch of decisions and the nightly job."""
    done: list[str] = []
    for route in routes:
        snap = snapshot(store, route)  # SQLite: read on the caller's thread
        if tastes.ready(snap) and (force or tastes.stale(snap)):
            await asyncio.to_thread(tastes.train, snap, trained_at)
            done.append(route.name)
    return done


# --- what `model suggest|why` and the chat's `/papers suggest|why` show (one implementation) ---


@dataclass(frozen=True, slots=True)
class Suggestion:
    record: Record
    score: float
    words: tuple[str, ...]  # what pushed its score up most

    @property
    def why(self) -> str:
        return ", ".join(self.words)


@dataclass(frozen=True, slots=True)
class Fit:
    """A paper's score on a route, its rank among its listing day's papers, and why."""

    score: float
    rank: int
    of: int
    parts: tuple[tuple[str, float], ...] = ()  # (token, contribution), strongest first


def why_words(model: TasteModel, record: Record, top: int = 3) -> tuple[str, ...]:
    """The readable tokens that raised the score most (rule hits left out: none matched)."""
    words: list[str] = []
    for token, contribution in model.explain(record, top=top + 4):
        if contribution <= 0 or token.startswith(("rules:", "rule:")):
            continue
        words.append(token.split(":", 1)[1] if ":" in token else token)
    return tuple(dict.fromkeys(words))[:top]


def unmatched_recent(store: Store, route: Route, days: int) -> list[Record]:
    """The route's papers of the last `days` listing days that no rule matches, that were
    never decided and never matched (posted, suggested) on it."""
    recent = sql.latest_listing_days(store, days)
    if not recent:
        return []
    papers = sql.listed_papers(store, route.categories, since=min(recent))
    if route.primary_only:
        papers = [s for s in papers if s.paper.primary_category in route.categories]
    decided = {d.paper_id for d in sql.route_decisions(store, route.name)}
    taken = sql.matched_ids(store, route.name, [s.paper.id for s in papers])
    return [
        r
        for r in records_for(route, papers)
        if not r.matched and r.id not in decided and r.id not in taken
    ]


def best_unmatched(model: TasteModel, records: Sequence[Record], count: int) -> list[Suggestion]:
    """The `count` best of these records, best first, each with the words behind its score."""
    scores = model.score(records)
    best = sorted(zip(scores, records, strict=True), key=lambda x: (-x[0], x[1].id))[:count]
    return [Suggestion(rec, score, why_words(model, rec)) for score, rec in best]


def day_scores(store: Store, route: Route, model: TasteModel, day: date) -> dict[str, float]:
    """Every candidate paper of the route's listing `day`, scored."""
    records = records_for(route, sql.listed_papers(store, route.categories, since=day, until=day))
    return dict(zip((r.id for r in records), model.score(records), strict=True))


def rank_in(scores: dict[str, float], paper_id: str, score: float) -> tuple[int, int]:
    """(1-based rank, day's total) of a paper scoring `score` among the day's `scores`."""
    others = [s for pid, s in scores.items() if pid != paper_id]
    return 1 + sum(1 for s in others if s > score), len(others) + 1


def fit_of(store: Store, route: Route, model: TasteModel, stored: StoredPaper, top: int = 8) -> Fit:
    """A paper's score, its rank on its listing day, and the tokens that drove the score."""
    record = records_for(route, [stored])[0]
    score = model.score([record])[0]
    day = stored.listing_date
    rank, of = rank_in(day_scores(store, route, model, day), record.id, score) if day else (1, 1)
    return Fit(score, rank, of, tuple(model.explain(record, top=top)))
