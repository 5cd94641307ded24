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
        return self.db_path.with_name(f"{self.db_path.name}.model.{route}.joblib")

    def report_path(self, route: str) -> Path:
        return self.db_path.with_name(f"{self.db_path.name}.model.{route}.json")

    # --- training (CPU: safe to run in a worker thread; it touches no SQLite) -----------------

    def train(self, snap: Snapshot, trained_at: str = "") -> TrainReport | None:
        """Fit and save the route's model; None (and no file) while it is in its cold start."""
        if not self.ready(snap):
            self._forget(snap.route.name)
            return None
        examples = examples_from(snap.records, snap.labels, weak_weight=self.params.weak_weight)
        model, report = train(snap.route.name, examples, self.params, trained_at=trained_at)
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
    store: Store, tastes: TasteStore, routes: Sequence[Route], trained_at: str = ""
) -> list[str]:
    """Retrain each route whose decisions changed since its model, in a worker thread (the
    event loop keeps serving votes); returns the routes retrained. For after a batch of
    decisions and the nightly job."""
    done: list[str] = []
    for route in routes:
        snap = snapshot(store, route)  # SQLite: read on the caller's thread
        if tastes.ready(snap) and tastes.stale(snap):
            await asyncio.to_thread(tastes.train, snap, trained_at)
            done.append(route.name)
    return done
