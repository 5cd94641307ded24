"""Matcher throughput against the old substring matcher, on a synthetic arXiv-like corpus.

Run by hand:  .venv/bin/python -m bench.matcher [--papers N] [--seed S]

The corpus is deterministic (seeded): titles of ~10 words, line-wrapped abstracts of
150-250 words drawn from a filler vocabulary, the routes' terms (capitalised, plural,
in parentheses, phrases broken across lines) and "trap" words that contain a term inside
them ("average", "storage", "leverage", "coefficient", "knowledge", ...). There are 20
routes of 10 accept terms each; every route watches every category of the corpus, so
both matchers do the same work on every (route, paper).
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from itertools import accumulate
from typing import TypeVar

from bot.matching import Matcher
from bot.models import Match, Paper, Route

T = TypeVar("T")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


CATEGORIES = ("cs.CL", "cs.LG", "cs.AI", "cs.CV", "cs.IR", "cs.RO", "cs.SE", "stat.ML")

ROUTE_TERMS: dict[str, tuple[str, ...]] = {
    "llm": ("llm", "large language model", "language model", "instruction tuning", "rlhf",
            "prompt*", "in-context learning", "chain of thought", "hallucination", "alignment"),
    "rag": ("rag", "retrieval augmented generation", "retrieval", "dense retrieval", "reranking",
            "vector database", "knowledge graph", "question answering", "open-domain", "citation"),
    "decoding": ("decod*", "speculative decoding", "beam search", "sampling", "inference",
                 "latency", "kv cache", "quantization", "throughput", "serving"),
    "vision": ("vision transformer", "image classification", "object detection", "segmentation",
               "diffusion model", "image generation", "clip", "multimodal",
               "visual question answering", "video"),
    "speech": ("speech recognition", "asr", "text-to-speech", "speaker", "audio", "acoustic model",
               "wav2vec", "spoken language", "prosody", "voice"),
    "rl": ("reinforcement learning", "policy gradient", "reward model", "offline rl", "bandit",
           "q-learning", "exploration", "markov decision process", "actor-critic", "ppo"),
    "graphs": ("graph neural network", "gnn", "message passing", "node classification",
               "link prediction", "graph transformer", "molecular graph", "knowledge graph",
               "heterogeneous graph", "graph"),
    "robotics": ("robot", "manipulation", "navigation", "embodied agent", "locomotion",
                 "sim-to-real", "grasp*", "motion planning", "slam", "autonomous driving"),
    "efficiency": ("pruning", "distillation", "quantization", "low-rank", "lora", "sparsity",
                   "mixture of experts", "efficient", "compression", "edge device"),
    "safety": ("jailbreak", "red teaming", "adversarial attack", "robustness", "backdoor",
               "watermark*", "privacy", "differential privacy", "toxicity", "safety"),
    "fairness": ("fairness", "bias", "debiasing", "demographic", "gender", "ethical",
                 "explainability", "interpretability", "shap", "counterfactual"),
    "theory": ("generalization bound", "pac-bayes", "sample complexity", "convergence", "kernel",
               "neural tangent kernel", "overparameterization", "optimization", "sgd", "regret"),
    "nlp": ("machine translation", "summarization", "named entity recognition", "parsing",
            "sentiment analysis", "text classification", "tokeniz*", "morphology", "low-resource",
            "multilingual"),
    "code": ("code generation", "program synthesis", "code llm", "software engineering", "bug",
             "unit test", "compiler", "static analysis", "agent", "repository"),
    "agents": ("agent", "tool use", "planning", "multi-agent", "web agent", "autonomous agent",
               "react", "function calling", "memory", "self-reflection"),
    "medical": ("medical", "clinical", "radiology", "ehr", "drug discovery", "protein",
                "genomics", "patient", "diagnosis", "biomedical"),
    "math": ("math", "theorem proving", "mathematical reasoning", "reasoning",
             "formal verification", "lean", "symbolic", "arithmetic", "proof", "olympiad"),
    "time-series": ("time series", "forecasting", "anomaly detection", "temporal",
                    "sequence model", "state space model", "mamba", "recurrent", "lstm",
                    "transformer"),
    "federated": ("federated learning", "distributed training", "communication", "client",
                  "heterogeneity", "personalization", "gradient compression", "byzantine",
                  "decentralized", "edge"),
    "evaluation": ("benchmark", "evaluation", "leaderboard", "dataset", "annotation",
                   "human evaluation", "metric", "llm-as-a-judge", "reproducibility", "survey"),
}  # fmt: skip

# Words that contain a term inside them: the substring matcher's false positives.
TRAPS = (
    "average", "storage", "leverage", "leveraging", "ragged", "fragment", "paragraph",
    "mathematics", "debugging", "clean", "knowledge", "acknowledge", "reaction", "agentic",
    "reagent", "clipping", "exploration", "support", "opposite", "suppose", "shape", "gender",
    "engender", "invoice", "paragraphs", "graphics", "impatient", "geometric", "asymmetric",
    "preserving", "observing", "coefficient", "hedge", "spatiotemporal", "neurosymbolic",
    "subsampling", "robotics", "decoder", "decoders", "decoding", "prompting", "tokenizer",
    "watermarking", "grasping", "sleek", "islam", "bugs", "biased", "kernels", "transformers",
)  # fmt: skip

FILLER = _words("""
we the of and a to in is for that on with this by as are our an be from which it at can
propose show results method methods approach model models data learning based using paper
performance task tasks training new two also these their however both such than more while
study work framework problem proposed existing experiments demonstrate significant improve
improves improvement state art different use used achieve achieves set large small high low
via across each between into over under through within without among most other several
first second novel simple effective strong robust general specific recent prior previous
analysis experimental empirical theoretical results suggest find found observe evidence
network networks neural deep layer layers representation representations feature features
function functions loss objective parameter parameters accuracy error errors rate rates
number size scale scaling time space cost costs efficient efficiency computation memory
input output inputs outputs sequence sequences token tokens word words text texts document
label labels class classes domain domains target source setting settings real world
application applications system systems design designed architecture architectures module
information structure structures process processes step steps stage stages level levels
standard baseline baselines compared comparison outperform outperforms competitive gains
fine tuning pretrained pre trained large scale open source available code released publicly
challenge challenges limitation limitations issue issues question questions answer answers
human humans user users expert experts quality diverse diversity generalize generalization
""")

FIRST = _words("Ana Bo Chen Dmitri Eva Farid Grace Hiro Ines Jonas Kai Lena Maria Nils Omar Priya")
LAST = _words("Smith Garcia Wang Kim Müller Rossi Nakamura Silva Okafor Novak Haddad Larsen Zhou")

_BOUNDARY_HIT = r"(?<![^\W_]){}(?![^\W_])"  # not preceded/followed by a letter or digit


def _routes() -> list[Route]:
    return [Route(name, CATEGORIES, accept=terms) for name, terms in ROUTE_TERMS.items()]


def corpus(count: int, seed: int, term_rate: float = 0.005, trap_rate: float = 0.02) -> list[Paper]:
    """`count` deterministic papers; a word is a term with `term_rate`, a trap with `trap_rate`."""
    rng = random.Random(seed)
    terms = sorted({t.rstrip("*") for terms in ROUTE_TERMS.values() for t in terms})
    cum_weights = list(accumulate(1 / (rank + 1) for rank in range(len(FILLER))))  # Zipf-like

    def word() -> str:
        roll = rng.random()
        if roll < term_rate:  # a term, in one of the forms papers write it
            term = rng.choice(terms)
            form = rng.random()
            if form < 0.2:
                term = term.upper() if " " not in term else term.title()
            elif form < 0.4:
                term += "s"
            elif form < 0.5:
                term = f"({term.upper()})"
            elif form < 0.6:
                term = term.replace(" ", "\n", 1)  # a line break inside a phrase
            return term
        if roll < term_rate + trap_rate:
            return rng.choice(TRAPS)
        return rng.choices(FILLER, cum_weights=cum_weights)[0]

    def sentence(length: int) -> str:
        words = [word() for _ in range(length)]
        words[0] = words[0][:1].upper() + words[0][1:]
        return " ".join(words) + rng.choice(".....;:")

    def wrap(text: str, width: int) -> str:
        lines: list[str] = []
        line = ""
        for piece in text.split(" "):
            if line and len(line) + 1 + len(piece) > width:
                lines.append(line)
                line = piece
            else:
                line = f"{line} {piece}" if line else piece
        return "\n".join([*lines, line])

    papers = []
    for number in range(count):
        title = " ".join(word().title() for _ in range(rng.randint(7, 13)))
        target = rng.randint(150, 250)
        sentences = []
        while target > 0:
            length = min(target, rng.randint(10, 28))
            sentences.append(sentence(length))
            target -= length
        cats = tuple(rng.sample(CATEGORIES, rng.randint(1, 3)))
        papers.append(
            Paper(
                id=f"2601.{number:05d}",
                title=wrap(title, 70).replace("\n", "\n  "),  # as the arXiv API wraps titles
                abstract=wrap(" ".join(sentences), 80),
                authors=tuple(
                    f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(rng.randint(2, 8))
                ),
                categories=cats,
                primary_category=cats[0],
            )
        )
    return papers


def baseline(routes: Sequence[Route], papers: Sequence[Paper]) -> list[tuple[int, str, str]]:
    """The old script: every keyword as a substring of the lowercased title + abstract."""
    hits = []
    for route in routes:
        keywords = [term.lower().rstrip("*") for term in route.accept]
        for number, paper in enumerate(papers):
            text = (paper.title + " " + paper.abstract).lower()
            for keyword in keywords:
                if keyword in text:
                    hits.append((number, route.name, keyword))
    return hits


def _timed(label: str, count: int, run: Callable[[], T]) -> tuple[float, T]:
    """Run once with the garbage collector off (as timeit does); print wall and CPU rates."""
    gc.disable()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        gc.enable()
    print(
        f"{label:<40} {wall:7.2f} s {count / wall:>9,.0f} papers/s"
        f"   (CPU {cpu:6.2f} s {count / cpu:>9,.0f} papers/s)"
    )
    return cpu, result


def _tokenise(papers: Sequence[Paper]) -> int:
    return sum(len(re.findall(r"\w+", (p.title + " " + p.abstract).lower())) for p in papers)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.matcher", description=__doc__)
    parser.add_argument("--papers", type=int, default=100_000, help="corpus size (100000)")
    parser.add_argument("--seed", type=int, default=2026, help="corpus seed (2026)")
    parser.add_argument(
        "--term-rate", type=float, default=0.005, help="share of words that are terms (0.005)"
    )
    parser.add_argument(
        "--trap-rate", type=float, default=0.02, help="share of words that are traps (0.02)"
    )
    args = parser.parse_args(argv)

    routes = _routes()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}")
    start = time.perf_counter()
    papers = corpus(args.papers, args.seed, args.term_rate, args.trap_rate)
    gc.collect()
    gc.freeze()  # the corpus is permanent: keep the collector from rescanning it
    chars = sum(len(p.title) + len(p.abstract) for p in papers) / len(papers)
    print(
        f"corpus: {len(papers):,} papers, {chars:,.0f} chars of title+abstract on average "
        f"(built in {time.perf_counter() - start:.1f} s); {len(routes)} routes, "
        f"{sum(len(r.accept) for r in routes)} accept terms "
        f"({len({t for r in routes for t in r.accept})} distinct)"
    )

    compile_start = time.perf_counter()
    matcher = Matcher(routes)
    print(f"Matcher(routes) compiled in {(time.perf_counter() - compile_start) * 1000:.1f} ms")
    count = len(papers)
    base_cpu, base = _timed("baseline (substring)", count, lambda: baseline(routes, papers))
    ours_cpu, ours = _timed("Matcher.match_many", count, lambda: matcher.match_many(papers))
    absent = Matcher([replace(r, accept=tuple(map(_absent, r.accept))) for r in routes])
    _timed("  same, terms that never occur (floor)", count, lambda: absent.match_many(papers))
    _timed("  (tokenising alone: re.findall \\w+)", count, lambda: _tokenise(papers))
    print(f"speed-up (CPU time): {base_cpu / ours_cpu:.1f}x")
    print(f"matches: {len(ours) / count:.2f} (paper, route) per paper")

    _report_differences(papers, base, ours)
    sample = papers[:: max(1, len(papers) // 2000)]
    same = matcher.match_many(sample) == [m for p in sample for m in matcher.match(p)]
    print(f"match_many == per-paper match on {len(sample):,} papers: {same}")


def _absent(term: str) -> str:
    """A term of the same shape that the corpus never contains."""
    return " ".join("qx" + word for word in term.split())


def _report_differences(
    papers: Sequence[Paper], base: list[tuple[int, str, str]], ours: list[Match]
) -> None:
    """Count in-word matches: the baseline's that we did not make, and any of ours (must be 0)."""
    index = {paper.id: number for number, paper in enumerate(papers)}
    ours_keys = {(index[m.paper_id], m.route, r.term.rstrip("*")) for m in ours for r in m.reasons}
    base_keys = set(base)
    only_base = base_keys - ours_keys
    in_word = other = across = 0
    for number, _route, keyword in only_base:
        paper = papers[number]
        pattern = _BOUNDARY_HIT.format(re.escape(keyword) + r"(?:e?s)?")
        fields = (" ".join(paper.title.split()), " ".join(paper.abstract.split()))
        if any(re.search(pattern, field, re.IGNORECASE) for field in fields):
            other += 1  # a whole-word occurrence that ours missed: should never happen
        elif re.search(pattern, f"{fields[0]} {fields[1]}", re.IGNORECASE):
            across += 1  # a phrase from the end of the title into the abstract
        else:
            in_word += 1
    ours_in_word = 0
    for match in ours:
        paper = papers[index[match.paper_id]]
        for reason in match.reasons:
            text = {"title": paper.title, "abstract": paper.abstract}[reason.field]
            folded = " ".join(text.split())
            pattern = _BOUNDARY_HIT.format(re.escape(reason.text))
            if not re.search(pattern, folded, re.IGNORECASE):
                ours_in_word += 1
    print(f"(paper, route, term) hits: baseline {len(base_keys):,}, ours {len(ours_keys):,}")
    print(f"baseline in-word (false) matches that ours did not make: {in_word:,}")
    print(f"baseline phrases running from the title into the abstract: {across:,}")
    print(f"baseline whole-word matches ours missed: {other:,}")
    print(f"ours not in baseline (e.g. phrases across line breaks): {len(ours_keys - base_keys):,}")
    print(f"ours in-word matches: {ours_in_word:,}")


if __name__ == "__main__":
    main()
