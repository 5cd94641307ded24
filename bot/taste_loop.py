"""The learnt taste in the team loop: each post's fit, suggestions after a poll, retraining.

SQLite is read on the event loop's thread; models load and train in worker threads, and
scikit-learn is imported only once a route has a model file, so start-up stays quick."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bot.clock import Clock
from bot.display import fit_line
from bot.models import MODEL_FIELD, SUGGESTED, Match, Reason, Route, StoredPaper
from storage import taste as sql
from storage.store import Store

if TYPE_CHECKING:  # scikit-learn: loaded on first use
    from bot.taste import Record, TasteModel
    from bot.taste_store import Suggestion, TasteStore

log = logging.getLogger(__name__)

SUGGEST_DAYS = 3  # suggestions come from the last listing days only
DAYS_CACHED = 32  # (route, listing day) score tables kept for posts and digests


class Taste:
    """Each route's saved model, as the chats, the poll and the scheduler use it."""

    def __init__(
        self, *, store: Store, routes: Callable[[], Sequence[Route]], clock: Clock
    ) -> None:
        self.store = store
        self.routes = routes
        self.clock = clock
        self.db_path = None if store.path == ":memory:" else Path(store.path)
        self._tastes: TasteStore | None = None
        self._days: dict[tuple[str, date], tuple[TasteModel, dict[str, float]]] = {}
        self._lock = asyncio.Lock()  # one training round at a time
        self._seen: dict[str, str] = {}  # route -> decisions fingerprint at its last look

    def route(self, name: str) -> Route | None:
        return next((r for r in self.routes() if r.name == name), None)

    def tastes(self) -> TasteStore:
        if self._tastes is None:
            from bot.taste_store import TasteStore

            assert self.db_path is not None
            self._tastes = TasteStore(self.db_path)
        return self._tastes

    def _has_file(self, route: str) -> bool:
        return self.db_path is not None and sql.model_file(self.db_path, route, "joblib").exists()

    def model(self, route: str) -> TasteModel | None:
        """The route's saved model; None while it is silent (cold start, no file yet)."""
        return self.tastes().saved(route) if self._has_file(route) else None

    async def load(self, routes: Iterable[str] | None = None) -> None:
        """Load the routes' models in a worker thread (the first load imports scikit-learn)."""
        names = [n for n in (routes or [r.name for r in self.routes()]) if self._has_file(n)]
        if names:
            await asyncio.to_thread(lambda: [self.tastes().saved(n) for n in names])

    # --- a post's fit ---------------------------------------------------------------------

    def scores(self, route: Route, day: date) -> dict[str, float]:
        """The route's listing of `day`, scored (cached until the model changes)."""
        model = self.model(route.name)
        if model is None:
            return {}
        cached = self._days.get((route.name, day))
        if cached is not None and cached[0] is model:
            return cached[1]
        from bot.taste_store import day_scores

        scores = day_scores(self.store, route, model, day)
        self._days[(route.name, day)] = (model, scores)
        while len(self._days) > DAYS_CACHED:
            self._days.pop(next(iter(self._days)))
        return scores

    def fit(self, stored: StoredPaper, routes: Sequence[str]) -> tuple[float, int, int] | None:
        """(score, rank, day's total) of a paper on the first of its routes with a model."""
        day = stored.listing_date
        if day is None:
            return None
        for name in routes:
            route = self.route(name)
            scores = self.scores(route, day) if route is not None else {}
            if stored.paper.id in scores:
                from bot.taste_store import rank_in

                score = scores[stored.paper.id]
                return (score, *rank_in(scores, stored.paper.id, score))
        return None

    def score_of(self, paper_id: str, routes: Sequence[str]) -> float | None:
        stored = self.store.get_paper(paper_id)
        found = self.fit(stored, routes) if stored is not None else None
        return found[0] if found is not None else None

    # --- suggestions ----------------------------------------------------------------------

    async def suggest(self) -> int:
        """After a poll: papers no rule matched scoring at least the route's `suggest_at`, at
        most `max_suggestions_per_day` a listing day, queued to be posted as suggestions."""
        routes = [r for r in self.routes() if r.model.suggest_at is not None]
        await self.load(r.name for r in routes)
        added = 0
        for route in routes:
            model = self.model(route.name)
            if model is None:
                continue
            from bot.taste import pick_suggestions
            from bot.taste_store import unmatched_recent, why_words

            by_day: dict[date, list[Record]] = {}
            for record in unmatched_recent(self.store, route, SUGGEST_DAYS):
                if record.day is not None:
                    by_day.setdefault(record.day, []).append(record)
            for day, records in sorted(by_day.items()):
                scores = await asyncio.to_thread(model.score, records)
                already = sql.suggested_on(self.store, route.name, day)
                picked = pick_suggestions(records, scores, route.model, already)
                matches = [
                    Match(r.id, route.name, (suggested_reason(why_words(model, r)),))
                    for r in records
                    if r.id in picked
                ]
                fresh = self.store.add_matches(matches, SUGGESTED)
                added += len(fresh)
                for m in fresh:
                    log.info("%s: %s suggested by the model", route.name, m.paper_id)
        return added

    def best(self, route: Route, count: int, days: int = SUGGEST_DAYS) -> list[Suggestion] | None:
        """`/papers suggest`: the best unmatched papers of recent listings; None: silent."""
        model = self.model(route.name)
        if model is None:
            return None
        from bot.taste_store import best_unmatched, unmatched_recent

        return best_unmatched(model, unmatched_recent(self.store, route, days), count)

    def why(self, stored: StoredPaper, routes: Sequence[str]) -> list[str]:
        """`/papers why`: the paper's score on each route with a model, and its top tokens."""
        from bot.taste_store import fit_of

        lines = []
        for name in routes:
            route, model = self.route(name), self.model(name)
            if route is None or model is None:
                continue
            fit = fit_of(self.store, route, model, stored, top=5)
            parts = ", ".join(f"{w} {c:+.2f}" for w, c in fit.parts)
            lines.append(f"Taste of {name}: {fit_line(fit.score, fit.rank, fit.of)}; by: {parts}")
        return lines

    # --- retraining -------------------------------------------------------------------------

    async def retrain(self, *, force: bool = False) -> list[str]:
        """Retrain the routes whose decisions changed since their model (`force`: every ready
        route, for the nightly run: new listings and passing days move the weights too)."""
        if self.db_path is None:
            return []
        async with self._lock:
            current = self.routes()
            now = {r.name: sql.decisions_fingerprint(self.store, r.name) for r in current}
            routes = [r for r in current if force or self._seen.get(r.name) != now[r.name]]
            if not routes:
                return []
            from bot.taste_store import retrain_stale

            tastes = await asyncio.to_thread(self.tastes)  # the import, off the event loop
            when = self.clock().isoformat()
            done = await retrain_stale(self.store, tastes, routes, when, force=force)
            for name in done:
                log.info("%s: taste model retrained", name)
            self._seen.update({r.name: now[r.name] for r in routes})
            return done


def suggested_reason(words: Sequence[str]) -> Reason:
    """A suggestion's reason: no rule matched; the words that drove its score."""
    return Reason(SUGGESTED, MODEL_FIELD, ", ".join(words))
