"""Offline evaluation of the learnt tagger on the team's own tags, split by time.

Trains on the tagged entries of the 2026-03-30 list dated up to 2026-02-28 and predicts the
later ones; abstracts come from the candidate pool where it has the paper. Nothing here is
tuned on the test months: `--validate` reruns the same split one step earlier (train up to
2025-12-31, test January and February 2026), the only place settings may be compared.

    .venv/bin/python -m bench.tagger_eval [--fixtures ../shared/fixtures] [--validate]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from bot.models import Paper, TagSpec
from bot.paperlist import parse
from bot.tagging import MAX_TAGS, LearntTagger, TermTagger, clean_tags

ROOT = Path(__file__).resolve().parents[1]
LIST = "lists/daily-arxiv-llm.2026-03-30.md"
POOL = "pool/cs-dc-os-candidates.to-2026-03-30.jsonl"

Example = tuple[Paper, tuple[str, ...], date]


def load(fixtures: Path, with_abstracts: bool = True) -> tuple[list[TagSpec], list[Example]]:
    text = (fixtures / LIST).read_text(encoding="utf-8")
    header = re.search(r"\*\*🔖TAGS\*\*:(.*)", text)
    assert header, "the list's header names no tag vocabulary"
    vocabulary = [TagSpec(name) for name in re.findall(r"`([^`]+)`", header.group(1))]
    abstracts: dict[str, str] = {}
    if with_abstracts:
        for line in (fixtures / POOL).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            abstracts[row["id"]] = row.get("abstract") or ""
    examples: list[Example] = []
    seen: set[str] = set()
    for entry in parse(text).entries:
        tags = clean_tags(vocabulary, entry.tags)
        if not tags or entry.id in seen:  # a paper listed twice counts once (its newest entry)
            continue
        seen.add(entry.id)
        # Undated sections ("### 2025-10-01 ~ 2025-10-07") are dated by the id's month.
        when = entry.date or date(2000 + int(entry.id[:2]), int(entry.id[2:4]), 1)
        paper = Paper(entry.id, entry.title, abstract=abstracts.get(entry.id, ""))
        examples.append((paper, tags, when))
    return vocabulary, examples


def scores(truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, object]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for want, got in zip(truth, predicted, strict=True):
        for tag in set(got) | set(want):
            if tag in got and tag in want:
                tp[tag] += 1
            elif tag in got:
                fp[tag] += 1
            else:
                fn[tag] += 1
    t, f_p, f_n = sum(tp.values()), sum(fp.values()), sum(fn.values())
    precision = t / (t + f_p) if t + f_p else 0.0
    recall = t / (t + f_n) if t + f_n else 0.0
    micro = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    per_tag = {
        tag: (
            tp[tag] / (tp[tag] + fp[tag]) if tp[tag] + fp[tag] else None,
            tp[tag] / (tp[tag] + fn[tag]) if tp[tag] + fn[tag] else None,
            tp[tag] + fn[tag],
        )
        for tag in sorted(set(tp) | set(fp) | set(fn))
    }
    return {"micro_f1": micro, "precision": precision, "recall": recall, "per_tag": per_tag}


def evaluate(vocabulary: list[TagSpec], examples: list[Example], cutoff: date, end: date) -> None:
    train = [(p, t) for p, t, d in examples if d <= cutoff]
    test = [(p, t) for p, t, d in examples if cutoff < d <= end]
    truth = [t for _, t in test]
    print(f"train: {len(train)} papers up to {cutoff}; test: {len(test)} papers to {end}")
    with_abs = sum(bool(p.abstract) for p, _ in train + test)
    print(f"abstracts known for {with_abs} of {len(train) + len(test)}")

    top = Counter(t for _, tags in train for t in tags).most_common(1)[0][0]
    names = TermTagger([TagSpec(s.name, terms=(s.name,)) for s in vocabulary])
    runs: dict[str, list[list[str]]] = {
        f"baseline: most frequent tag ({top})": [[top] for _ in test],
        "baseline: tag names as terms": [names.tags(p)[:MAX_TAGS] for p, _ in test],
    }
    for label, strip in (("learnt, title only", True), ("learnt, title + abstract", False)):
        started = time.perf_counter()
        model = LearntTagger(
            [(Paper(p.id, p.title) if strip else p, t) for p, t in train],
            [s.name for s in vocabulary],
        )
        papers = [Paper(p.id, p.title) if strip else p for p, _ in test]
        runs[label] = model.predict(papers)
        print(f"{label}: trained and predicted in {time.perf_counter() - started:.2f} s")

    print("\n| tagger | micro-F1 | precision | recall |")
    print("|---|---:|---:|---:|")
    results = {label: scores(truth, predicted) for label, predicted in runs.items()}
    for label, result in results.items():
        print(
            f"| {label} | {result['micro_f1']:.3f} | {result['precision']:.3f} |"
            f" {result['recall']:.3f} |"
        )
    best = results["learnt, title + abstract"]["per_tag"]
    assert isinstance(best, dict)
    print("\nlearnt, title + abstract, per tag:\n\n| tag | test papers | precision | recall |")
    print("|---|---:|---:|---:|")
    for tag, (precision, recall, support) in sorted(best.items(), key=lambda kv: -kv[1][2]):
        p = "-" if precision is None else f"{precision:.2f}"
        r = "-" if recall is None else f"{recall:.2f}"
        print(f"| {tag} | {support} | {p} | {r} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument("--validate", action="store_true", help="the earlier split only")
    args = parser.parse_args()
    vocabulary, examples = load(args.fixtures)
    if args.validate:
        evaluate(vocabulary, examples, date(2025, 12, 31), date(2026, 2, 28))
    else:
        evaluate(vocabulary, examples, date(2026, 2, 28), date(2026, 12, 31))


if __name__ == "__main__":
    main()
