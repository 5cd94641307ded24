"""Topic tags without any service: a tag's terms assign it; a term-less tag is assigned by a
model learnt from the route's human-tagged papers (TF-IDF, one-vs-rest logistic regression).

At most three tags, each above a confidence threshold; retrained when the tagged set changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Iterable, Sequence

from bot.matching import Matcher
from bot.models import Paper, Route, TagSpec
from storage.store import Store

log = logging.getLogger(__name__)

MAX_TAGS = 3  # the team's list gives a paper at most three tags
THRESHOLD = 0.3  # a learnt tag's confidence must reach this (chosen on bench/tagger_eval.py's
# validation months, never its test months)
MIN_EXAMPLES = 3  # a tag needs this many tagged papers (and one without it) to be learnt
_ANY = "tags"  # the pseudo-category every tag "route" and every tagged paper shares


def canonical(vocabulary: Iterable[TagSpec], tag: str) -> str | None:
    """The vocabulary's spelling of `tag` (case-insensitive); None when it is not in it.

    An exact match wins, so `agent` and `Agent` could both be tags.
    """
    specs = list(vocabulary)
    for spec in specs:
        if spec.name == tag:
            return spec.name
    folded = tag.casefold()
    return next((s.name for s in specs if s.name.casefold() == folded), None)


def clean_tags(vocabulary: Sequence[TagSpec], tags: Iterable[str]) -> tuple[str, ...]:
    """Vocabulary tags only, in its spelling, each once, at most MAX_TAGS."""
    found = (canonical(vocabulary, t) for t in tags if isinstance(t, str))
    return tuple(dict.fromkeys(t for t in found if t))[:MAX_TAGS]


def paper_text(paper: Paper) -> str:
    """What the learnt tagger reads: the title, plus the abstract where known."""
    return f"{paper.title}\n{paper.abstract}" if paper.abstract else paper.title


class TermTagger:
    """Tags whose terms (accept-term syntax, docs/terms.md) match the title or abstract."""

    def __init__(self, vocabulary: Sequence[TagSpec]) -> None:
        self.names = tuple(spec.name for spec in vocabulary if spec.terms)
        routes = [
            Route(spec.name, (_ANY,), accept=spec.terms, fields=("title", "abstract"))
            for spec in vocabulary
            if spec.terms
        ]
        self._matcher = Matcher(routes) if routes else None

    def tags(self, paper: Paper) -> list[str]:
        if self._matcher is None:
            return []
        anywhere = dataclasses.replace(paper, categories=(_ANY,), primary_category=_ANY)
        return [m.route for m in self._matcher.match(anywhere)]


class LearntTagger:
    """One-vs-rest logistic regression on TF-IDF of the text, for the tags it has examples of."""

    def __init__(
        self,
        examples: Sequence[tuple[Paper, Sequence[str]]],
        tags: Sequence[str],
        *,
        threshold: float = THRESHOLD,
        min_examples: int = MIN_EXAMPLES,
    ) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.preprocessing import MultiLabelBinarizer

        self.threshold = threshold
        wanted = set(tags)
        labels = [[t for t in given if t in wanted] for _, given in examples]
        counts = {t: sum(t in row for row in labels) for t in wanted}
        self.tags = tuple(
            t for t in tags if min_examples <= counts[t] < len(examples)
        )  # a tag every paper has teaches nothing
        self._model: OneVsRestClassifier | None = None
        if not self.tags:
            return
        self._vectorizer = TfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, stop_words="english", min_df=2
        )
        features = self._vectorizer.fit_transform([paper_text(p) for p, _ in examples])
        self._binarizer = MultiLabelBinarizer(classes=list(self.tags))
        targets = self._binarizer.fit_transform(
            [[t for t in row if t in self.tags] for row in labels]
        )
        self._model = OneVsRestClassifier(
            LogisticRegression(C=10.0, class_weight="balanced", solver="liblinear")
        )
        self._model.fit(features, targets)

    def scores(self, papers: Sequence[Paper]) -> list[dict[str, float]]:
        """Each paper's confidence for every learnt tag."""
        if self._model is None:
            return [{} for _ in papers]
        probabilities = self._model.predict_proba(
            self._vectorizer.transform([paper_text(p) for p in papers])
        )
        return [
            {tag: float(row[i]) for i, tag in enumerate(self._binarizer.classes_)}
            for row in probabilities
        ]

    def predict(self, papers: Sequence[Paper], limit: int = MAX_TAGS) -> list[list[str]]:
        """At most `limit` tags a paper, most confident first, each at or above the threshold."""
        return [
            [t for t, s in sorted(row.items(), key=lambda kv: -kv[1]) if s >= self.threshold][
                :limit
            ]
            for row in self.scores(papers)
        ]


class Tagger:
    """Assigns a route's tags from its terms and its learnt model, kept per route."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._learnt: dict[str, tuple[str, tuple[TagSpec, ...], LearntTagger]] = {}
        self._lock = threading.RLock()

    def learnt(self, route: Route) -> LearntTagger:
        """The route's learnt tagger, retrained when its human-given tags have changed."""
        version = self.store.human_tags_version(route.name)
        with self._lock:
            cached = self._learnt.get(route.name)
            if cached and cached[0] == version and cached[1] == route.tags:
                return cached[2]
            examples = [
                (paper, clean_tags(route.tags, tags))
                for paper, tags in self.store.human_tagged(route.name)
            ]
            return self._train(route, version, examples)

    async def tags_async(self, route: Route, paper: Paper) -> tuple[str, ...]:
        """`tags`, with any retraining done in a worker thread (the store stays on this one)."""
        version = self.store.human_tags_version(route.name)
        cached = self._learnt.get(route.name)
        if route.tags and not (cached and cached[0] == version and cached[1] == route.tags):
            examples = [
                (p, clean_tags(route.tags, tags)) for p, tags in self.store.human_tagged(route.name)
            ]
            await asyncio.to_thread(self._train, route, version, examples)
        return self.tags(route, paper)

    def _train(
        self, route: Route, version: str, examples: list[tuple[Paper, tuple[str, ...]]]
    ) -> LearntTagger:
        with self._lock:
            tagless = [spec.name for spec in route.tags if not spec.terms]
            model = LearntTagger([e for e in examples if e[1]], tagless)
            log.info(
                "tagger for %s trained on %d tagged papers: learnt %s",
                route.name,
                len(examples),
                ", ".join(model.tags) or "no tag",
            )
            self._learnt[route.name] = (version, route.tags, model)
            return model

    def tags(self, route: Route, paper: Paper) -> tuple[str, ...]:
        """The paper's tags on the route: term tags first, then learnt ones, at most three."""
        if not route.tags:
            return ()
        found = TermTagger(route.tags).tags(paper)
        if len(found) < MAX_TAGS and any(not spec.terms for spec in route.tags):
            found += self.learnt(route).predict([paper])[0]
        return clean_tags(route.tags, found)
