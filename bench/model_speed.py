"""Training on 100,000 decided papers, scoring a 2000-paper listing, and peak memory.

Baseline in the same run: scikit-learn's TfidfVectorizer (words and phrases) + the same
logistic regression, fitted once on the same papers (no calibration folds)."""

from __future__ import annotations

import argparse
import itertools
import random
import resource
import time
from datetime import date, timedelta

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bot.taste import Example, Record, TasteModel, TasteParams, train

TOPIC = ["llm", "serving", "kv", "cache", "prefill", "decode", "speculative", "batching", "gpu"]


def corpus(n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(20_000)]
    cum = list(itertools.accumulate(1 / (i + 1) for i in range(len(vocab))))  # Zipf
    out = []
    for i in range(n):
        liked = rng.random() < 0.2
        words = rng.choices(vocab, cum_weights=cum, k=140)
        if liked:
            words += rng.choices(TOPIC, k=12)
        title = " ".join(words[:10])
        rec = Record(
            id=f"p{i}",
            title=title,
            abstract=" ".join(words[10:]),
            categories=("cs.DC",),
            authors=(f"author {rng.randrange(5000)}",),
            day=date(2024, 1, 1) + timedelta(days=i // 60),
            rule_terms=("llm",) if "llm" in words else (),
        )
        out.append(Example(rec, int(liked), 1.0 if rng.random() < 0.3 else 0.5))
    return out


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=100_000)
    ap.add_argument("--listing", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    examples = corpus(args.papers, args.seed)
    listing = [e.record for e in corpus(args.listing, args.seed + 1)]
    before = peak_mb()
    print(f"corpus built: {args.papers} papers, peak RSS {before:.0f} MB")

    t0, c0 = time.perf_counter(), time.process_time()
    model, report = train("bench", examples, TasteParams())
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    after_train = peak_mb()
    t0 = time.perf_counter()
    scores = model.score(listing)
    score_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.explain(listing[0])
    explain_wall = time.perf_counter() - t0
    assert len(scores) == len(listing)

    texts = [f"{e.record.title} . {e.record.abstract}" for e in examples]
    labels = [e.label for e in examples]
    t0, c0 = time.perf_counter(), time.process_time()
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    clf = LogisticRegression(C=1.0, solver="liblinear", dual=True).fit(
        vec.fit_transform(texts), labels
    )
    base_wall, base_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    clf.decision_function(vec.transform([f"{r.title} . {r.abstract}" for r in listing]))
    base_score = time.perf_counter() - t0

    print(
        f"ours:     train {train_wall:6.1f} s wall ({train_cpu:6.1f} s CPU, 3 fits)"
        f"  score {args.listing}: {score_wall * 1000:6.0f} ms  why: {explain_wall * 1000:.0f} ms"
    )
    print(
        f"baseline: train {base_wall:6.1f} s wall ({base_cpu:6.1f} s CPU, 1 fit) "
        f"  score {args.listing}: {base_score * 1000:6.0f} ms"
    )
    print(
        f"ratio (baseline / ours, CPU): training {base_cpu / train_cpu:.2f}x,"
        f" scoring {base_score / score_wall:.2f}x"
    )
    print(
        f"peak RSS: {before:.0f} MB with the corpus, {after_train:.0f} MB after our training"
        f" (+{after_train - before:.0f} MB); {report.features} features kept"
    )
    assert isinstance(model, TasteModel)


if __name__ == "__main__":
    main()
