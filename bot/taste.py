"""A route's taste, learnt from its decisions: features, training, scores, and why.

Pure: plain records in, a fitted model and numbers out; no SQL, no chat, no files
(`taste_store.py` keeps models beside the database)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import (
    ENGLISH_STOP_WORDS,
    HashingVectorizer,
    TfidfTransformer,
)
from sklearn.linear_model import LogisticRegression

from bot.display import fit_line

MODEL_VERSION = 1


@dataclass(frozen=True, slots=True)
class Record:
    """A paper as the model sees it: its text, where it was listed, what the rules said."""

    id: str
    title: str
    abstract: str = ""
    categories: tuple[str, ...] = ()  # primary first
    authors: tuple[str, ...] = ()
    day: date | None = None  # the listing day
    rule_terms: tuple[str, ...] = ()  # the route's accept terms that matched; () = not matched

    @property
    def matched(self) -> bool:
        return bool(self.rule_terms)


@dataclass(frozen=True, slots=True)
class Example:
    """One training label: 1 accepted, 0 not; weight < 1 for a paper only left undecided."""

    record: Record
    label: int
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class TasteParams:
    """What the model is built from; defaults chosen by replaying 2025-10..12 (not reported)."""

    weak_weight: float = 0.5  # a listed paper nobody accepted, against an explicit rejection
    c: float = 4.0  # inverse regularisation of the logistic regression
    min_df: int = 2
    half_life_days: float = 60.0  # a label's weight halves every this many days; 0: never
    use_rules: bool = True
    use_categories: bool = True
    use_authors: bool = True
    use_title: bool = True
    ngram_max: int = 2
    stop_words: bool = True  # drop English stop words from the text block
    max_examples: int = 40_000  # beyond this, a seeded sample of the weak negatives (their
    # weights scaled up to stand for all of them) is fitted: memory; 0: never sample


@dataclass(frozen=True, slots=True)
class TrainReport:
    """What a training run saw and produced; stored as JSON beside the model."""

    route: str
    trained_at: str
    examples: int
    positives: int
    strong_negatives: int
    weak_negatives: int
    features: int
    seconds: float
    last_label_day: str | None
    version: int = MODEL_VERSION
    top_features: tuple[tuple[str, float], ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "trained_at": self.trained_at,
            "examples": self.examples,
            "positives": self.positives,
            "strong_negatives": self.strong_negatives,
            "weak_negatives": self.weak_negatives,
            "features": self.features,
            "seconds": round(self.seconds, 3),
            "last_label_day": self.last_label_day,
            "version": self.version,
            "top_features": [[name, round(w, 4)] for name, w in self.top_features],
        }


_WORD = re.compile(r"(?u)\b\w\w+\b")
N_FEATURES = 2**20


class Analyzer:
    """A record -> its tokens: words and phrases of title and abstract, the title's own words
    (``title:``), rule hits, categories and authors. Picklable."""

    def __init__(self, params: TasteParams) -> None:
        self.params = params
        self.stop = frozenset(ENGLISH_STOP_WORDS) if params.stop_words else frozenset()

    def _grams(self, text: str, prefix: str = "") -> list[str]:
        words = [w for w in _WORD.findall(text.lower()) if w not in self.stop]
        out = [prefix + w for w in words] if prefix else words
        for n in range(2, self.params.ngram_max + 1):
            out += [prefix + " ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
        return out

    def __call__(self, record: Record) -> list[str]:
        p = self.params
        tokens = self._grams(f"{record.title} . {record.abstract}")
        if p.use_title:
            tokens += self._grams(record.title, "title:")
        if p.use_rules:
            tokens.append("rules:matched" if record.rule_terms else "rules:none")
            tokens += [f"rule:{term}" for term in record.rule_terms]
        if p.use_categories and record.categories:
            tokens.append(f"primary:{record.categories[0]}")
            tokens += [f"cat:{c}" for c in record.categories[1:]]
        if p.use_authors:
            tokens += [f"author:{a.strip().lower()}" for a in record.authors if a.strip()]
        return tokens


def _logistic(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000, solver="liblinear", dual=True, random_state=0)


class TasteModel:
    """A fitted model: hashed TF-IDF tokens, logistic regression, Platt-calibrated scores."""

    def __init__(self, route: str, params: TasteParams) -> None:
        self.route = route
        self.params = params
        self.version = MODEL_VERSION
        self.analyzer = Analyzer(params)
        self.hasher = HashingVectorizer(
            analyzer=self.analyzer,
            n_features=N_FEATURES,
            alternate_sign=False,
            norm=None,
            dtype=np.float32,
        )
        self.tfidf = TfidfTransformer(sublinear_tf=True)
        self.clf = _logistic(params.c)
        self.platt = (1.0, 0.0)  # a * margin + b -> logit of the calibrated probability
        self.keep = np.zeros(N_FEATURES, dtype=bool)  # columns seen in min_df training papers

    def counts(self, records: Sequence[Record]) -> sparse.csr_matrix:
        """Hashed token counts: stateless, so a replay may compute them once and reuse them."""
        return self.hasher.transform(records).tocsr()

    def _matrix(
        self, records: Sequence[Record], *, fit: bool, counts: Any = None
    ) -> sparse.csr_matrix:
        """TF-IDF rows; `counts`, when given, is consumed (its rare columns are zeroed)."""
        counts = self.counts(records) if counts is None else counts
        if fit:
            seen = np.bincount(counts.indices, minlength=N_FEATURES)  # papers per column
            self.keep = seen >= self.params.min_df
        counts.data *= self.keep[counts.indices]
        counts.eliminate_zeros()
        if fit:
            self.tfidf.fit(counts)
        out: sparse.csr_matrix = self.tfidf.transform(counts, copy=False)
        return out

    # --- training and scoring ----------------------------------------------------------------

    def fit(
        self, examples: Sequence[Example], today: date | None = None, counts: Any = None
    ) -> None:
        records = [e.record for e in examples]
        y = np.array([e.label for e in examples], dtype=np.int8)
        w = np.array([e.weight for e in examples], dtype=np.float64)
        if self.params.half_life_days > 0 and today is not None:
            ages = np.array(
                [(today - r.day).days if r.day is not None else 0 for r in records], dtype=float
            )
            w = w * np.power(0.5, np.maximum(ages, 0) / self.params.half_life_days)
        x = self._matrix(records, fit=True, counts=counts).astype(np.float64)  # liblinear's
        self.clf.fit(x, y, sample_weight=w)
        self.platt = _platt(self._oof_margins(x, y, w), y)

    def _oof_margins(self, x: sparse.csr_matrix, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Out-of-fold margins (2 folds, interleaved), so the calibration is not overfitted."""
        margins = np.zeros(len(y))
        folds = np.arange(len(y)) % 2
        for k in range(2):
            train, test = folds != k, folds == k
            if len(set(y[train].tolist())) < 2:
                margins[test] = self.clf.decision_function(x[test])
                continue
            clf = _logistic(self.params.c).fit(x[train], y[train], sample_weight=w[train])
            margins[test] = clf.decision_function(x[test])
        return margins

    def margins(self, records: Sequence[Record], counts: Any = None) -> np.ndarray:
        if not records:
            return np.zeros(0)
        x = self._matrix(records, fit=False, counts=counts)
        return np.asarray(self.clf.decision_function(x))

    def score(self, records: Sequence[Record], counts: Any = None) -> list[float]:
        """Calibrated probability that the team accepts each record."""
        a, b = self.platt
        return [float(v) for v in _sigmoid(a * self.margins(records, counts) + b)]

    def _columns(self, records: Sequence[Record]) -> dict[str, int]:
        """Token -> its kept column, for the tokens of these records."""
        unique = list(dict.fromkeys(t for r in records for t in self.analyzer(r)))
        if not unique:
            return {}
        hashed = FeatureHasher(N_FEATURES, input_type="string", alternate_sign=False)
        cols = hashed.transform([[t] for t in unique]).tocsr().indices
        return {t: int(c) for t, c in zip(unique, cols, strict=True) if self.keep[c]}

    def explain(self, record: Record, top: int = 5) -> list[tuple[str, float]]:
        """The tokens that pushed this record's score most, strongest first (sign kept)."""
        row = self._matrix([record], fit=False).getrow(0)
        value = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        coef = self.clf.coef_[0]
        parts = [
            (token, float(value[col] * coef[col]))
            for token, col in self._columns([record]).items()
            if col in value
        ]
        parts.sort(key=lambda item: -abs(item[1]))
        return [(_readable(n), round(c, 3)) for n, c in parts[:top]]

    def top_features(self, records: Sequence[Record], top: int = 15) -> list[tuple[str, float]]:
        """The strongest positive tokens among those of `records` (hashing keeps no names)."""
        coef = self.clf.coef_[0]
        weights = {t: float(coef[c]) for t, c in self._columns(records).items()}
        return sorted(weights.items(), key=lambda item: -item[1])[:top]


def _readable(name: str) -> str:
    return name.removeprefix("title:")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))
    return out


def _platt(margins: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit p = sigmoid(a*m + b) on out-of-fold margins (unweighted: real base rates)."""
    if len(set(y.tolist())) < 2:
        return (1.0, 0.0)
    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(margins.reshape(-1, 1), y)
    return (float(lr.coef_[0][0]), float(lr.intercept_[0]))


def train(
    route: str,
    examples: Sequence[Example],
    params: TasteParams | None = None,
    *,
    today: date | None = None,
    trained_at: str = "",
    counts: Any = None,
) -> tuple[TasteModel, TrainReport]:
    """Fit a model on the examples; needs at least one positive and one negative."""
    labels = {e.label for e in examples}
    if labels != {0, 1}:
        raise ValueError("Training needs both accepted and not-accepted papers.")
    started = time.perf_counter()
    model = TasteModel(route, params or TasteParams())
    fitted, rows = sample_weak(examples, model.params.max_examples)
    model.fit(fitted, today=today, counts=counts[rows] if counts is not None else None)
    days = [e.record.day for e in examples if e.record.day is not None]
    report = TrainReport(
        route=route,
        trained_at=trained_at,
        examples=len(examples),
        positives=sum(e.label for e in examples),
        strong_negatives=sum(1 for e in examples if e.label == 0 and e.weight >= 1.0),
        weak_negatives=sum(1 for e in examples if e.label == 0 and e.weight < 1.0),
        features=int(model.keep.sum()),
        seconds=time.perf_counter() - started,
        last_label_day=max(days).isoformat() if days else None,
        top_features=tuple(model.top_features([e.record for e in examples if e.label == 1][-300:])),
    )
    return model, report


def sample_weak(examples: Sequence[Example], limit: int) -> tuple[list[Example], list[int]]:
    """At most `limit` examples (all the strong ones kept): a seeded sample of the weak
    negatives, each weighted up so their total weight is unchanged; and the rows kept."""
    weak = [i for i, e in enumerate(examples) if e.label == 0 and e.weight < 1.0]
    everything = (list(examples), list(range(len(examples))))
    if limit <= 0 or len(examples) <= limit or not weak:
        return everything
    room = max(limit - (len(examples) - len(weak)), limit // 4)  # strong over the limit: some
    if room >= len(weak):
        return everything
    chosen = set(np.random.default_rng(0).choice(len(weak), size=room, replace=False).tolist())
    keep = {weak[k] for k in chosen}
    scale = len(weak) / room
    rows = [i for i, e in enumerate(examples) if i in keep or not (e.label == 0 and e.weight < 1.0)]
    out = [
        replace(examples[i], weight=examples[i].weight * scale) if i in keep else examples[i]
        for i in rows
    ]
    return out, rows


# --- labels from decisions ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Label:
    """A decision as training sees it: accepted (True) or rejected (False), and its day."""

    paper_id: str
    accepted: bool
    day: date | None = None


def examples_from(
    records: Iterable[Record],
    labels: Iterable[Label],
    *,
    weak_weight: float,
    before: date | None = None,
) -> list[Example]:
    """Decided papers as strong examples; undecided ones as weak negatives, on days with an
    acceptance only (a day with none may be an outage). Only labels and papers dated before
    `before`, when given, are used."""
    by_id = {lab.paper_id: lab for lab in labels if before is None or _before(lab.day, before)}
    pool = [r for r in records if before is None or _before(r.day, before)]
    accept_days = {r.day for r in pool if (lab := by_id.get(r.id)) is not None and lab.accepted}
    out: list[Example] = []
    for r in pool:
        lab = by_id.get(r.id)
        if lab is not None:
            out.append(Example(r, 1 if lab.accepted else 0, 1.0))
        elif r.day in accept_days:
            out.append(Example(r, 0, weak_weight))
    return out


def _before(day: date | None, limit: date) -> bool:
    return day is not None and day < limit


# --- measures ---------------------------------------------------------------------------------


def average_precision(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Average precision of a ranking (ties broken by input order), 0 when no positive."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    hits, total, positives = 0, 0.0, sum(labels)
    for rank, i in enumerate(order, 1):
        if labels[i]:
            hits += 1
            total += hits / rank
    return total / positives if positives else 0.0


def daily_ranks(days: Sequence[date | None], scores: Sequence[float]) -> list[int]:
    """Each item's 1-based rank among the items of its own day, best first."""
    groups: dict[date | None, list[int]] = {}
    for i, d in enumerate(days):
        groups.setdefault(d, []).append(i)
    ranks = [0] * len(scores)
    for members in groups.values():
        for rank, i in enumerate(sorted(members, key=lambda i: -scores[i]), 1):
            ranks[i] = rank
    return ranks


def pick_suggestions(
    records: Sequence[Record], scores: Sequence[float], policy: Any, already: int = 0
) -> set[str]:
    """Ids of the unmatched records worth suggesting: at least `suggest_at`, best first, at
    most `max_suggestions_per_day` minus the `already` suggested that day."""
    if policy.suggest_at is None:
        return set()
    room = max(0, policy.max_suggestions_per_day - already)
    pool = [(s, r.id) for r, s in zip(records, scores, strict=True) if not r.matched]
    pool = [item for item in pool if item[0] >= policy.suggest_at]
    pool.sort(key=lambda item: (-item[0], item[1]))
    return {pid for _, pid in pool[:room]}


fit_label = fit_line  # what a post shows: "fits 0.86 · 2nd of 31 today" (bot/display.py)
